// The server side of WebSocket (RFC 6455) as MQTT uses it: the HTTP/1.1 Upgrade handshake, a
// streaming frame decoder and unmasked frame encoding. Pure functions and state on bytes, no
// I/O: the broker's loop feeds them what it reads and writes what they produce.
//
// MQTT over WebSocket carries MQTT bytes in binary frames; a frame may hold part of a packet or
// several packets, and the decoder passes the bytes on in order without caring where packets
// begin. Any HTTP path is accepted; the subprotocol "mqtt" (or the older "mqttv3.1") is echoed
// when the client offers it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fieldgate::net::ws {

// A request larger than this without its blank line is refused.
constexpr size_t kMaxRequestSize = 8192;

struct Upgrade {
  enum class Status { Incomplete, Accepted, Refused };
  Status status = Status::Incomplete;
  size_t consumed = 0;   // Accepted: the request's length; what follows it is frames already
  std::string response;  // Accepted: "101 Switching Protocols"; Refused: a 4xx answer
  std::string reason;    // Refused: why, for the log
  std::string protocol;  // Accepted: the subprotocol echoed, or empty
};

// Parses the opening handshake from the start of data (what the client sent so far).
Upgrade parse_upgrade(std::string_view data);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
std::string accept_key(std::string_view key);

enum class Opcode : uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA
};

// Close status codes (RFC 6455 7.4.1).
namespace close_code {
constexpr uint16_t kNormal = 1000;
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kUnsupportedData = 1003;
constexpr uint16_t kTooBig = 1009;
}  // namespace close_code

// Appends the header of one unmasked, final frame (server to client) of `length` bytes.
void append_frame_header(std::string& out, Opcode opcode, uint64_t length);
// Appends one unmasked, final frame.
void append_frame(std::string& out, Opcode opcode, std::string_view payload);
// Appends a close frame with a status code and a short reason (cut to fit 125 bytes).
void append_close(std::string& out, uint16_t code, std::string_view reason = {});
// Masks (or unmasks) data in place; `offset` is the position of data[0] in the frame payload.
void apply_mask(char* data, size_t size, const uint8_t mask[4], uint64_t offset);

// Decodes the frames a client sends, across calls, whatever the split. Enforces the RFC:
// client frames must be masked, reserved bits clear, control frames final and at most 125
// bytes, continuations only inside a fragmented message; text frames are refused (MQTT is
// binary) and so is a frame longer than max_frame_size.
class Decoder {
 public:
  enum class Status {
    Ok,      // everything given was consumed
    Closed,  // the client sent a close frame: reply holds the answer; stop reading
    Error    // a protocol violation: reply holds the close frame to send; reason() says why
  };

  explicit Decoder(uint64_t max_frame_size) : max_frame_size_(max_frame_size) {}

  // Appends the payload of binary and continuation frames to data and the answers to control
  // frames (pong, close) to reply. After Closed or Error, further input is ignored.
  Status feed(std::string_view in, std::string& data, std::string& reply);
  const std::string& reason() const { return reason_; }

 private:
  Status fail(std::string& reply, uint16_t code, std::string reason);
  Status end_of_frame(std::string& reply);
  Status check_header(std::string& reply);

  uint64_t max_frame_size_;
  uint8_t header_[14];
  size_t header_size_ = 0;  // bytes of header_ filled
  bool in_payload_ = false;
  Opcode opcode_ = Opcode::Continuation;
  bool fin_ = false;
  uint8_t mask_[4] = {0, 0, 0, 0};
  uint64_t length_ = 0;      // of the current frame's payload
  uint64_t received_ = 0;    // of it so far
  bool in_message_ = false;  // a fragmented data message awaits continuations
  bool done_ = false;        // Closed or Error returned
  std::string control_;      // a control frame's payload, collected
  std::string reason_;
};

}  // namespace fieldgate::net::ws
