// The MQTT wire format: pure functions from bytes to packets and back, shared by the broker, the
// tests and the benchmark's load generator. Nothing here allocates per packet except where a
// packet carries a list (SUBSCRIBE, UNSUBSCRIBE, SUBACK).
//
// Decoded packets hold views into the caller's buffer: they are valid only while that buffer is
// unchanged. Byte runs that are not text (payloads, passwords) are string_views of raw bytes too.
//
// Every decoder checks every rule the specification states for that packet (MQTT 3.1 and 3.1.1;
// MQTT 5 will add properties and reason codes) and returns the first rule broken. A broken rule
// means the connection must be closed: the codec never guesses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fieldgate::mqtt {

// The protocol level byte of CONNECT.
enum class Version : uint8_t { v31 = 3, v311 = 4, v5 = 5 };

enum class PacketType : uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
  Auth = 15,
};

const char* packet_name(PacketType type);

// Why a packet was rejected. Each value names one rule of the specification.
enum class Error : uint8_t {
  None = 0,
  MalformedRemainingLength,    // more than four bytes of remaining length
  PacketTooLarge,              // larger than the receiver's maximum packet size
  ReservedPacketType,          // packet type 0, or 15 (AUTH) before MQTT 5
  InvalidFlags,                // fixed-header flags other than the ones the type requires
  Truncated,                   // the body ends before a field it announces
  TrailingBytes,               // the body goes on after its last field
  InvalidUtf8,                 // ill-formed UTF-8, a surrogate, or U+0000 in a string
  InvalidProtocolName,         // CONNECT protocol name is neither "MQTT" nor "MQIsdp"
  UnsupportedProtocolLevel,    // known protocol name with a level this codec does not speak
  InvalidConnectFlags,         // reserved bit set, will QoS/retain without will, password alone
  InvalidQos,                  // QoS 3, or DUP set on a QoS 0 PUBLISH
  InvalidTopicName,            // empty, or containing '+' or '#'
  InvalidTopicFilter,          // empty, or '+'/'#' not alone in their level, '#' not last
  InvalidPacketId,             // packet identifier 0 where one is required
  NoSubscriptions,             // SUBSCRIBE or UNSUBSCRIBE without a single topic filter
  InvalidSubscriptionOptions,  // reserved bits set in a SUBSCRIBE options byte
  InvalidReturnCode,           // a CONNACK/SUBACK code the specification does not define
};

const char* describe(Error error);

struct FixedHeader {
  PacketType type{};
  uint8_t flags = 0;              // the low four bits of the first byte
  uint32_t remaining_length = 0;  // bytes after the fixed header
  uint8_t header_size = 0;        // bytes of the fixed header itself (2 to 5)
};

// One complete packet found at the front of a buffer.
struct Frame {
  FixedHeader header;
  std::string_view body;  // exactly remaining_length bytes
  size_t size() const { return header.header_size + header.remaining_length; }
};

enum class FrameStatus : uint8_t {
  Complete,    // `frame` describes a whole packet at the front of the buffer
  Incomplete,  // more bytes are needed; nothing is wrong yet
  Malformed,   // the remaining length is malformed or the packet type is reserved
  TooLarge,    // the whole packet would exceed max_packet_size (known before the body arrives)
};

// Finds the packet at the front of `in`. Checks only the fixed header (type, remaining length,
// size); the flags and the body are checked by the decoder of that packet type.
// max_packet_size counts the whole packet, fixed header included, as MQTT 5 does.
FrameStatus next_frame(std::string_view in, uint32_t max_packet_size, Frame& frame);

struct Will {
  std::string_view topic;
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
};

struct Connect {
  Version version = Version::v311;
  std::string_view protocol_name;  // "MQTT" or "MQIsdp"
  bool clean_session = true;
  uint16_t keep_alive = 0;  // seconds; 0 turns keep-alive off
  std::string_view client_id;
  std::optional<Will> will;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password;
};

struct Connack {
  bool session_present = false;
  uint8_t return_code = 0;
};

// CONNACK return codes of MQTT 3.1 and 3.1.1.
namespace connack {
inline constexpr uint8_t kAccepted = 0;
inline constexpr uint8_t kUnacceptableProtocolVersion = 1;
inline constexpr uint8_t kIdentifierRejected = 2;
inline constexpr uint8_t kServerUnavailable = 3;
inline constexpr uint8_t kBadUsernameOrPassword = 4;
inline constexpr uint8_t kNotAuthorized = 5;
}  // namespace connack

inline constexpr uint8_t kSubackFailure = 0x80;

struct Publish {
  std::string_view topic;
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // 0 for QoS 0; non-zero otherwise
};

struct Subscription {
  std::string_view filter;
  uint8_t qos = 0;
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;
};

struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> return_codes;  // granted QoS 0..2, or kSubackFailure
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string_view> filters;
};

// --- Decoding. `version` is the connection's protocol version, known once CONNECT is read. ---

// CONNECT carries its own version. UnsupportedProtocolLevel is returned with `out.version` and
// `out.protocol_name` filled so that the caller can answer CONNACK 1 before closing.
Error decode_connect(const Frame& frame, Connect& out);
Error decode_connack(const Frame& frame, Version version, Connack& out);
Error decode_publish(const Frame& frame, Version version, Publish& out);
// PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a packet identifier and nothing else.
Error decode_ack(const Frame& frame, Version version, uint16_t& packet_id);
Error decode_subscribe(const Frame& frame, Version version, Subscribe& out);
Error decode_suback(const Frame& frame, Version version, Suback& out);
Error decode_unsubscribe(const Frame& frame, Version version, Unsubscribe& out);
// PINGREQ, PINGRESP and DISCONNECT: no flags, no body.
Error decode_empty(const Frame& frame, Version version);

// --- Encoding: each function appends one whole packet to `out`. ---

void encode_connect(std::string& out, const Connect& packet);
void encode_connack(std::string& out, const Connack& packet);
void encode_publish(std::string& out, const Publish& packet);
// PUBACK, PUBREC, PUBREL (which gets its required flags), PUBCOMP or UNSUBACK.
void encode_ack(std::string& out, PacketType type, uint16_t packet_id);
void encode_subscribe(std::string& out, const Subscribe& packet);
void encode_suback(std::string& out, const Suback& packet);
void encode_unsubscribe(std::string& out, const Unsubscribe& packet);
// PINGREQ, PINGRESP or DISCONNECT.
void encode_empty(std::string& out, PacketType type);

// Bytes a PUBLISH with these fields takes on the wire, fixed header included.
size_t publish_size(std::string_view topic, std::string_view payload, uint8_t qos);

// --- The string rules of the specification, for the broker's own checks too. ---

// Well-formed UTF-8 without surrogates, overlong forms or U+0000, at most 65535 bytes.
bool valid_utf8(std::string_view text);
// A topic a PUBLISH may carry: valid UTF-8, at least one byte, no '+' or '#'.
bool valid_topic_name(std::string_view topic);
// A filter a SUBSCRIBE may carry: valid UTF-8, at least one byte, '+' and '#' alone in their
// level, '#' only as the last level.
bool valid_topic_filter(std::string_view filter);

}  // namespace fieldgate::mqtt
