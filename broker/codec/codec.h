// The MQTT wire format: pure functions from bytes to packets and back, shared by the broker, the
// tests and the benchmark's load generator. Nothing here allocates per packet except where a
// packet carries a list (SUBSCRIBE, UNSUBSCRIBE, SUBACK).
//
// Decoded packets hold views into the caller's buffer: they are valid only while that buffer is
// unchanged. Byte runs that are not text (payloads, passwords) are string_views of raw bytes too.
//
// Every decoder checks every rule the specification states for that packet (MQTT 3.1, 3.1.1 and
// 5.0) and returns the first rule broken. A broken rule means the connection must be closed: the
// codec never guesses. reason_code_for() names the MQTT 5 reason code to close it with.
//
// MQTT 5: the same decoders read MQTT 5 packets when given Version::v5 (CONNECT carries its own
// version), filling the `properties` and reason-code fields of the structs below. Encoders that
// take no Version write MQTT 3.1.1 (and 3.1) bytes exactly as before; the overloads taking a
// Version write MQTT 5 when it is Version::v5. Rules that depend on the connection's state or
// direction (topic alias maximum, receive maximum, which side may send a property, the
// authentication method of an AUTH matching CONNECT) are left to the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  // MQTT 5 only.
  NonMinimalVarint,          // a variable byte integer in more bytes than needed [MQTT-1.5.5-1]
  MalformedProperty,         // unknown property identifier, or a value running past the properties
  PropertyNotAllowed,        // a property this packet type may not carry
  DuplicateProperty,         // a property other than user property / subscription id given twice
  InvalidPropertyValue,      // out of range: receive maximum 0, a flag other than 0/1, ...
  MissingProperty,           // authentication data without method, AUTH without method
  InvalidReasonCode,         // a reason code the specification does not define for the packet
  InvalidTopicAlias,         // topic alias 0
  EmptyTopicWithoutAlias,    // PUBLISH with an empty topic name and no topic alias
  InvalidSubscriptionValue,  // QoS 3 or retain handling 3 in MQTT 5 subscription options
  NoLocalOnSharedSubscription,  // no local set on a $share/ subscription [MQTT-3.8.3-4]
};

const char* describe(Error error);

// The MQTT 5 reason code a server sends (CONNACK before the connection is accepted, DISCONNECT
// after) when a packet is rejected with `error`: 0x81 Malformed Packet for what cannot be parsed,
// 0x82 Protocol Error for what parses but breaks a rule, 0x84 for protocol name/level, 0x95 for
// size, 0x90/0x8F/0x94 for topic names, filters and aliases. Error::None gives 0x00.
uint8_t reason_code_for(Error error);

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

// --- MQTT 5 properties (section 2.2.2) ---

// Property identifiers.
namespace property {
inline constexpr uint8_t kPayloadFormatIndicator = 0x01;
inline constexpr uint8_t kMessageExpiryInterval = 0x02;
inline constexpr uint8_t kContentType = 0x03;
inline constexpr uint8_t kResponseTopic = 0x08;
inline constexpr uint8_t kCorrelationData = 0x09;
inline constexpr uint8_t kSubscriptionIdentifier = 0x0B;
inline constexpr uint8_t kSessionExpiryInterval = 0x11;
inline constexpr uint8_t kAssignedClientIdentifier = 0x12;
inline constexpr uint8_t kServerKeepAlive = 0x13;
inline constexpr uint8_t kAuthenticationMethod = 0x15;
inline constexpr uint8_t kAuthenticationData = 0x16;
inline constexpr uint8_t kRequestProblemInformation = 0x17;
inline constexpr uint8_t kWillDelayInterval = 0x18;
inline constexpr uint8_t kRequestResponseInformation = 0x19;
inline constexpr uint8_t kResponseInformation = 0x1A;
inline constexpr uint8_t kServerReference = 0x1C;
inline constexpr uint8_t kReasonString = 0x1F;
inline constexpr uint8_t kReceiveMaximum = 0x21;
inline constexpr uint8_t kTopicAliasMaximum = 0x22;
inline constexpr uint8_t kTopicAlias = 0x23;
inline constexpr uint8_t kMaximumQos = 0x24;
inline constexpr uint8_t kRetainAvailable = 0x25;
inline constexpr uint8_t kUserProperty = 0x26;
inline constexpr uint8_t kMaximumPacketSize = 0x27;
inline constexpr uint8_t kWildcardSubscriptionAvailable = 0x28;
inline constexpr uint8_t kSubscriptionIdentifiersAvailable = 0x29;
inline constexpr uint8_t kSharedSubscriptionAvailable = 0x2A;
}  // namespace property

