// Tests of the WebSocket codec (broker/net/websocket.h): the opening handshake, frame decoding
// across any split, masking, fragmentation, control frames and every malformed case, plus a
// randomized run (random frames, random splits) and random garbage that must never crash.
#include "broker/net/websocket.h"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>
#include <vector>

namespace fieldgate::net::ws {
namespace {

std::string request(std::string_view extra = "Sec-WebSocket-Protocol: mqtt\r\n",
                    std::string_view path = "/mqtt") {
  return "GET " + std::string(path) +
         " HTTP/1.1\r\nHost: gw:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, "
         "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
         "13\r\n" +
         std::string(extra) + "\r\n";
}

// A client frame: masked with `mask`.
std::string client_frame(uint8_t first_byte, std::string_view payload,
                         std::array<uint8_t, 4> mask = {0x37, 0xfa, 0x21, 0x3d},
                         bool masked = true) {
  std::string out;
  out += static_cast<char>(first_byte);
  uint8_t mbit = masked ? 0x80 : 0;
  size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(mbit | n);
  } else if (n <= 0xFFFF) {
    out += static_cast<char>(mbit | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n);
  } else {
    out += static_cast<char>(mbit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>(static_cast<uint64_t>(n) >> shift);
  }
  if (!masked) return out + std::string(payload);
  out.append(reinterpret_cast<const char*>(mask.data()), 4);
  for (size_t i = 0; i < n; ++i)
    out += static_cast<char>(payload[i] ^ mask[i % 4]);
  return out;
}

std::string binary(std::string_view payload) {
  return client_frame(0x82, payload);
}

uint16_t close_code_of(const std::string& reply) {
  // an unmasked close frame: 0x88, length, code (2 bytes), reason
  EXPECT_GE(reply.size(), 4u);
  EXPECT_EQ(static_cast<uint8_t>(reply[0]), 0x88);
  return static_cast<uint16_t>((static_cast<uint8_t>(reply[2]) << 8) |
                               static_cast<uint8_t>(reply[3]));
}

// --- handshake ---

TEST(WebSocketHandshake, AcceptKeyIsTheRfcExample) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, AcceptsAnyPathAndEchoesMqtt) {
  for (std::string_view path : {"/mqtt", "/", "/some/where?x=1"}) {
    std::string req = request("Sec-WebSocket-Protocol: mqtt\r\n", path);
    Upgrade u = parse_upgrade(req + "\x82\x80");
    ASSERT_EQ(u.status, Upgrade::Status::Accepted) << u.reason;
    EXPECT_EQ(u.consumed, req.size());
    EXPECT_EQ(u.protocol, "mqtt");
    EXPECT_EQ(u.response,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
              "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Protocol: mqtt\r\n\r\n");
  }
}

TEST(WebSocketHandshake, SubprotocolChoice) {
  EXPECT_EQ(parse_upgrade(request("Sec-WebSocket-Protocol: chat, MQTT\r\n")).protocol, "mqtt");
  EXPECT_EQ(parse_upgrade(request("Sec-WebSocket-Protocol: mqttv3.1\r\n")).protocol, "mqttv3.1");
  Upgrade none = parse_upgrade(request(""));
  EXPECT_EQ(none.status, Upgrade::Status::Accepted);
  EXPECT_EQ(none.response.find("Sec-WebSocket-Protocol"), std::string::npos);
  Upgrade other = parse_upgrade(request("Sec-WebSocket-Protocol: chat\r\n"));
  EXPECT_EQ(other.status, Upgrade::Status::Refused);
  EXPECT_TRUE(other.response.starts_with("HTTP/1.1 400 "));
}

TEST(WebSocketHandshake, HeaderNamesAreCaseInsensitive) {
  std::string req =
      "GET / HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\nconnection: upgrade\r\n"
      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";
  EXPECT_EQ(parse_upgrade(req).status, Upgrade::Status::Accepted);
}

TEST(WebSocketHandshake, IncompleteUntilTheBlankLine) {
  std::string req = request();
  for (size_t n = 0; n < req.size(); ++n) {
    EXPECT_EQ(parse_upgrade(std::string_view(req).substr(0, n)).status, Upgrade::Status::Incomplete)
        << n;
  }
  EXPECT_EQ(parse_upgrade(req).status, Upgrade::Status::Accepted);
}

TEST(WebSocketHandshake, BadRequestsAreRefused) {
  struct Case {
    std::string text;
    std::string status;
  };
  std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  std::vector<Case> cases = {
      {"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", "400"},  // a plain HTTP request
      {"POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key +
           "Sec-WebSocket-Version: 13\r\n\r\n",
       "405"},
      {"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key +
           "Sec-WebSocket-Version: 13\r\n\r\n",
       "400"},
      {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key +
           "Sec-WebSocket-Version: 8\r\n\r\n",
       "426"},
      {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
       "400"},
      {"GET / HTTP/1.1\r\nUpgrade: websocket\r\n" + key + "Sec-WebSocket-Version: 13\r\n\r\n",
       "400"},
      {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key +
           "no colon here\r\nSec-WebSocket-Version: 13\r\n\r\n",
       "400"},
      {"GARBAGE\r\n\r\n", "400"},
      {"\r\n\r\n", "400"},
  };
  for (const Case& c : cases) {
    Upgrade u = parse_upgrade(c.text);
    EXPECT_EQ(u.status, Upgrade::Status::Refused) << c.text;
    EXPECT_TRUE(u.response.starts_with("HTTP/1.1 " + c.status + " ")) << u.response;
    EXPECT_NE(u.response.find("Connection: close"), std::string::npos);
    EXPECT_FALSE(u.reason.empty());
  }
  Upgrade v = parse_upgrade(cases[3].text);
  EXPECT_NE(v.response.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
}

TEST(WebSocketHandshake, OversizedRequestIsRefused) {
  std::string big = "GET / HTTP/1.1\r\nX-Filler: " + std::string(kMaxRequestSize, 'a');
  Upgrade u = parse_upgrade(big);
  EXPECT_EQ(u.status, Upgrade::Status::Refused);
  EXPECT_TRUE(u.response.starts_with("HTTP/1.1 431 "));
}

// --- encoding ---

TEST(WebSocketEncode, LengthFormsAndNoMask) {
  for (size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u, 300000u}) {
    std::string out;
    append_frame(out, Opcode::Binary, std::string(n, 'x'));
    size_t header = n < 126 ? 2 : n <= 65535 ? 4 : 10;
    ASSERT_EQ(out.size(), header + n) << n;
    EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x82);
    EXPECT_EQ(static_cast<uint8_t>(out[1]) & 0x80, 0) << "server frames are not masked";
    // The decoder (without its masking rule) reads the length back.
    Decoder d(1 << 20);
    std::string data, reply;
    std::string masked = client_frame(0x82, std::string(n, 'x'));
    EXPECT_EQ(d.feed(masked, data, reply), Decoder::Status::Ok);
    EXPECT_EQ(data.size(), n);
  }
}

