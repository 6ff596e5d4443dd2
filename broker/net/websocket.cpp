#include "broker/net/websocket.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace fieldgate::net::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value holds token (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool valid_key(std::string_view key) {
  // base64 of 16 bytes: 22 characters and "=="
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

Upgrade refuse(int status, std::string_view title, std::string reason,
               std::string_view extra_headers = {}) {
  Upgrade u;
  u.status = Upgrade::Status::Refused;
  std::string body = "This is an MQTT over WebSocket endpoint: " + reason + "\n";
  u.response = "HTTP/1.1 " + std::to_string(status) + " " + std::string(title) +
               "\r\nConnection: close\r\nContent-Type: text/plain\r\n" +
               std::string(extra_headers) + "Content-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
  u.reason = std::move(reason);
  return u;
}

uint16_t read_be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

}  // namespace

std::string accept_key(std::string_view key) {
  std::string input(key);
  input += kGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_Digest(input.data(), input.size(), digest, &digest_size, EVP_sha1(), nullptr);
  unsigned char encoded[64];
  int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_size));
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(n));
}

Upgrade parse_upgrade(std::string_view data) {
  size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > kMaxRequestSize) {
      return refuse(431, "Request Header Fields Too Large",
                    "request larger than " + std::to_string(kMaxRequestSize) + " bytes");
    }
    return Upgrade{};
  }
  if (end + 4 > kMaxRequestSize) {
    return refuse(431, "Request Header Fields Too Large",
                  "request larger than " + std::to_string(kMaxRequestSize) + " bytes");
  }
  std::string_view head = data.substr(0, end + 2);  // every line ends with CRLF
  size_t eol = head.find("\r\n");
  std::string_view request_line = head.substr(0, eol);
  head.remove_prefix(eol + 2);

  // GET <any path> HTTP/1.1
  size_t sp1 = request_line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return refuse(400, "Bad Request", "malformed request line");
  }
  std::string_view method = request_line.substr(0, sp1);
  std::string_view version = request_line.substr(sp2 + 1);
  if (method != "GET") {
    return refuse(405, "Method Not Allowed",
                  "method " + std::string(method) + " (a WebSocket handshake is a GET)",
                  "Allow: GET\r\n");
  }
  if (version != "HTTP/1.1") {
    return refuse(400, "Bad Request", "version " + std::string(version) + " (needs HTTP/1.1)");
  }

  std::string_view upgrade, key, ws_version;
  std::string connection, protocols;
  while (!head.empty()) {
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' ||
        line.front() == '\t') {
      return refuse(400, "Bad Request", "malformed header line");
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Upgrade")) {
      upgrade = value;
    } else if (iequals(name, "Connection")) {
      connection += std::string(value) + ",";
    } else if (iequals(name, "Sec-WebSocket-Key")) {
      key = value;
    } else if (iequals(name, "Sec-WebSocket-Version")) {
      ws_version = value;
    } else if (iequals(name, "Sec-WebSocket-Protocol")) {
      protocols += std::string(value) + ",";
    }
  }
  if (!has_token(upgrade, "websocket")) {
    return refuse(400, "Bad Request", "no \"Upgrade: websocket\" header");
  }
  if (!has_token(connection, "upgrade")) {
    return refuse(400, "Bad Request", "no \"Connection: Upgrade\" header");
  }
  if (ws_version != "13") {
    return refuse(426, "Upgrade Required",
                  "WebSocket version " + std::string(ws_version.empty() ? "(none)" : ws_version) +
                      " (fieldgate speaks 13)",
                  "Sec-WebSocket-Version: 13\r\n");
  }
  if (!valid_key(key)) {
    return refuse(400, "Bad Request", "missing or invalid Sec-WebSocket-Key");
  }
  Upgrade u;
  if (has_token(protocols, "mqtt")) {
    u.protocol = "mqtt";
  } else if (has_token(protocols, "mqttv3.1")) {
    u.protocol = "mqttv3.1";
  } else if (!protocols.empty()) {
    return refuse(400, "Bad Request",
                  "subprotocols " + protocols.substr(0, protocols.size() - 1) +
                      " offered; fieldgate speaks \"mqtt\"");
  }
  u.status = Upgrade::Status::Accepted;
  u.consumed = end + 4;
  u.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept_key(key) + "\r\n";
  if (!u.protocol.empty()) u.response += "Sec-WebSocket-Protocol: " + u.protocol + "\r\n";
  u.response += "\r\n";
  return u;
}

// --- frames ---

void append_frame_header(std::string& out, Opcode opcode, uint64_t length) {
  char header[10];
  size_t n = 0;
  header[n++] = static_cast<char>(0x80 | static_cast<uint8_t>(opcode));
  if (length < 126) {
    header[n++] = static_cast<char>(length);
  } else if (length <= 0xFFFF) {
    header[n++] = 126;
    header[n++] = static_cast<char>(length >> 8);
    header[n++] = static_cast<char>(length);
  } else {
    header[n++] = 127;
    for (int shift = 56; shift >= 0; shift -= 8)
      header[n++] = static_cast<char>(length >> shift);
  }
  out.append(header, n);
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload) {
  append_frame_header(out, opcode, payload.size());
  out.append(payload);
}

void append_close(std::string& out, uint16_t code, std::string_view reason) {
  char payload[125];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code);
  size_t n = std::min(reason.size(), sizeof payload - 2);
  if (n > 0) std::memcpy(payload + 2, reason.data(), n);  // an empty view may hold null
  append_frame(out, Opcode::Close, std::string_view(payload, n + 2));
}