// Every MQTT 5 property; an absent optional (or empty vector) is a property not on the wire.
// Strings and binary data are views into the decoded buffer, like every other field.
// Decoders reject a property the packet may not carry; encoders write only the properties the
// packet may carry and ignore the others (in identifier order, repeated ones in vector order).
struct Properties {
  std::optional<uint8_t> payload_format_indicator;  // 0 bytes, 1 UTF-8
  std::optional<uint32_t> message_expiry_interval;  // seconds
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> response_topic;
  std::optional<std::string_view> correlation_data;  // binary
  std::vector<uint32_t> subscription_identifiers;    // 1..268435455; PUBLISH may carry several
  std::optional<uint32_t> session_expiry_interval;   // seconds
  std::optional<std::string_view> assigned_client_identifier;
  std::optional<uint16_t> server_keep_alive;  // seconds
  std::optional<std::string_view> authentication_method;
  std::optional<std::string_view> authentication_data;  // binary
  std::optional<bool> request_problem_information;
  std::optional<uint32_t> will_delay_interval;  // seconds
  std::optional<bool> request_response_information;
  std::optional<std::string_view> response_information;
  std::optional<std::string_view> server_reference;
  std::optional<std::string_view> reason_string;
  std::optional<uint16_t> receive_maximum;  // never 0
  std::optional<uint16_t> topic_alias_maximum;
  std::optional<uint16_t> topic_alias;  // never 0
  std::optional<uint8_t> maximum_qos;   // 0 or 1
  std::optional<bool> retain_available;
  std::vector<std::pair<std::string_view, std::string_view>> user_properties;  // order kept
  std::optional<uint32_t> maximum_packet_size;                                 // never 0
  std::optional<bool> wildcard_subscription_available;
  std::optional<bool> subscription_identifiers_available;
  std::optional<bool> shared_subscription_available;

  bool empty() const;
  // Makes every property absent, like `= Properties{}` but cheaper and keeping the vectors'
  // capacity: the decoders use it on their output.
  void clear();
  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string_view topic;
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  Properties properties{};  // MQTT 5 will properties
};

struct Connect {
  Version version = Version::v311;
  std::string_view protocol_name;  // "MQTT" or "MQIsdp"
  bool clean_session = true;
  uint16_t keep_alive = 0;  // seconds; 0 turns keep-alive off
  std::string_view client_id;
  std::optional<Will> will;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password;  // MQTT 5 allows a password without a user name
  Properties properties{};                   // MQTT 5
};