TEST(WebSocketEncode, MaskIsAnInvolutionAtAnyOffset) {
  std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  const uint8_t mask[4] = {1, 2, 3, 250};
  for (uint64_t offset = 0; offset < 8; ++offset) {
    std::string s = text;
    apply_mask(s.data(), s.size(), mask, offset);
    for (size_t i = 0; i < s.size(); ++i)
      ASSERT_EQ(static_cast<uint8_t>(s[i]), static_cast<uint8_t>(text[i]) ^ mask[(offset + i) % 4]);
    apply_mask(s.data(), s.size(), mask, offset);
    EXPECT_EQ(s, text);
  }
}

TEST(WebSocketEncode, CloseReasonIsCutToFit) {
  std::string out;
  append_close(out, close_code::kProtocolError, std::string(500, 'r'));
  EXPECT_EQ(out.size(), 2u + 125u);
  EXPECT_EQ(close_code_of(out), 1002);
}

// --- decoding ---

TEST(WebSocketDecode, BinaryFramesAnySplit) {
  std::string connect("\x10\x0c\x00\x04MQTT", 8);
  std::string rest("\x04\x02\x00\x3c\x00\x00", 6);
  std::string big(70000, 'p');
  std::string wire = binary(connect) + binary(rest) + binary(big) + binary("");
  std::string expected = connect + rest + big;
  for (size_t chunk : {1u, 2u, 3u, 7u, 13u, 4096u, 1000000u}) {
    Decoder d(1 << 20);
    std::string data, reply;
    for (size_t at = 0; at < wire.size(); at += chunk) {
      ASSERT_EQ(d.feed(std::string_view(wire).substr(at, chunk), data, reply), Decoder::Status::Ok);
    }
    EXPECT_TRUE(data == expected) << chunk;  // (not EXPECT_EQ: 70 kB in a failure message)
    EXPECT_TRUE(reply.empty());
  }
}

TEST(WebSocketDecode, FragmentedMessageWithControlFramesBetween) {
  std::string wire = client_frame(0x02, "abc") + client_frame(0x89, "hi") +
                     client_frame(0x00, "def") + client_frame(0x8A, "ignored pong") +
                     client_frame(0x80, "ghi") + binary("jkl");
  Decoder d(1 << 20);
  std::string data, reply;
  EXPECT_EQ(d.feed(wire, data, reply), Decoder::Status::Ok);
  EXPECT_EQ(data, "abcdefghijkl");
  EXPECT_EQ(reply, std::string("\x8A\x02hi", 4));  // the pong echoes the ping
}

TEST(WebSocketDecode, PingPayloadUpTo125) {
  Decoder d(1 << 20);
  std::string data, reply;
  std::string payload(125, 'z');
  EXPECT_EQ(d.feed(client_frame(0x89, payload), data, reply), Decoder::Status::Ok);
  EXPECT_EQ(reply, std::string("\x8A\x7D", 2) + payload);
}