void apply_mask(char* data, size_t size, const uint8_t mask[4], uint64_t offset) {
  uint8_t m[4];
  for (size_t i = 0; i < 4; ++i)
    m[i] = mask[(offset + i) & 3];
  size_t i = 0;
  // Eight bytes at a time: the rotated mask repeats every four.
  uint64_t wide;
  uint8_t m8[8] = {m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]};
  std::memcpy(&wide, m8, 8);
  for (; i + 8 <= size; i += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, data + i, 8);
    chunk ^= wide;
    std::memcpy(data + i, &chunk, 8);
  }
  for (; i < size; ++i)
    data[i] = static_cast<char>(data[i] ^ m[i & 3]);
}

Decoder::Status Decoder::fail(std::string& reply, uint16_t code, std::string reason) {
  done_ = true;
  append_close(reply, code, reason);
  reason_ = std::move(reason);
  return Status::Error;
}

// Called once the header is complete.
Decoder::Status Decoder::check_header(std::string& reply) {
  bool masked = header_[1] & 0x80;
  if (!masked) return fail(reply, close_code::kProtocolError, "client frame not masked");
  uint8_t len7 = header_[1] & 0x7F;
  if (len7 == 126) {
    length_ = read_be16(header_ + 2);
  } else if (len7 == 127) {
    length_ = 0;
    for (int i = 0; i < 8; ++i)
      length_ = (length_ << 8) | header_[2 + i];
    if (length_ >> 63) return fail(reply, close_code::kProtocolError, "frame length over 2^63");
  } else {
    length_ = len7;
  }
  std::memcpy(mask_, header_ + header_size_ - 4, 4);
  if (length_ > max_frame_size_) {
    return fail(reply, close_code::kTooBig,
                "frame of " + std::to_string(length_) + " bytes, more than " +
                    std::to_string(max_frame_size_));
  }
  received_ = 0;
  in_payload_ = true;
  control_.clear();
  return Status::Ok;
}

Decoder::Status Decoder::end_of_frame(std::string& reply) {
  in_payload_ = false;
  header_size_ = 0;
  switch (opcode_) {
    case Opcode::Continuation:
    case Opcode::Binary:
    case Opcode::Text:
      in_message_ = !fin_;
      return Status::Ok;
    case Opcode::Ping:
      append_frame(reply, Opcode::Pong, control_);
      return Status::Ok;
    case Opcode::Pong:
      return Status::Ok;
    case Opcode::Close:
      done_ = true;
      if (control_.size() == 1) {
        return fail(reply, close_code::kProtocolError, "close frame with a 1-byte payload");
      }
      if (control_.empty()) {
        append_frame(reply, Opcode::Close, {});
      } else {
        // Echo the status code, as the RFC suggests.
        append_frame(reply, Opcode::Close, std::string_view(control_).substr(0, 2));
      }
      reason_ = "close frame from the client";
      return Status::Closed;
  }
  return Status::Ok;
}

Decoder::Status Decoder::feed(std::string_view in, std::string& data, std::string& reply) {
  while (!in.empty() && !done_) {
    if (!in_payload_) {
      // Collect the header: 2 bytes, then the extended length and the mask.
      header_[header_size_++] = static_cast<uint8_t>(in.front());
      in.remove_prefix(1);
      if (header_size_ == 2) {
        uint8_t b0 = header_[0];
        fin_ = b0 & 0x80;
        if (b0 & 0x70) return fail(reply, close_code::kProtocolError, "reserved bits set");
        uint8_t op = b0 & 0x0F;
        switch (op) {
          case 0x0:
            if (!in_message_) {
              return fail(reply, close_code::kProtocolError,
                          "continuation frame outside a fragmented message");
            }
            break;
          case 0x1:
            return fail(reply, close_code::kUnsupportedData,
                        "text frame (MQTT over WebSocket uses binary frames)");
          case 0x2:
            if (in_message_) {
              return fail(reply, close_code::kProtocolError,
                          "new data frame inside a fragmented message");
            }
            break;
          case 0x8:
          case 0x9:
          case 0xA:
            if (!fin_) return fail(reply, close_code::kProtocolError, "fragmented control frame");
            if ((header_[1] & 0x7F) > 125) {
              return fail(reply, close_code::kProtocolError, "control frame over 125 bytes");
            }
            break;
          default:
            return fail(reply, close_code::kProtocolError, "unknown opcode " + std::to_string(op));
        }
        opcode_ = static_cast<Opcode>(op);
      }
      if (header_size_ < 2) continue;
      uint8_t len7 = header_[1] & 0x7F;
      size_t needed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
      if (header_size_ < needed) continue;
      if (Status s = check_header(reply); s != Status::Ok) return s;
      if (length_ == 0) {
        if (Status s = end_of_frame(reply); s != Status::Ok) return s;
      }
      continue;
    }
    // Payload: unmask straight into its destination.
    size_t n = static_cast<size_t>(std::min<uint64_t>(in.size(), length_ - received_));
    std::string& to = (static_cast<uint8_t>(opcode_) & 0x08) ? control_ : data;
    size_t at = to.size();
    to.append(in.data(), n);
    apply_mask(to.data() + at, n, mask_, received_);
    received_ += n;
    in.remove_prefix(n);
    if (received_ == length_) {
      if (Status s = end_of_frame(reply); s != Status::Ok) return s;
    }
  }
  return done_ ? Status::Error : Status::Ok;
}

}  // namespace fieldgate::net::ws