struct Connack {
  bool session_present = false;
  uint8_t return_code = 0;  // MQTT 3: a connack:: return code; MQTT 5: a reason:: code
  Properties properties{};  // MQTT 5
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

// MQTT 5 reason codes (section 2.4). Some values have several names, one per packet.
namespace reason {
inline constexpr uint8_t kSuccess = 0x00;
inline constexpr uint8_t kNormalDisconnection = 0x00;
inline constexpr uint8_t kGrantedQos0 = 0x00;
inline constexpr uint8_t kGrantedQos1 = 0x01;
inline constexpr uint8_t kGrantedQos2 = 0x02;
inline constexpr uint8_t kDisconnectWithWillMessage = 0x04;
inline constexpr uint8_t kNoMatchingSubscribers = 0x10;
inline constexpr uint8_t kNoSubscriptionExisted = 0x11;
inline constexpr uint8_t kContinueAuthentication = 0x18;
inline constexpr uint8_t kReAuthenticate = 0x19;
inline constexpr uint8_t kUnspecifiedError = 0x80;
inline constexpr uint8_t kMalformedPacket = 0x81;
inline constexpr uint8_t kProtocolError = 0x82;
inline constexpr uint8_t kImplementationSpecificError = 0x83;
inline constexpr uint8_t kUnsupportedProtocolVersion = 0x84;
inline constexpr uint8_t kClientIdentifierNotValid = 0x85;
inline constexpr uint8_t kBadUserNameOrPassword = 0x86;
inline constexpr uint8_t kNotAuthorized = 0x87;
inline constexpr uint8_t kServerUnavailable = 0x88;
inline constexpr uint8_t kServerBusy = 0x89;
inline constexpr uint8_t kBanned = 0x8A;
inline constexpr uint8_t kServerShuttingDown = 0x8B;
inline constexpr uint8_t kBadAuthenticationMethod = 0x8C;
inline constexpr uint8_t kKeepAliveTimeout = 0x8D;
inline constexpr uint8_t kSessionTakenOver = 0x8E;
inline constexpr uint8_t kTopicFilterInvalid = 0x8F;
inline constexpr uint8_t kTopicNameInvalid = 0x90;
inline constexpr uint8_t kPacketIdentifierInUse = 0x91;
inline constexpr uint8_t kPacketIdentifierNotFound = 0x92;
inline constexpr uint8_t kReceiveMaximumExceeded = 0x93;
inline constexpr uint8_t kTopicAliasInvalid = 0x94;
inline constexpr uint8_t kPacketTooLarge = 0x95;
inline constexpr uint8_t kMessageRateTooHigh = 0x96;
inline constexpr uint8_t kQuotaExceeded = 0x97;
inline constexpr uint8_t kAdministrativeAction = 0x98;
inline constexpr uint8_t kPayloadFormatInvalid = 0x99;
inline constexpr uint8_t kRetainNotSupported = 0x9A;
inline constexpr uint8_t kQosNotSupported = 0x9B;
inline constexpr uint8_t kUseAnotherServer = 0x9C;
inline constexpr uint8_t kServerMoved = 0x9D;
inline constexpr uint8_t kSharedSubscriptionsNotSupported = 0x9E;
inline constexpr uint8_t kConnectionRateExceeded = 0x9F;
inline constexpr uint8_t kMaximumConnectTime = 0xA0;
inline constexpr uint8_t kSubscriptionIdentifiersNotSupported = 0xA1;
inline constexpr uint8_t kWildcardSubscriptionsNotSupported = 0xA2;
}  // namespace reason

// Whether MQTT 5 defines `code` for packets of `type` (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP,
// SUBACK, UNSUBACK, DISCONNECT, AUTH; false for the other types).
bool valid_reason_code(PacketType type, uint8_t code);

struct Publish {
  std::string_view topic;
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;   // 0 for QoS 0; non-zero otherwise
  Properties properties{};  // MQTT 5; the topic may be empty when a topic alias is given
};

struct Subscription {
  std::string_view filter;
  uint8_t qos = 0;
  // MQTT 5 subscription options (always false / 0 in MQTT 3).
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;  // 0..2
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;
  Properties properties{};  // MQTT 5
};

struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> return_codes;  // MQTT 3: QoS 0..2 or kSubackFailure; MQTT 5: reason codes
  Properties properties{};            // MQTT 5
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string_view> filters;
  Properties properties{};  // MQTT 5
};

// PUBACK, PUBREC, PUBREL or PUBCOMP with its MQTT 5 reason code and properties.
struct Ack {
  uint16_t packet_id = 0;
  uint8_t reason_code = 0;  // reason::kSuccess in MQTT 3
  Properties properties{};
};

// UNSUBACK: MQTT 3 carries only the packet identifier; MQTT 5 adds one reason code per filter.
struct Unsuback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> reason_codes;  // empty in MQTT 3
  Properties properties{};
};

// DISCONNECT: MQTT 3 has no body.
struct Disconnect {
  uint8_t reason_code = 0;  // reason::kNormalDisconnection in MQTT 3
  Properties properties{};
};

// AUTH exists only in MQTT 5.
struct Auth {
  uint8_t reason_code = 0;
  Properties properties{};
};

// --- Decoding. `version` is the connection's protocol version, known once CONNECT is read. ---

// MQTT 5 frames must also encode their remaining length minimally (NonMinimalVarint otherwise).