TEST(WebSocketDecode, CloseIsAnsweredWithTheSameCode) {
  Decoder d(1 << 20);
  std::string data, reply;
  std::string wire =
      binary("before") + client_frame(0x88, std::string("\x03\xe8", 2) + "bye") + binary("after");
  EXPECT_EQ(d.feed(wire, data, reply), Decoder::Status::Closed);
  EXPECT_EQ(data, "before");
  EXPECT_EQ(reply, std::string("\x88\x02\x03\xe8", 4));
  // Nothing more is decoded.
  EXPECT_NE(d.feed(binary("later"), data, reply), Decoder::Status::Ok);
  EXPECT_EQ(data, "before");

  Decoder empty(1 << 20);
  std::string reply2;
  EXPECT_EQ(empty.feed(client_frame(0x88, ""), data, reply2), Decoder::Status::Closed);
  EXPECT_EQ(reply2, std::string("\x88\x00", 2));
}

TEST(WebSocketDecode, MalformedFramesCloseWithACode) {
  struct Case {
    std::string name;
    std::string wire;
    uint16_t code;
  };
  std::vector<Case> cases = {
      {"unmasked", client_frame(0x82, "x", {}, false), close_code::kProtocolError},
      {"reserved bit", client_frame(0xC2, "x"), close_code::kProtocolError},
      {"unknown opcode", client_frame(0x83, "x"), close_code::kProtocolError},
      {"unknown control opcode", client_frame(0x8B, "x"), close_code::kProtocolError},
      {"text", client_frame(0x81, "x"), close_code::kUnsupportedData},
      {"continuation first", client_frame(0x80, "x"), close_code::kProtocolError},
      {"new message inside a fragmented one", client_frame(0x02, "a") + binary("b"),
       close_code::kProtocolError},
      {"fragmented ping", client_frame(0x09, "x"), close_code::kProtocolError},
      {"ping over 125", client_frame(0x89, std::string(126, 'x')), close_code::kProtocolError},
      {"close with 1 byte", client_frame(0x88, "x"), close_code::kProtocolError},
      {"too big", binary(std::string(1001, 'x')), close_code::kTooBig},
      {"length over 2^63",
       std::string("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14),
       close_code::kProtocolError},
  };
  for (const Case& c : cases) {
    Decoder d(1000);
    std::string data, reply;
    EXPECT_EQ(d.feed(c.wire, data, reply), Decoder::Status::Error) << c.name;
    EXPECT_EQ(close_code_of(reply), c.code) << c.name;
    EXPECT_FALSE(d.reason().empty()) << c.name;
  }
}

TEST(WebSocketDecode, TooBigIsRefusedFromTheHeaderAlone) {
  Decoder d(1000);
  std::string data, reply;
  std::string header = client_frame(0x82, std::string(70000, 'x')).substr(0, 14);
  EXPECT_EQ(d.feed(header, data, reply), Decoder::Status::Error);
  EXPECT_TRUE(data.empty());
}

// Random frames (data split into random fragments, pings between), fed in random pieces: the
// data comes out whole and in order, every ping is answered.
TEST(WebSocketDecode, RandomizedFramesAndSplits) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::string wire, expected, expected_reply;
    int messages = 1 + static_cast<int>(rng() % 5);
    for (int msg = 0; msg < messages; ++msg) {
      int fragments = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < fragments; ++f) {
        std::string payload(rng() % 300, '\0');
        for (char& ch : payload)
          ch = static_cast<char>(rng());
        expected += payload;
        uint8_t first =
            static_cast<uint8_t>((f == 0 ? 0x02 : 0x00) | (f == fragments - 1 ? 0x80 : 0x00));
        std::array<uint8_t, 4> mask = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                                       static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
        wire += client_frame(first, payload, mask);
        if (rng() % 3 == 0) {
          std::string ping(rng() % 20, 'p');
          wire += client_frame(0x89, ping);
          append_frame(expected_reply, Opcode::Pong, ping);
        }
      }
    }
    Decoder d(1 << 16);
    std::string data, reply;
    for (size_t at = 0; at < wire.size();) {
      size_t n = 1 + rng() % 64;
      ASSERT_EQ(d.feed(std::string_view(wire).substr(at, n), data, reply), Decoder::Status::Ok);
      at += n;
    }
    EXPECT_EQ(data, expected);
    EXPECT_EQ(reply, expected_reply);
  }
}

// Garbage, for the sanitizer build: never a crash, never more data than was given.
TEST(WebSocketDecode, RandomGarbageNeverCrashes) {
  std::mt19937 rng(777);
  for (int round = 0; round < 2000; ++round) {
    std::string wire(rng() % 200, '\0');
    for (char& ch : wire)
      ch = static_cast<char>(rng());
    Decoder d(100);
    std::string data, reply;
    Decoder::Status s = d.feed(wire, data, reply);
    EXPECT_LE(data.size(), wire.size());
    if (s == Decoder::Status::Error) {
      EXPECT_GE(reply.size(), 4u);
    }
    Upgrade u = parse_upgrade(wire);
    EXPECT_NE(u.status, Upgrade::Status::Accepted);
  }
}

}  // namespace
}  // namespace fieldgate::net::ws