// CONNECT carries its own version: "MQIsdp" 3, "MQTT" 4 and "MQTT" 5. UnsupportedProtocolLevel is
// returned with `out.version` and `out.protocol_name` filled so that the caller can answer
// CONNACK 1 (MQTT 3) or 0x84 (MQTT 5) before closing.
Error decode_connect(const Frame& frame, Connect& out);
Error decode_connack(const Frame& frame, Version version, Connack& out);
Error decode_publish(const Frame& frame, Version version, Publish& out);
// PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: their packet identifier. An MQTT 5 packet is
// checked in full, but its reason codes and properties are dropped: use the overload below or
// decode_unsuback to see them.
Error decode_ack(const Frame& frame, Version version, uint16_t& packet_id);
// PUBACK, PUBREC, PUBREL and PUBCOMP (not UNSUBACK) with reason code and properties. MQTT 5
// short forms: remaining length 2 means reason 0x00, 3 means no properties.
Error decode_ack(const Frame& frame, Version version, Ack& out);
Error decode_subscribe(const Frame& frame, Version version, Subscribe& out);
Error decode_suback(const Frame& frame, Version version, Suback& out);
Error decode_unsubscribe(const Frame& frame, Version version, Unsubscribe& out);
Error decode_unsuback(const Frame& frame, Version version, Unsuback& out);
// PINGREQ, PINGRESP and DISCONNECT: no flags, no body. An MQTT 5 DISCONNECT may have a body: it
// is checked in full and dropped; use decode_disconnect to see it.
Error decode_empty(const Frame& frame, Version version);
// DISCONNECT. MQTT 5: remaining length 0 means reason 0x00, 1 means no properties.
Error decode_disconnect(const Frame& frame, Version version, Disconnect& out);
// AUTH (ReservedPacketType before MQTT 5). Remaining length 0 means reason 0x00.
Error decode_auth(const Frame& frame, Version version, Auth& out);

// --- Encoding: each function appends one whole packet to `out`. ---
// The overloads without a Version write MQTT 3.1.1 (3.1 is the same bytes) and ignore the MQTT 5
// fields. The overloads with a Version write MQTT 5 for Version::v5 and defer to the former
// otherwise.

// The version comes from `packet.version` (MQTT 5 writes properties and will properties).
void encode_connect(std::string& out, const Connect& packet);
void encode_connack(std::string& out, const Connack& packet);
void encode_connack(std::string& out, const Connack& packet, Version version);
void encode_publish(std::string& out, const Publish& packet);
void encode_publish(std::string& out, const Publish& packet, Version version);
// The same for a PUBLISH without properties (MQTT 5: an empty property block), from its parts:
// the broker's hot path, which need not fill a Publish nor look for properties.
void encode_publish_bare(std::string& out, std::string_view topic, std::string_view payload,
                         uint8_t qos, bool retain, bool dup, uint16_t packet_id, Version version);
// PUBACK, PUBREC, PUBREL (which gets its required flags), PUBCOMP or UNSUBACK.
void encode_ack(std::string& out, PacketType type, uint16_t packet_id);
// PUBACK, PUBREC, PUBREL or PUBCOMP; MQTT 5 uses the short forms when it can.
void encode_ack(std::string& out, PacketType type, const Ack& packet, Version version);
void encode_subscribe(std::string& out, const Subscribe& packet);
void encode_subscribe(std::string& out, const Subscribe& packet, Version version);
void encode_suback(std::string& out, const Suback& packet);
void encode_suback(std::string& out, const Suback& packet, Version version);
void encode_unsubscribe(std::string& out, const Unsubscribe& packet);
void encode_unsubscribe(std::string& out, const Unsubscribe& packet, Version version);
void encode_unsuback(std::string& out, const Unsuback& packet, Version version);
// PINGREQ, PINGRESP or DISCONNECT.
void encode_empty(std::string& out, PacketType type);
// MQTT 5 uses the short forms when it can (remaining length 0 or 1).
void encode_disconnect(std::string& out, const Disconnect& packet, Version version);
// MQTT 5 only; remaining length 0 for reason 0x00 without properties.
void encode_auth(std::string& out, const Auth& packet);

// Bytes a PUBLISH with these fields takes on the wire, fixed header included.
size_t publish_size(std::string_view topic, std::string_view payload, uint8_t qos);
// The same for a whole packet, MQTT 5 properties included when `version` is Version::v5.
size_t publish_size(const Publish& packet, Version version);

// --- The string rules of the specification, for the broker's own checks too. ---

// Well-formed UTF-8 without surrogates, overlong forms or U+0000, at most 65535 bytes.
bool valid_utf8(std::string_view text);
// The same rules without the length limit: a payload whose payload format indicator is 1.
bool valid_utf8_payload(std::string_view text);
// A topic a PUBLISH may carry: valid UTF-8, at least one byte, no '+' or '#'.
bool valid_topic_name(std::string_view topic);
// A filter a SUBSCRIBE may carry: valid UTF-8, at least one byte, '+' and '#' alone in their
// level, '#' only as the last level.
bool valid_topic_filter(std::string_view filter);

}  // namespace fieldgate::mqtt
