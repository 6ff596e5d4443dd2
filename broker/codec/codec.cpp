// The MQTT 3.1 / 3.1.1 / 5.0 wire codec. See codec.h for the contract.
//
// Layout of this file: string rules, framing, a bounds-checked reader used by every decoder, the
// MQTT 5 properties (one table of where each may appear, one reader, one writer), the decoders
// (one per packet family), then the encoders. MQTT 5 inserts its properties right after each
// variable header, which is why every decoder reads the variable header and the payload as
// separate steps and receives the connection's version.
#include "broker/codec/codec.h"

#include <array>
#include <cstring>
#include <initializer_list>

namespace fieldgate::mqtt {

namespace {

constexpr size_t kMaxStringLength = 65'535;

constexpr uint8_t kPublishDup = 0x08;
constexpr uint8_t kPublishRetain = 0x01;
constexpr uint8_t kRequiredFlags = 0x02;  // PUBREL, SUBSCRIBE, UNSUBSCRIBE
constexpr uint8_t kV31DupFlag = 0x08;     // 3.1 sets DUP when it resends those three

// CONNECT flags byte.
constexpr uint8_t kConnectReserved = 0x01;
constexpr uint8_t kConnectCleanSession = 0x02;
constexpr uint8_t kConnectWill = 0x04;
constexpr uint8_t kConnectWillQosShift = 3;
constexpr uint8_t kConnectWillQosMask = 0x18;
constexpr uint8_t kConnectWillRetain = 0x20;
constexpr uint8_t kConnectPassword = 0x40;
constexpr uint8_t kConnectUsername = 0x80;

constexpr uint8_t kConnackSessionPresent = 0x01;
constexpr uint8_t kMaxConnackReturnCode = connack::kNotAuthorized;

constexpr std::string_view kNameV31 = "MQIsdp";
constexpr std::string_view kNameV311 = "MQTT";

// --- UTF-8 ---

// True when none of the eight bytes is zero and none has its top bit set.
inline bool ascii_without_nul(uint64_t word) {
  constexpr uint64_t kLow = 0x0101'0101'0101'0101ULL;
  constexpr uint64_t kHigh = 0x8080'8080'8080'8080ULL;
  const bool has_high = (word & kHigh) != 0;
  const bool has_zero = ((word - kLow) & ~word & kHigh) != 0;
  return !has_high && !has_zero;
}

inline bool is_continuation(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

// --- Remaining length ---

inline size_t varint_size(uint32_t value) {
  if (value < 128) return 1;
  if (value < 16'384) return 2;
  if (value < 2'097'152) return 3;
  return 4;
}

// Writes the minimal encoding of `value` (below 2^28) and returns its length.
inline size_t put_varint(char* out, uint32_t value) {
  size_t n = 0;
  do {
    uint8_t byte = value & 0x7F;
    value >>= 7;
    if (value != 0) byte |= 0x80;
    out[n++] = static_cast<char>(byte);
  } while (value != 0);
  return n;
}

inline void put_u16(char* out, uint16_t value) {
  out[0] = static_cast<char>(value >> 8);
  out[1] = static_cast<char>(value & 0xFF);
}

// Appends the first byte and the remaining length.
inline void append_fixed_header(std::string& out, uint8_t first, uint32_t remaining_length) {
  char header[5];
  header[0] = static_cast<char>(first);
  const size_t n = 1 + put_varint(header + 1, remaining_length);
  out.append(header, n);
}

inline void append_u16(std::string& out, uint16_t value) {
  char bytes[2];
  put_u16(bytes, value);
  out.append(bytes, 2);
}

// A length-prefixed string or binary field. The caller guarantees at most 65535 bytes.
inline void append_field(std::string& out, std::string_view field) {
  append_u16(out, static_cast<uint16_t>(field.size()));
  out.append(field);
}

inline uint8_t first_byte(PacketType type, uint8_t flags) {
  return static_cast<uint8_t>((static_cast<uint8_t>(type) << 4) | (flags & 0x0F));
}

// --- Decoding helpers ---

// Reads big-endian fields from a packet body; every read fails instead of running past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool u8(uint8_t& value) {
    if (in_.size() - pos_ < 1) return false;
    value = static_cast<uint8_t>(in_[pos_]);
    pos_ += 1;
    return true;
  }

  bool u16(uint16_t& value) {
    if (in_.size() - pos_ < 2) return false;
    value = static_cast<uint16_t>((static_cast<uint8_t>(in_[pos_]) << 8) |
                                  static_cast<uint8_t>(in_[pos_ + 1]));
    pos_ += 2;
    return true;
  }

  // A two-byte length followed by that many bytes.
  bool field(std::string_view& value) {
    uint16_t length = 0;
    if (!u16(length)) return false;
    if (in_.size() - pos_ < length) return false;
    value = in_.substr(pos_, length);
    pos_ += length;
    return true;
  }

  bool u32(uint32_t& value) {
    if (in_.size() - pos_ < 4) return false;
    value = 0;
    for (size_t i = 0; i < 4; ++i)
      value = (value << 8) | static_cast<uint8_t>(in_[pos_ + i]);
    pos_ += 4;
    return true;
  }

  enum class Varint : uint8_t { Ok, End, TooLong, NonMinimal };

  // A variable byte integer of at most four bytes; MQTT 5 requires the shortest encoding.
  Varint varint(uint32_t& value) {
    value = 0;
    for (unsigned i = 0; i < 4; ++i) {
      if (pos_ == in_.size()) return Varint::End;
      const auto byte = static_cast<uint8_t>(in_[pos_++]);
      value |= static_cast<uint32_t>(byte & 0x7F) << (7 * i);
      if ((byte & 0x80) == 0) return i > 0 && byte == 0 ? Varint::NonMinimal : Varint::Ok;
    }
    return Varint::TooLong;
  }

  // The next `n` bytes; the caller has checked that they are there.
  std::string_view take(size_t n) {
    std::string_view out = in_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  bool empty() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  // The next byte, not consumed; -1 at the end.
  int peek() const { return pos_ < in_.size() ? static_cast<uint8_t>(in_[pos_]) : -1; }

  std::string_view rest() {
    std::string_view out = in_.substr(pos_);
    pos_ = in_.size();
    return out;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// The connection's version, as far as the decoders of this codec are concerned.
inline Error check_version(Version version) {
  return version == Version::v31 || version == Version::v311 || version == Version::v5
             ? Error::None
             : Error::UnsupportedProtocolLevel;
}

// MQTT 5 requires the remaining length to be minimal too (next_frame, which does not know the
// version, accepts any). A frame not made by next_frame (header_size 0) is not checked.
inline Error check_length_encoding(const Frame& frame, Version version) {
  if (version != Version::v5) return Error::None;
  return frame.header.header_size > 1 + varint_size(frame.header.remaining_length)
             ? Error::NonMinimalVarint
             : Error::None;
}

// AUTH exists only in MQTT 5 and has its own decoder; any other type that is not the decoder's
// own is a caller bug, reported the same way rather than decoded as something else.
inline Error check_type(const Frame& frame, PacketType expected) {
  return frame.header.type == expected ? Error::None : Error::ReservedPacketType;
}

// PUBREL, SUBSCRIBE and UNSUBSCRIBE carry flags 0b0010. MQTT 3.1 also sets DUP when it resends
// them (its QoS 1 retry rule), so 0b1010 is accepted from a 3.1 connection.
inline Error check_required_flags(const Frame& frame, Version version) {
  const uint8_t flags = frame.header.flags;
  if (flags == kRequiredFlags) return Error::None;
  if (version == Version::v31 && flags == (kRequiredFlags | kV31DupFlag)) return Error::None;
  return Error::InvalidFlags;
}

inline Error check_zero_flags(const Frame& frame) {
  return frame.header.flags == 0 ? Error::None : Error::InvalidFlags;
}

// The fixed-header checks every decoder starts with: type, version, the flags of that type
// (0b0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, none for the others but PUBLISH), and the
// remaining length's encoding.
inline Error check_header(const Frame& frame, PacketType type, Version version) {
  if (Error e = check_type(frame, type); e != Error::None) return e;
  if (Error e = check_version(version); e != Error::None) return e;
  const bool required = type == PacketType::Pubrel || type == PacketType::Subscribe ||
                        type == PacketType::Unsubscribe;
  if (Error e = required ? check_required_flags(frame, version) : check_zero_flags(frame);
      e != Error::None) {
    return e;
  }
  return check_length_encoding(frame, version);
}

// A field that the specification declares a UTF-8 string.
inline Error check_text(std::string_view text) {
  return valid_utf8(text) ? Error::None : Error::InvalidUtf8;
}

// Reads a non-zero packet identifier.
inline Error read_packet_id(Reader& in, uint16_t& packet_id) {
  if (!in.u16(packet_id)) return Error::Truncated;
  return packet_id == 0 ? Error::InvalidPacketId : Error::None;
}

// Reads one topic filter of SUBSCRIBE or UNSUBSCRIBE.
inline Error read_filter(Reader& in, std::string_view& filter) {
  if (!in.field(filter)) return Error::Truncated;
  if (!valid_utf8(filter)) return Error::InvalidUtf8;
  return valid_topic_filter(filter) ? Error::None : Error::InvalidTopicFilter;
}

constexpr std::string_view kSharePrefix = "$share/";

inline bool is_shared(std::string_view filter) {
  return filter.substr(0, kSharePrefix.size()) == kSharePrefix;
}

// MQTT 5 shared subscriptions, "$share/{ShareName}/{filter}" [MQTT-4.8.2-1], [MQTT-4.8.2-2]: a
// share name of at least one character without '+' or '#', then '/', then a non-empty filter
// (valid already, as the whole filter is).
inline bool valid_shared_filter(std::string_view filter) {
  const std::string_view rest = filter.substr(kSharePrefix.size());
  const size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size()) return false;
  return rest.substr(0, slash).find_first_of("+#") == std::string_view::npos;
}

// An MQTT 5 filter of SUBSCRIBE or UNSUBSCRIBE.
inline Error read_filter_v5(Reader& in, std::string_view& filter) {
  if (Error e = read_filter(in, filter); e != Error::None) return e;
  return !is_shared(filter) || valid_shared_filter(filter) ? Error::None
                                                           : Error::InvalidTopicFilter;
}

// --- MQTT 5 properties ---

// Where a property list sits: in each packet type that has one, and among the will fields.
enum Where : uint8_t {
  kInConnect,
  kInConnack,
  kInPublish,
  kInWill,
  kInAck,  // PUBACK, PUBREC, PUBREL, PUBCOMP
  kInSubscribe,
  kInSuback,
  kInUnsubscribe,
  kInUnsuback,
  kInDisconnect,
  kInAuth,
};

constexpr uint16_t bit(Where where) {
  return static_cast<uint16_t>(1u << where);
}

constexpr size_t kPropertyIds = property::kSharedSubscriptionAvailable + 1;

// Indexed by identifier: where the property may appear (section 2.2.2.2); 0 for identifiers the
// specification does not define.
constexpr std::array<uint16_t, kPropertyIds> kAllowedIn = [] {
  namespace id = property;
  std::array<uint16_t, kPropertyIds> t{};
  const uint16_t message = bit(kInPublish) | bit(kInWill);
  const uint16_t connect_ack = bit(kInConnect) | bit(kInConnack);
  t[id::kPayloadFormatIndicator] = message;
  t[id::kMessageExpiryInterval] = message;
  t[id::kContentType] = message;
  t[id::kResponseTopic] = message;
  t[id::kCorrelationData] = message;
  t[id::kSubscriptionIdentifier] = bit(kInPublish) | bit(kInSubscribe);
  t[id::kSessionExpiryInterval] = connect_ack | bit(kInDisconnect);
  t[id::kAssignedClientIdentifier] = bit(kInConnack);
  t[id::kServerKeepAlive] = bit(kInConnack);
  t[id::kAuthenticationMethod] = connect_ack | bit(kInAuth);
  t[id::kAuthenticationData] = connect_ack | bit(kInAuth);
  t[id::kRequestProblemInformation] = bit(kInConnect);
  t[id::kWillDelayInterval] = bit(kInWill);
  t[id::kRequestResponseInformation] = bit(kInConnect);
  t[id::kResponseInformation] = bit(kInConnack);
  t[id::kServerReference] = bit(kInConnack) | bit(kInDisconnect);
  t[id::kReasonString] = bit(kInConnack) | bit(kInAck) | bit(kInSuback) | bit(kInUnsuback) |
                         bit(kInDisconnect) | bit(kInAuth);
  t[id::kReceiveMaximum] = connect_ack;
  t[id::kTopicAliasMaximum] = connect_ack;
  t[id::kTopicAlias] = bit(kInPublish);
  t[id::kMaximumQos] = bit(kInConnack);
  t[id::kRetainAvailable] = bit(kInConnack);
  t[id::kUserProperty] = 0x07FF;  // everywhere
  t[id::kMaximumPacketSize] = connect_ack;
  t[id::kWildcardSubscriptionAvailable] = bit(kInConnack);
  t[id::kSubscriptionIdentifiersAvailable] = bit(kInConnack);
  t[id::kSharedSubscriptionAvailable] = bit(kInConnack);
  return t;
}();

inline bool allowed_in(uint32_t id, Where where) {
  return id < kPropertyIds && (kAllowedIn[id] & bit(where)) != 0;
}

// A variable byte integer inside the property list, where running out is malformed.
inline Error property_varint(Reader& in, uint32_t& value) {
  switch (in.varint(value)) {
    case Reader::Varint::Ok:
      return Error::None;
    case Reader::Varint::NonMinimal:
      return Error::NonMinimalVarint;
    case Reader::Varint::End:
    case Reader::Varint::TooLong:
      break;
  }
  return Error::MalformedProperty;
}

template <typename T>
inline Error store_once(std::optional<T>& slot, T value) {
  if (slot) return Error::DuplicateProperty;
  slot = value;
  return Error::None;
}

inline Error read_byte_property(Reader& in, std::optional<uint8_t>& slot, uint8_t max) {
  uint8_t value = 0;
  if (!in.u8(value)) return Error::MalformedProperty;
  if (slot) return Error::DuplicateProperty;
  if (value > max) return Error::InvalidPropertyValue;
  slot = value;
  return Error::None;
}

// A byte that must be 0 or 1.
inline Error read_flag_property(Reader& in, std::optional<bool>& slot) {
  uint8_t value = 0;
  if (!in.u8(value)) return Error::MalformedProperty;
  if (slot) return Error::DuplicateProperty;
  if (value > 1) return Error::InvalidPropertyValue;
  slot = value == 1;
  return Error::None;
}

// `if_zero`: the error for a value of 0, or Error::None where 0 is allowed.
inline Error read_u16_property(Reader& in, std::optional<uint16_t>& slot, Error if_zero) {
  uint16_t value = 0;
  if (!in.u16(value)) return Error::MalformedProperty;
  if (slot) return Error::DuplicateProperty;
  if (value == 0 && if_zero != Error::None) return if_zero;
  slot = value;
  return Error::None;
}

inline Error read_u32_property(Reader& in, std::optional<uint32_t>& slot, Error if_zero) {
  uint32_t value = 0;
  if (!in.u32(value)) return Error::MalformedProperty;
  if (slot) return Error::DuplicateProperty;
  if (value == 0 && if_zero != Error::None) return if_zero;
  slot = value;
  return Error::None;
}

// A UTF-8 string (`text`) or binary data.
inline Error read_field_property(Reader& in, std::optional<std::string_view>& slot, bool text) {
  std::string_view value;
  if (!in.field(value)) return Error::MalformedProperty;
  if (slot) return Error::DuplicateProperty;
  if (text && !valid_utf8(value)) return Error::InvalidUtf8;
  slot = value;
  return Error::None;
}

// One property, its identifier already read.
Error read_property(Reader& in, uint32_t id, Where where, Properties& out) {
  namespace prop = property;
  if (id >= kPropertyIds || kAllowedIn[id] == 0) return Error::MalformedProperty;
  // "A Control Packet which contains an Identifier which is not valid for its packet type ...
  // is a Malformed Packet" (2.2.2.2).
  if (!allowed_in(id, where)) return Error::PropertyNotAllowed;
  constexpr Error kZeroOk = Error::None;
  switch (id) {
    case prop::kPayloadFormatIndicator:
      return read_byte_property(in, out.payload_format_indicator, 1);
    case prop::kMessageExpiryInterval:
      return read_u32_property(in, out.message_expiry_interval, kZeroOk);
    case prop::kContentType:
      return read_field_property(in, out.content_type, true);
    case prop::kResponseTopic: {
      if (Error e = read_field_property(in, out.response_topic, true); e != Error::None) return e;
      // [MQTT-3.3.2-14]: a topic name, so no wildcards.
      return valid_topic_name(*out.response_topic) ? Error::None : Error::InvalidTopicName;
    }
    case prop::kCorrelationData:
      return read_field_property(in, out.correlation_data, false);
    case prop::kSubscriptionIdentifier: {
      uint32_t value = 0;
      if (Error e = property_varint(in, value); e != Error::None) return e;
      // PUBLISH may carry one per matching subscription; SUBSCRIBE only one.
      if (where == kInSubscribe && !out.subscription_identifiers.empty()) {
        return Error::DuplicateProperty;
      }
      if (value == 0) return Error::InvalidPropertyValue;
      out.subscription_identifiers.push_back(value);
      return Error::None;
    }
    case prop::kSessionExpiryInterval:
      return read_u32_property(in, out.session_expiry_interval, kZeroOk);
    case prop::kAssignedClientIdentifier:
      return read_field_property(in, out.assigned_client_identifier, true);
    case prop::kServerKeepAlive:
      return read_u16_property(in, out.server_keep_alive, kZeroOk);
    case prop::kAuthenticationMethod:
      return read_field_property(in, out.authentication_method, true);
    case prop::kAuthenticationData:
      return read_field_property(in, out.authentication_data, false);
    case prop::kRequestProblemInformation:
      return read_flag_property(in, out.request_problem_information);
    case prop::kWillDelayInterval:
      return read_u32_property(in, out.will_delay_interval, kZeroOk);
    case prop::kRequestResponseInformation:
      return read_flag_property(in, out.request_response_information);
    case prop::kResponseInformation:
      return read_field_property(in, out.response_information, true);
    case prop::kServerReference:
      return read_field_property(in, out.server_reference, true);
    case prop::kReasonString:
      return read_field_property(in, out.reason_string, true);
    case prop::kReceiveMaximum:
      return read_u16_property(in, out.receive_maximum, Error::InvalidPropertyValue);
    case prop::kTopicAliasMaximum:
      return read_u16_property(in, out.topic_alias_maximum, kZeroOk);
    case prop::kTopicAlias:
      return read_u16_property(in, out.topic_alias, Error::InvalidTopicAlias);
    case prop::kMaximumQos:
      return read_byte_property(in, out.maximum_qos, 1);
    case prop::kRetainAvailable:
      return read_flag_property(in, out.retain_available);
    case prop::kUserProperty: {
      std::string_view name;
      std::string_view value;
      if (!in.field(name) || !in.field(value)) return Error::MalformedProperty;
      if (!valid_utf8(name) || !valid_utf8(value)) return Error::InvalidUtf8;
      out.user_properties.emplace_back(name, value);
      return Error::None;
    }
    case prop::kMaximumPacketSize:
      return read_u32_property(in, out.maximum_packet_size, Error::InvalidPropertyValue);
    case prop::kWildcardSubscriptionAvailable:
      return read_flag_property(in, out.wildcard_subscription_available);
    case prop::kSubscriptionIdentifiersAvailable:
      return read_flag_property(in, out.subscription_identifiers_available);
    case prop::kSharedSubscriptionAvailable:
      return read_flag_property(in, out.shared_subscription_available);
    default:
      break;
  }
  return Error::MalformedProperty;
}

// The property length and the properties after it. `out` must be empty.
Error read_properties(Reader& in, Where where, Properties& out) {
  uint32_t length = 0;
  switch (in.varint(length)) {
    case Reader::Varint::Ok:
      break;
    case Reader::Varint::End:
      return Error::Truncated;
    case Reader::Varint::TooLong:
      return Error::MalformedProperty;
    case Reader::Varint::NonMinimal:
      return Error::NonMinimalVarint;
  }
  if (length > in.remaining()) return Error::Truncated;
  Reader list(in.take(length));
  while (!list.empty()) {
    uint32_t id = 0;
    if (Error e = property_varint(list, id); e != Error::None) return e;
    if (Error e = read_property(list, id, where, out); e != Error::None) return e;
  }
  return Error::None;
}

// "It is a Protocol Error to include Authentication Data if there is no Authentication Method."
inline Error check_authentication(const Properties& p) {
  return p.authentication_data && !p.authentication_method ? Error::MissingProperty : Error::None;
}

// Property writers: one list of what to write, run once to count and once to append.
struct CountSink {
  size_t size = 0;
  void byte(uint8_t) { size += 1; }
  void u16(uint16_t) { size += 2; }
  void u32(uint32_t) { size += 4; }
  void varint(uint32_t value) { size += varint_size(value); }
  void field(std::string_view f) { size += 2 + f.size(); }
};

struct AppendSink {
  std::string& out;
  void byte(uint8_t value) { out.push_back(static_cast<char>(value)); }
  void u16(uint16_t value) { append_u16(out, value); }
  void u32(uint32_t value) {
    const char bytes[4] = {static_cast<char>(value >> 24), static_cast<char>((value >> 16) & 0xFF),
                           static_cast<char>((value >> 8) & 0xFF), static_cast<char>(value & 0xFF)};
    out.append(bytes, 4);
  }
  void varint(uint32_t value) {
    char bytes[4];
    out.append(bytes, put_varint(bytes, value));
  }
  void field(std::string_view f) { append_field(out, f); }
};

// Writes the properties that may appear `where`, in identifier order.
template <typename Sink>
void write_properties(const Properties& p, Where where, Sink& sink) {
  namespace prop = property;
  const auto byte = [&](uint8_t id, const auto& slot) {
    if (slot && allowed_in(id, where)) {
      sink.byte(id);
      sink.byte(static_cast<uint8_t>(*slot));
    }
  };
  const auto u16 = [&](uint8_t id, const std::optional<uint16_t>& slot) {
    if (slot && allowed_in(id, where)) {
      sink.byte(id);
      sink.u16(*slot);
    }
  };
  const auto u32 = [&](uint8_t id, const std::optional<uint32_t>& slot) {
    if (slot && allowed_in(id, where)) {
      sink.byte(id);
      sink.u32(*slot);
    }
  };
  const auto field = [&](uint8_t id, const std::optional<std::string_view>& slot) {
    if (slot && allowed_in(id, where)) {
      sink.byte(id);
      sink.field(*slot);
    }
  };
  byte(prop::kPayloadFormatIndicator, p.payload_format_indicator);
  u32(prop::kMessageExpiryInterval, p.message_expiry_interval);
  field(prop::kContentType, p.content_type);
  field(prop::kResponseTopic, p.response_topic);
  field(prop::kCorrelationData, p.correlation_data);
  if (allowed_in(prop::kSubscriptionIdentifier, where)) {
    for (const uint32_t id : p.subscription_identifiers) {
      sink.byte(prop::kSubscriptionIdentifier);
      sink.varint(id);
    }
  }
  u32(prop::kSessionExpiryInterval, p.session_expiry_interval);
  field(prop::kAssignedClientIdentifier, p.assigned_client_identifier);
  u16(prop::kServerKeepAlive, p.server_keep_alive);
  field(prop::kAuthenticationMethod, p.authentication_method);
  field(prop::kAuthenticationData, p.authentication_data);
  byte(prop::kRequestProblemInformation, p.request_problem_information);
  u32(prop::kWillDelayInterval, p.will_delay_interval);
  byte(prop::kRequestResponseInformation, p.request_response_information);
  field(prop::kResponseInformation, p.response_information);
  field(prop::kServerReference, p.server_reference);
  field(prop::kReasonString, p.reason_string);
  u16(prop::kReceiveMaximum, p.receive_maximum);
  u16(prop::kTopicAliasMaximum, p.topic_alias_maximum);
  u16(prop::kTopicAlias, p.topic_alias);
  byte(prop::kMaximumQos, p.maximum_qos);
  byte(prop::kRetainAvailable, p.retain_available);
  for (const auto& [name, value] : p.user_properties) {
    sink.byte(prop::kUserProperty);
    sink.field(name);
    sink.field(value);
  }
  u32(prop::kMaximumPacketSize, p.maximum_packet_size);
  byte(prop::kWildcardSubscriptionAvailable, p.wildcard_subscription_available);
  byte(prop::kSubscriptionIdentifiersAvailable, p.subscription_identifiers_available);
  byte(prop::kSharedSubscriptionAvailable, p.shared_subscription_available);
}

// Bytes of the properties that may appear `where`, without the property length.
size_t properties_size(const Properties& p, Where where) {
  CountSink count;
  write_properties(p, where, count);
  return count.size;
}

// Bytes of the property length and the properties.
inline size_t property_block_size(size_t size) {
  return varint_size(static_cast<uint32_t>(size)) + size;
}

// Appends the property length `size` (from properties_size) and the properties.
void append_properties(std::string& out, const Properties& p, Where where, size_t size) {
  AppendSink sink{out};
  sink.varint(static_cast<uint32_t>(size));
  if (size > 0) write_properties(p, where, sink);
}

// The hot path: most PUBLISH packets carry no property at all.
inline bool no_publish_properties(const Properties& p) {
  return !p.payload_format_indicator && !p.message_expiry_interval && !p.content_type &&
         !p.response_topic && !p.correlation_data && p.subscription_identifiers.empty() &&
         !p.topic_alias && p.user_properties.empty();
}

constexpr bool one_of(uint8_t code, std::initializer_list<uint8_t> codes) {
  for (const uint8_t c : codes) {
    if (c == code) return true;
  }
  return false;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Names

const char* packet_name(PacketType type) {
  switch (type) {
    case PacketType::Connect:
      return "CONNECT";
    case PacketType::Connack:
      return "CONNACK";
    case PacketType::Publish:
      return "PUBLISH";
    case PacketType::Puback:
      return "PUBACK";
    case PacketType::Pubrec:
      return "PUBREC";
    case PacketType::Pubrel:
      return "PUBREL";
    case PacketType::Pubcomp:
      return "PUBCOMP";
    case PacketType::Subscribe:
      return "SUBSCRIBE";
    case PacketType::Suback:
      return "SUBACK";
    case PacketType::Unsubscribe:
      return "UNSUBSCRIBE";
    case PacketType::Unsuback:
      return "UNSUBACK";
    case PacketType::Pingreq:
      return "PINGREQ";
    case PacketType::Pingresp:
      return "PINGRESP";
    case PacketType::Disconnect:
      return "DISCONNECT";
    case PacketType::Auth:
      return "AUTH";
  }
  return "RESERVED";
}

const char* describe(Error error) {
  switch (error) {
    case Error::None:
      return "no error";
    case Error::MalformedRemainingLength:
      return "malformed remaining length";
    case Error::PacketTooLarge:
      return "packet too large";
    case Error::ReservedPacketType:
      return "reserved packet type";
    case Error::InvalidFlags:
      return "invalid fixed header flags";
    case Error::Truncated:
      return "truncated packet";
    case Error::TrailingBytes:
      return "trailing bytes after the last field";
    case Error::InvalidUtf8:
      return "invalid UTF-8 string";
    case Error::InvalidProtocolName:
      return "invalid protocol name";
    case Error::UnsupportedProtocolLevel:
      return "unsupported protocol level";
    case Error::InvalidConnectFlags:
      return "invalid connect flags";
    case Error::InvalidQos:
      return "invalid QoS";
    case Error::InvalidTopicName:
      return "invalid topic name";
    case Error::InvalidTopicFilter:
      return "invalid topic filter";
    case Error::InvalidPacketId:
      return "invalid packet identifier";
    case Error::NoSubscriptions:
      return "no topic filters";
    case Error::InvalidSubscriptionOptions:
      return "invalid subscription options";
    case Error::InvalidReturnCode:
      return "invalid return code";
    case Error::NonMinimalVarint:
      return "variable byte integer not minimally encoded";
    case Error::MalformedProperty:
      return "malformed property";
    case Error::PropertyNotAllowed:
      return "property not allowed in this packet";
    case Error::DuplicateProperty:
      return "duplicate property";
    case Error::InvalidPropertyValue:
      return "invalid property value";
    case Error::MissingProperty:
      return "missing property";
    case Error::InvalidReasonCode:
      return "invalid reason code";
    case Error::InvalidTopicAlias:
      return "invalid topic alias";
    case Error::EmptyTopicWithoutAlias:
      return "empty topic name without topic alias";
    case Error::InvalidSubscriptionValue:
      return "QoS 3 or retain handling 3 in subscription options";
    case Error::NoLocalOnSharedSubscription:
      return "no local on a shared subscription";
  }
  return "unknown error";
}

uint8_t reason_code_for(Error error) {
  switch (error) {
    case Error::None:
      return reason::kSuccess;
    case Error::PacketTooLarge:
      return reason::kPacketTooLarge;
    case Error::InvalidProtocolName:  // 3.1.2.1: "MAY send a CONNACK with 0x84"
    case Error::UnsupportedProtocolLevel:
      return reason::kUnsupportedProtocolVersion;
    case Error::InvalidTopicName:
      return reason::kTopicNameInvalid;
    case Error::InvalidTopicFilter:
      return reason::kTopicFilterInvalid;
    case Error::InvalidTopicAlias:
      return reason::kTopicAliasInvalid;
    // Parsed, but against a rule: Protocol Error.
    case Error::InvalidPacketId:
    case Error::NoSubscriptions:
    case Error::DuplicateProperty:
    case Error::InvalidPropertyValue:
    case Error::MissingProperty:
    case Error::InvalidReasonCode:
    case Error::InvalidReturnCode:
    case Error::EmptyTopicWithoutAlias:
    case Error::InvalidSubscriptionValue:
    case Error::NoLocalOnSharedSubscription:
      return reason::kProtocolError;
    // Cannot be parsed as the specification says: Malformed Packet.
    case Error::MalformedRemainingLength:
    case Error::ReservedPacketType:
    case Error::InvalidFlags:
    case Error::Truncated:
    case Error::TrailingBytes:
    case Error::InvalidUtf8:
    case Error::InvalidConnectFlags:
    case Error::InvalidQos:
    case Error::InvalidSubscriptionOptions:
    case Error::NonMinimalVarint:
    case Error::MalformedProperty:
    case Error::PropertyNotAllowed:
      return reason::kMalformedPacket;
  }
  return reason::kMalformedPacket;
}

bool valid_reason_code(PacketType type, uint8_t code) {
  switch (type) {
    case PacketType::Connack:
      return one_of(code, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                           0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case PacketType::Puback:
    case PacketType::Pubrec:
      return one_of(code, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return one_of(code, {0x00, 0x92});
    case PacketType::Suback:
      return one_of(code, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case PacketType::Unsuback:
      return one_of(code, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case PacketType::Disconnect:
      return one_of(code, {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                           0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                           0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case PacketType::Auth:
      return one_of(code, {0x00, 0x18, 0x19});
    default:
      return false;
  }
}

void Properties::clear() {
  payload_format_indicator.reset();
  message_expiry_interval.reset();
  content_type.reset();
  response_topic.reset();
  correlation_data.reset();
  subscription_identifiers.clear();
  session_expiry_interval.reset();
  assigned_client_identifier.reset();
  server_keep_alive.reset();
  authentication_method.reset();
  authentication_data.reset();
  request_problem_information.reset();
  will_delay_interval.reset();
  request_response_information.reset();
  response_information.reset();
  server_reference.reset();
  reason_string.reset();
  receive_maximum.reset();
  topic_alias_maximum.reset();
  topic_alias.reset();
  maximum_qos.reset();
  retain_available.reset();
  user_properties.clear();
  maximum_packet_size.reset();
  wildcard_subscription_available.reset();
  subscription_identifiers_available.reset();
  shared_subscription_available.reset();
}

bool Properties::empty() const {
  return !payload_format_indicator && !message_expiry_interval && !content_type &&
         !response_topic && !correlation_data && subscription_identifiers.empty() &&
         !session_expiry_interval && !assigned_client_identifier && !server_keep_alive &&
         !authentication_method && !authentication_data && !request_problem_information &&
         !will_delay_interval && !request_response_information && !response_information &&
         !server_reference && !reason_string && !receive_maximum && !topic_alias_maximum &&
         !topic_alias && !maximum_qos && !retain_available && user_properties.empty() &&
         !maximum_packet_size && !wildcard_subscription_available &&
         !subscription_identifiers_available && !shared_subscription_available;
}

// ------------------------------------------------------------------------------------------------
// String rules

bool valid_utf8(std::string_view text) {
  return text.size() <= kMaxStringLength && valid_utf8_payload(text);
}

bool valid_utf8_payload(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // Topics are mostly ASCII: skip eight plain bytes at a time.
    if (n - i >= 8) {
      uint64_t word;
      std::memcpy(&word, p + i, 8);
      if (ascii_without_nul(word)) {
        i += 8;
        continue;
      }
    }
    const unsigned char lead = p[i];
    if (lead < 0x80) {
      if (lead == 0) return false;  // U+0000
      ++i;
      continue;
    }
    // 0x80..0xBF: stray continuation; 0xC0, 0xC1: overlong two-byte forms; 0xF5..: > U+10FFFF.
    if (lead < 0xC2 || lead > 0xF4) return false;
    if (lead < 0xE0) {
      if (n - i < 2 || !is_continuation(p[i + 1])) return false;
      i += 2;
      continue;
    }
    if (lead < 0xF0) {
      if (n - i < 3) return false;
      const unsigned char second = p[i + 1];
      // E0 needs A0..BF (no overlong forms); ED needs 80..9F (no surrogates).
      const unsigned char low = lead == 0xE0 ? 0xA0 : 0x80;
      const unsigned char high = lead == 0xED ? 0x9F : 0xBF;
      if (second < low || second > high || !is_continuation(p[i + 2])) return false;
      i += 3;
      continue;
    }
    if (n - i < 4) return false;
    const unsigned char second = p[i + 1];
    // F0 needs 90..BF (no overlong forms); F4 needs 80..8F (nothing above U+10FFFF).
    const unsigned char low = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xF4 ? 0x8F : 0xBF;
    if (second < low || second > high || !is_continuation(p[i + 2]) || !is_continuation(p[i + 3])) {
      return false;
    }
    i += 4;
  }
  return true;
}

bool valid_topic_name(std::string_view topic) {
  if (topic.empty()) return false;
  // A plain loop: find_first_of("+#") costs a memchr per character, on every PUBLISH.
  for (char c : topic) {
    if (c == '+' || c == '#') return false;
  }
  return valid_utf8(topic);
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.empty() || !valid_utf8(filter)) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = filter.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::string_view level =
        filter.substr(start, last ? std::string_view::npos : slash - start);
    if (level.find_first_of("+#") != std::string_view::npos) {
      if (level.size() != 1) return false;         // "a+", "+a", "a#", "##"
      if (level[0] == '#' && !last) return false;  // "#/a"
    }
    if (last) return true;
    start = slash + 1;
  }
}

// ------------------------------------------------------------------------------------------------
// Framing

FrameStatus next_frame(std::string_view in, uint32_t max_packet_size, Frame& frame) {
  if (in.empty()) return FrameStatus::Incomplete;
  const auto first = static_cast<uint8_t>(in[0]);
  const uint8_t type = first >> 4;
  if (type == 0) return FrameStatus::Malformed;

  uint32_t remaining_length = 0;
  size_t pos = 1;
  for (unsigned shift = 0;; shift += 7) {
    if (pos >= in.size()) return FrameStatus::Incomplete;
    const auto byte = static_cast<uint8_t>(in[pos++]);
    remaining_length |= static_cast<uint32_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) break;
    if (pos == 5) return FrameStatus::Malformed;  // a fourth length byte that continues
  }

  const uint64_t size = pos + static_cast<uint64_t>(remaining_length);
  frame.header.type = static_cast<PacketType>(type);
  frame.header.flags = first & 0x0F;
  frame.header.remaining_length = remaining_length;
  frame.header.header_size = static_cast<uint8_t>(pos);
  frame.body = {};
  if (size > max_packet_size) return FrameStatus::TooLarge;
  if (in.size() < size) return FrameStatus::Incomplete;
  frame.body = in.substr(pos, remaining_length);
  return FrameStatus::Complete;
}

// ------------------------------------------------------------------------------------------------
// Decoders

Error decode_connect(const Frame& frame, Connect& out) {
  out = Connect{};
  if (Error e = check_type(frame, PacketType::Connect); e != Error::None) return e;
  if (Error e = check_zero_flags(frame); e != Error::None) return e;

  Reader in(frame.body);

  // Variable header: protocol name, level, flags, keep alive (MQTT 5: properties).
  std::string_view name;
  uint8_t level = 0;
  if (!in.field(name)) return Error::Truncated;
  out.protocol_name = name;
  if (name != kNameV311 && name != kNameV31) return Error::InvalidProtocolName;
  if (!in.u8(level)) return Error::Truncated;
  out.version = static_cast<Version>(level);
  const bool known = (name == kNameV311 && (level == static_cast<uint8_t>(Version::v311) ||
                                            level == static_cast<uint8_t>(Version::v5))) ||
                     (name == kNameV31 && level == static_cast<uint8_t>(Version::v31));
  if (!known) return Error::UnsupportedProtocolLevel;
  const bool v5 = out.version == Version::v5;
  if (Error e = check_length_encoding(frame, out.version); e != Error::None) return e;

  uint8_t flags = 0;
  if (!in.u8(flags)) return Error::Truncated;
  const bool has_will = (flags & kConnectWill) != 0;
  const uint8_t will_qos = (flags & kConnectWillQosMask) >> kConnectWillQosShift;
  const bool will_retain = (flags & kConnectWillRetain) != 0;
  const bool has_username = (flags & kConnectUsername) != 0;
  const bool has_password = (flags & kConnectPassword) != 0;
  if ((flags & kConnectReserved) != 0) return Error::InvalidConnectFlags;
  if (!has_will && (will_qos != 0 || will_retain)) return Error::InvalidConnectFlags;
  if (will_qos == 3) return Error::InvalidQos;
  // MQTT 5 allows a password without a user name (3.1.2.9).
  if (has_password && !has_username && !v5) return Error::InvalidConnectFlags;
  out.clean_session = (flags & kConnectCleanSession) != 0;

  if (!in.u16(out.keep_alive)) return Error::Truncated;
  if (v5) {
    if (Error e = read_properties(in, kInConnect, out.properties); e != Error::None) return e;
    if (Error e = check_authentication(out.properties); e != Error::None) return e;
  }

  // Payload, in the order the flags announce it.
  if (!in.field(out.client_id)) return Error::Truncated;
  if (Error e = check_text(out.client_id); e != Error::None) return e;

  if (has_will) {
    Will will;
    will.qos = will_qos;
    will.retain = will_retain;
    if (v5) {
      if (Error e = read_properties(in, kInWill, will.properties); e != Error::None) return e;
    }
    if (!in.field(will.topic)) return Error::Truncated;
    if (Error e = check_text(will.topic); e != Error::None) return e;
    if (!valid_topic_name(will.topic)) return Error::InvalidTopicName;
    if (!in.field(will.payload)) return Error::Truncated;
    out.will = std::move(will);
  }
  if (has_username) {
    std::string_view username;
    if (!in.field(username)) return Error::Truncated;
    if (Error e = check_text(username); e != Error::None) return e;
    out.username = username;
  }
  if (has_password) {
    std::string_view password;
    if (!in.field(password)) return Error::Truncated;
    out.password = password;
  }
  return in.empty() ? Error::None : Error::TrailingBytes;
}

Error decode_connack(const Frame& frame, Version version, Connack& out) {
  out = Connack{};
  if (Error e = check_header(frame, PacketType::Connack, version); e != Error::None) return e;

  Reader in(frame.body);
  uint8_t ack_flags = 0;
  uint8_t code = 0;
  if (!in.u8(ack_flags) || !in.u8(code)) return Error::Truncated;
  if (version == Version::v5) {
    // Bits 7..1 reserved [MQTT-3.2.2-1]; no session with a refusal [MQTT-3.2.2-6].
    if ((ack_flags & ~kConnackSessionPresent) != 0) return Error::InvalidConnectFlags;
    if (!valid_reason_code(PacketType::Connack, code)) return Error::InvalidReasonCode;
    if (code != reason::kSuccess && ack_flags != 0) return Error::InvalidConnectFlags;
    out.session_present = ack_flags != 0;
    out.return_code = code;
    if (Error e = read_properties(in, kInConnack, out.properties); e != Error::None) return e;
    if (Error e = check_authentication(out.properties); e != Error::None) return e;
    return in.empty() ? Error::None : Error::TrailingBytes;
  }
  if (!in.empty()) return Error::TrailingBytes;
  // Connect acknowledge flags: bits 7..1 are reserved (3.1 reserves the whole byte; 3.1.1 added
  // Session Present, which a refusal must leave at 0).
  if ((ack_flags & ~kConnackSessionPresent) != 0) return Error::InvalidConnectFlags;
  if (code > kMaxConnackReturnCode) return Error::InvalidReturnCode;
  if (code != connack::kAccepted && ack_flags != 0) return Error::InvalidConnectFlags;
  out.session_present = ack_flags != 0;
  out.return_code = code;
  return Error::None;
}

Error decode_publish(const Frame& frame, Version version, Publish& out) {
  // Field by field rather than `out = Publish{}`: this is the hot path.
  out.topic = {};
  out.payload = {};
  out.qos = 0;
  out.retain = false;
  out.dup = false;
  out.packet_id = 0;
  out.properties.clear();
  if (Error e = check_type(frame, PacketType::Publish); e != Error::None) return e;
  if (Error e = check_version(version); e != Error::None) return e;

  const uint8_t flags = frame.header.flags;
  const uint8_t qos = (flags >> 1) & 0x03;
  const bool dup = (flags & kPublishDup) != 0;
  if (qos == 3 || (dup && qos == 0)) return Error::InvalidQos;
  out.qos = qos;
  out.dup = dup;
  out.retain = (flags & kPublishRetain) != 0;
  const bool v5 = version == Version::v5;
  if (v5) {
    if (Error e = check_length_encoding(frame, version); e != Error::None) return e;
  }

  Reader in(frame.body);
  if (!in.field(out.topic)) return Error::Truncated;
  if (Error e = check_text(out.topic); e != Error::None) return e;
  // MQTT 5: an empty topic name stands for the one a topic alias names (checked below).
  if (!(v5 && out.topic.empty()) && !valid_topic_name(out.topic)) return Error::InvalidTopicName;
  if (qos > 0) {
    if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  }
  if (v5) {
    // Most PUBLISH packets have an empty property block: one zero byte.
    uint8_t none = 0;
    if (in.peek() == 0) {
      in.u8(none);
    } else if (Error e = read_properties(in, kInPublish, out.properties); e != Error::None) {
      return e;
    }
    if (out.topic.empty() && !out.properties.topic_alias) return Error::EmptyTopicWithoutAlias;
  }
  out.payload = in.rest();
  return Error::None;
}

Error decode_ack(const Frame& frame, Version version, uint16_t& packet_id) {
  packet_id = 0;
  const PacketType type = frame.header.type;
  if (type != PacketType::Puback && type != PacketType::Pubrec && type != PacketType::Pubrel &&
      type != PacketType::Pubcomp && type != PacketType::Unsuback) {
    return Error::ReservedPacketType;
  }
  if (Error e = check_version(version); e != Error::None) return e;
  if (version == Version::v5) {
    Error error = Error::None;
    uint16_t id = 0;
    if (type == PacketType::Unsuback) {
      Unsuback unsuback;
      error = decode_unsuback(frame, version, unsuback);
      id = unsuback.packet_id;
    } else {
      Ack ack;
      error = decode_ack(frame, version, ack);
      id = ack.packet_id;
    }
    if (error == Error::None) packet_id = id;
    return error;
  }
  const Error flags_error =
      type == PacketType::Pubrel ? check_required_flags(frame, version) : check_zero_flags(frame);
  if (flags_error != Error::None) return flags_error;

  Reader in(frame.body);
  uint16_t id = 0;
  if (Error e = read_packet_id(in, id); e != Error::None) return e;
  if (!in.empty()) return Error::TrailingBytes;
  packet_id = id;
  return Error::None;
}

Error decode_ack(const Frame& frame, Version version, Ack& out) {
  // Field by field rather than `out = Ack{}`: the broker decodes one per QoS 1/2 delivery.
  out.packet_id = 0;
  out.reason_code = 0;
  out.properties.clear();
  const PacketType type = frame.header.type;
  if (type != PacketType::Puback && type != PacketType::Pubrec && type != PacketType::Pubrel &&
      type != PacketType::Pubcomp) {
    return Error::ReservedPacketType;
  }
  if (Error e = check_version(version); e != Error::None) return e;
  const Error flags_error =
      type == PacketType::Pubrel ? check_required_flags(frame, version) : check_zero_flags(frame);
  if (flags_error != Error::None) return flags_error;
  if (Error e = check_length_encoding(frame, version); e != Error::None) return e;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (version != Version::v5) return in.empty() ? Error::None : Error::TrailingBytes;
  // Remaining length 2: success without properties; 3: no property length.
  if (in.empty()) return Error::None;
  in.u8(out.reason_code);
  if (!valid_reason_code(type, out.reason_code)) return Error::InvalidReasonCode;
  if (in.empty()) return Error::None;
  if (Error e = read_properties(in, kInAck, out.properties); e != Error::None) return e;
  return in.empty() ? Error::None : Error::TrailingBytes;
}

Error decode_subscribe(const Frame& frame, Version version, Subscribe& out) {
  out.packet_id = 0;
  out.subscriptions.clear();
  out.properties.clear();
  if (Error e = check_header(frame, PacketType::Subscribe, version); e != Error::None) return e;
  const bool v5 = version == Version::v5;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (v5) {
    if (Error e = read_properties(in, kInSubscribe, out.properties); e != Error::None) return e;
  }
  if (in.empty()) return Error::NoSubscriptions;
  while (!in.empty()) {
    Subscription sub;
    const Error filter_error = v5 ? read_filter_v5(in, sub.filter) : read_filter(in, sub.filter);
    if (filter_error != Error::None) return filter_error;
    uint8_t options = 0;
    if (!in.u8(options)) return Error::Truncated;
    if (!v5) {
      if ((options & 0xFC) != 0) return Error::InvalidSubscriptionOptions;
      if (options == 3) return Error::InvalidQos;
      sub.qos = options;
    } else {
      // Bits 7-6 reserved [MQTT-3.8.3-5]; 5-4 retain handling; 3 retain as published; 2 no
      // local; 1-0 maximum QoS.
      if ((options & 0xC0) != 0) return Error::InvalidSubscriptionOptions;
      sub.qos = options & 0x03;
      sub.no_local = (options & 0x04) != 0;
      sub.retain_as_published = (options & 0x08) != 0;
      sub.retain_handling = (options >> 4) & 0x03;
      if (sub.qos == 3 || sub.retain_handling == 3) return Error::InvalidSubscriptionValue;
      if (sub.no_local && is_shared(sub.filter)) return Error::NoLocalOnSharedSubscription;
    }
    out.subscriptions.push_back(sub);
  }
  return Error::None;
}

Error decode_suback(const Frame& frame, Version version, Suback& out) {
  out.packet_id = 0;
  out.return_codes.clear();
  out.properties.clear();
  if (Error e = check_header(frame, PacketType::Suback, version); e != Error::None) return e;
  const bool v5 = version == Version::v5;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (v5) {
    if (Error e = read_properties(in, kInSuback, out.properties); e != Error::None) return e;
  }
  if (in.empty()) return Error::NoSubscriptions;
  const std::string_view codes = in.rest();
  for (const char c : codes) {
    const auto code = static_cast<uint8_t>(c);
    if (v5) {
      if (!valid_reason_code(PacketType::Suback, code)) return Error::InvalidReasonCode;
    } else if (code > 2 && code != kSubackFailure) {
      return Error::InvalidReturnCode;
    }
  }
  out.return_codes.assign(codes.begin(), codes.end());
  return Error::None;
}

Error decode_unsubscribe(const Frame& frame, Version version, Unsubscribe& out) {
  out.packet_id = 0;
  out.filters.clear();
  out.properties.clear();
  if (Error e = check_header(frame, PacketType::Unsubscribe, version); e != Error::None) return e;
  const bool v5 = version == Version::v5;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (v5) {
    if (Error e = read_properties(in, kInUnsubscribe, out.properties); e != Error::None) return e;
  }
  if (in.empty()) return Error::NoSubscriptions;
  while (!in.empty()) {
    std::string_view filter;
    const Error filter_error = v5 ? read_filter_v5(in, filter) : read_filter(in, filter);
    if (filter_error != Error::None) return filter_error;
    out.filters.push_back(filter);
  }
  return Error::None;
}

Error decode_unsuback(const Frame& frame, Version version, Unsuback& out) {
  out.packet_id = 0;
  out.reason_codes.clear();
  out.properties.clear();
  if (Error e = check_header(frame, PacketType::Unsuback, version); e != Error::None) return e;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (version != Version::v5) return in.empty() ? Error::None : Error::TrailingBytes;
  if (Error e = read_properties(in, kInUnsuback, out.properties); e != Error::None) return e;
  if (in.empty()) return Error::NoSubscriptions;
  const std::string_view codes = in.rest();
  for (const char c : codes) {
    if (!valid_reason_code(PacketType::Unsuback, static_cast<uint8_t>(c))) {
      return Error::InvalidReasonCode;
    }
  }
  out.reason_codes.assign(codes.begin(), codes.end());
  return Error::None;
}

Error decode_empty(const Frame& frame, Version version) {
  const PacketType type = frame.header.type;
  if (type != PacketType::Pingreq && type != PacketType::Pingresp &&
      type != PacketType::Disconnect) {
    return Error::ReservedPacketType;
  }
  if (Error e = check_version(version); e != Error::None) return e;
  if (version == Version::v5 && type == PacketType::Disconnect) {
    Disconnect disconnect;
    return decode_disconnect(frame, version, disconnect);
  }
  if (Error e = check_zero_flags(frame); e != Error::None) return e;
  if (Error e = check_length_encoding(frame, version); e != Error::None) return e;
  return frame.body.empty() ? Error::None : Error::TrailingBytes;
}

Error decode_disconnect(const Frame& frame, Version version, Disconnect& out) {
  out = Disconnect{};
  if (Error e = check_header(frame, PacketType::Disconnect, version); e != Error::None) return e;
  if (version != Version::v5) return frame.body.empty() ? Error::None : Error::TrailingBytes;

  // Remaining length 0: normal disconnection; 1: a reason code without properties.
  Reader in(frame.body);
  if (in.empty()) return Error::None;
  in.u8(out.reason_code);
  if (!valid_reason_code(PacketType::Disconnect, out.reason_code)) {
    return Error::InvalidReasonCode;
  }
  if (in.empty()) return Error::None;
  if (Error e = read_properties(in, kInDisconnect, out.properties); e != Error::None) return e;
  return in.empty() ? Error::None : Error::TrailingBytes;
}

Error decode_auth(const Frame& frame, Version version, Auth& out) {
  out = Auth{};
  if (Error e = check_type(frame, PacketType::Auth); e != Error::None) return e;
  if (version == Version::v31 || version == Version::v311) return Error::ReservedPacketType;
  if (Error e = check_version(version); e != Error::None) return e;
  if (Error e = check_zero_flags(frame); e != Error::None) return e;
  if (Error e = check_length_encoding(frame, version); e != Error::None) return e;

  // Remaining length 0: success without properties. Otherwise both follow (no short form of 1).
  Reader in(frame.body);
  if (in.empty()) return Error::None;
  in.u8(out.reason_code);
  if (!valid_reason_code(PacketType::Auth, out.reason_code)) return Error::InvalidReasonCode;
  if (Error e = read_properties(in, kInAuth, out.properties); e != Error::None) return e;
  // "It is a Protocol Error to omit the Authentication Method" (3.15.2.2.2).
  if (!out.properties.authentication_method) return Error::MissingProperty;
  return in.empty() ? Error::None : Error::TrailingBytes;
}

// ------------------------------------------------------------------------------------------------
// Encoders. They trust their input: strings of at most 65535 bytes, QoS 0..2, packet ids non-zero
// where needed, reason codes and property values the specification allows, packets below
// 256 MiB. The broker validates what it forwards.

void encode_connect(std::string& out, const Connect& packet) {
  std::string_view name = packet.protocol_name;
  if (name.empty()) name = packet.version == Version::v31 ? kNameV31 : kNameV311;
  const bool v5 = packet.version == Version::v5;

  uint8_t flags = 0;
  size_t remaining = 2 + name.size() + 1 + 1 + 2 + 2 + packet.client_id.size();
  size_t properties = 0;
  size_t will_properties = 0;
  if (v5) {
    properties = properties_size(packet.properties, kInConnect);
    remaining += property_block_size(properties);
  }
  if (packet.clean_session) flags |= kConnectCleanSession;
  if (packet.will) {
    flags |= kConnectWill;
    flags |= static_cast<uint8_t>((packet.will->qos & 0x03) << kConnectWillQosShift);
    if (packet.will->retain) flags |= kConnectWillRetain;
    remaining += 2 + packet.will->topic.size() + 2 + packet.will->payload.size();
    if (v5) {
      will_properties = properties_size(packet.will->properties, kInWill);
      remaining += property_block_size(will_properties);
    }
  }
  if (packet.username) {
    flags |= kConnectUsername;
    remaining += 2 + packet.username->size();
  }
  if (packet.password) {
    flags |= kConnectPassword;
    remaining += 2 + packet.password->size();
  }

  const auto remaining_length = static_cast<uint32_t>(remaining);
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining);
  append_fixed_header(out, first_byte(PacketType::Connect, 0), remaining_length);
  append_field(out, name);
  out.push_back(static_cast<char>(packet.version));
  out.push_back(static_cast<char>(flags));
  append_u16(out, packet.keep_alive);
  if (v5) append_properties(out, packet.properties, kInConnect, properties);
  append_field(out, packet.client_id);
  if (packet.will) {
    if (v5) append_properties(out, packet.will->properties, kInWill, will_properties);
    append_field(out, packet.will->topic);
    append_field(out, packet.will->payload);
  }
  if (packet.username) append_field(out, *packet.username);
  if (packet.password) append_field(out, *packet.password);
}

void encode_connack(std::string& out, const Connack& packet) {
  const char bytes[4] = {static_cast<char>(first_byte(PacketType::Connack, 0)), 2,
                         static_cast<char>(packet.session_present ? kConnackSessionPresent : 0),
                         static_cast<char>(packet.return_code)};
  out.append(bytes, sizeof bytes);
}

size_t publish_size(std::string_view topic, std::string_view payload, uint8_t qos) {
  const size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  return 1 + varint_size(static_cast<uint32_t>(remaining)) + remaining;
}

void encode_publish(std::string& out, const Publish& packet) {
  encode_publish(out, packet, Version::v311);
}

void encode_connack(std::string& out, const Connack& packet, Version version) {
  if (version != Version::v5) return encode_connack(out, packet);
  const size_t properties = properties_size(packet.properties, kInConnack);
  const auto remaining_length = static_cast<uint32_t>(2 + property_block_size(properties));
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining_length);
  append_fixed_header(out, first_byte(PacketType::Connack, 0), remaining_length);
  out.push_back(static_cast<char>(packet.session_present ? kConnackSessionPresent : 0));
  out.push_back(static_cast<char>(packet.return_code));
  append_properties(out, packet.properties, kInConnack, properties);
}

size_t publish_size(const Publish& packet, Version version) {
  if (version != Version::v5) return publish_size(packet.topic, packet.payload, packet.qos);
  const size_t properties =
      no_publish_properties(packet.properties) ? 0 : properties_size(packet.properties, kInPublish);
  const size_t remaining = 2 + packet.topic.size() + (packet.qos > 0 ? 2 : 0) +
                           property_block_size(properties) + packet.payload.size();
  return 1 + varint_size(static_cast<uint32_t>(remaining)) + remaining;
}

namespace {

// PUBLISH from its parts; `properties` null: none (MQTT 5: an empty property block), and
// `property_size` their size from properties_size otherwise.
inline void encode_publish_parts(std::string& out, std::string_view topic, std::string_view payload,
                                 uint8_t qos, bool retain, bool dup, uint16_t packet_id, bool v5,
                                 const Properties* properties, size_t property_size) {
  const size_t property_bytes = v5 ? property_block_size(property_size) : 0;
  qos &= 0x03;
  const size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + property_bytes + payload.size();
  uint8_t flags = static_cast<uint8_t>(qos << 1);
  if (dup) flags |= kPublishDup;
  if (retain) flags |= kPublishRetain;

  // Everything before the payload (fixed header, topic, packet identifier and, for MQTT 5
  // without properties, the zero property length) goes in one append when the topic is short,
  // as topics usually are: each append costs a capacity check and a call.
  constexpr size_t kShortTopic = 96;
  char head[7 + kShortTopic + 3];
  head[0] = static_cast<char>(first_byte(PacketType::Publish, flags));
  size_t n = 1 + put_varint(head + 1, static_cast<uint32_t>(remaining));
  put_u16(head + n, static_cast<uint16_t>(topic.size()));
  n += 2;
  out.reserve(out.size() + n + remaining - 2);
  if (topic.size() <= kShortTopic) {
    // (An empty topic, as with a topic alias, may be a null view: memcpy may not see it.)
    if (!topic.empty()) std::memcpy(head + n, topic.data(), topic.size());
    n += topic.size();
  } else {
    out.append(head, n);
    out.append(topic);
    n = 0;
  }
  if (qos > 0) {
    put_u16(head + n, packet_id);
    n += 2;
  }
  if (v5 && !properties) head[n++] = '\0';
  if (n > 0) out.append(head, n);
  if (v5 && properties) append_properties(out, *properties, kInPublish, property_size);
  out.append(payload);
}

}  // namespace

void encode_publish(std::string& out, const Publish& packet, Version version) {
  // MQTT 5 adds a property block; without properties (the usual case) that is one zero byte.
  const bool v5 = version == Version::v5;
  const bool bare = !v5 || no_publish_properties(packet.properties);
  encode_publish_parts(out, packet.topic, packet.payload, packet.qos, packet.retain, packet.dup,
                       packet.packet_id, v5, bare ? nullptr : &packet.properties,
                       bare ? 0 : properties_size(packet.properties, kInPublish));
}

void encode_publish_bare(std::string& out, std::string_view topic, std::string_view payload,
                         uint8_t qos, bool retain, bool dup, uint16_t packet_id, Version version) {
  encode_publish_parts(out, topic, payload, qos, retain, dup, packet_id, version == Version::v5,
                       nullptr, 0);
}

void encode_ack(std::string& out, PacketType type, uint16_t packet_id) {
  const uint8_t flags = type == PacketType::Pubrel ? kRequiredFlags : 0;
  const char bytes[4] = {static_cast<char>(first_byte(type, flags)), 2,
                         static_cast<char>(packet_id >> 8), static_cast<char>(packet_id & 0xFF)};
  out.append(bytes, sizeof bytes);
}

void encode_ack(std::string& out, PacketType type, const Ack& packet, Version version) {
  if (version != Version::v5) return encode_ack(out, type, packet.packet_id);
  const size_t properties = properties_size(packet.properties, kInAck);
  // The short forms: no reason code for success without properties, no property length when
  // there are no properties.
  size_t remaining = 2;
  if (properties > 0) {
    remaining += 1 + property_block_size(properties);
  } else if (packet.reason_code != reason::kSuccess) {
    remaining += 1;
  }
  const auto remaining_length = static_cast<uint32_t>(remaining);
  const uint8_t flags = type == PacketType::Pubrel ? kRequiredFlags : 0;
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining);
  append_fixed_header(out, first_byte(type, flags), remaining_length);
  append_u16(out, packet.packet_id);
  if (remaining > 2) out.push_back(static_cast<char>(packet.reason_code));
  if (properties > 0) append_properties(out, packet.properties, kInAck, properties);
}

void encode_subscribe(std::string& out, const Subscribe& packet) {
  size_t remaining = 2;
  for (const Subscription& sub : packet.subscriptions)
    remaining += 2 + sub.filter.size() + 1;
  const auto remaining_length = static_cast<uint32_t>(remaining);
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining);
  append_fixed_header(out, first_byte(PacketType::Subscribe, kRequiredFlags), remaining_length);
  append_u16(out, packet.packet_id);
  for (const Subscription& sub : packet.subscriptions) {
    append_field(out, sub.filter);
    out.push_back(static_cast<char>(sub.qos));
  }
}

void encode_subscribe(std::string& out, const Subscribe& packet, Version version) {
  if (version != Version::v5) return encode_subscribe(out, packet);
  const size_t properties = properties_size(packet.properties, kInSubscribe);
  size_t remaining = 2 + property_block_size(properties);
  for (const Subscription& sub : packet.subscriptions)
    remaining += 2 + sub.filter.size() + 1;
  const auto remaining_length = static_cast<uint32_t>(remaining);
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining);
  append_fixed_header(out, first_byte(PacketType::Subscribe, kRequiredFlags), remaining_length);
  append_u16(out, packet.packet_id);
  append_properties(out, packet.properties, kInSubscribe, properties);
  for (const Subscription& sub : packet.subscriptions) {
    append_field(out, sub.filter);
    uint8_t options = sub.qos & 0x03;
    if (sub.no_local) options |= 0x04;
    if (sub.retain_as_published) options |= 0x08;
    options |= static_cast<uint8_t>((sub.retain_handling & 0x03) << 4);
    out.push_back(static_cast<char>(options));
  }
}

void encode_suback(std::string& out, const Suback& packet) {
  const auto remaining_length = static_cast<uint32_t>(2 + packet.return_codes.size());
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining_length);
  append_fixed_header(out, first_byte(PacketType::Suback, 0), remaining_length);
  append_u16(out, packet.packet_id);
  for (const uint8_t code : packet.return_codes)
    out.push_back(static_cast<char>(code));
}

void encode_suback(std::string& out, const Suback& packet, Version version) {
  if (version != Version::v5) return encode_suback(out, packet);
  const size_t properties = properties_size(packet.properties, kInSuback);
  const auto remaining_length =
      static_cast<uint32_t>(2 + property_block_size(properties) + packet.return_codes.size());
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining_length);
  append_fixed_header(out, first_byte(PacketType::Suback, 0), remaining_length);
  append_u16(out, packet.packet_id);
  append_properties(out, packet.properties, kInSuback, properties);
  for (const uint8_t code : packet.return_codes)
    out.push_back(static_cast<char>(code));
}

void encode_unsubscribe(std::string& out, const Unsubscribe& packet) {
  size_t remaining = 2;
  for (const std::string_view filter : packet.filters)
    remaining += 2 + filter.size();
  const auto remaining_length = static_cast<uint32_t>(remaining);
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining);
  append_fixed_header(out, first_byte(PacketType::Unsubscribe, kRequiredFlags), remaining_length);
  append_u16(out, packet.packet_id);
  for (const std::string_view filter : packet.filters)
    append_field(out, filter);
}

void encode_unsubscribe(std::string& out, const Unsubscribe& packet, Version version) {
  if (version != Version::v5) return encode_unsubscribe(out, packet);
  const size_t properties = properties_size(packet.properties, kInUnsubscribe);
  size_t remaining = 2 + property_block_size(properties);
  for (const std::string_view filter : packet.filters)
    remaining += 2 + filter.size();
  const auto remaining_length = static_cast<uint32_t>(remaining);
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining);
  append_fixed_header(out, first_byte(PacketType::Unsubscribe, kRequiredFlags), remaining_length);
  append_u16(out, packet.packet_id);
  append_properties(out, packet.properties, kInUnsubscribe, properties);
  for (const std::string_view filter : packet.filters)
    append_field(out, filter);
}

void encode_unsuback(std::string& out, const Unsuback& packet, Version version) {
  if (version != Version::v5) return encode_ack(out, PacketType::Unsuback, packet.packet_id);
  const size_t properties = properties_size(packet.properties, kInUnsuback);
  const auto remaining_length =
      static_cast<uint32_t>(2 + property_block_size(properties) + packet.reason_codes.size());
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining_length);
  append_fixed_header(out, first_byte(PacketType::Unsuback, 0), remaining_length);
  append_u16(out, packet.packet_id);
  append_properties(out, packet.properties, kInUnsuback, properties);
  for (const uint8_t code : packet.reason_codes)
    out.push_back(static_cast<char>(code));
}

void encode_empty(std::string& out, PacketType type) {
  const char bytes[2] = {static_cast<char>(first_byte(type, 0)), 0};
  out.append(bytes, sizeof bytes);
}

// DISCONNECT and AUTH: a reason code and properties, both left out for success without
// properties; DISCONNECT also leaves out an empty property length.
namespace {
void encode_reason_packet(std::string& out, PacketType type, uint8_t reason_code,
                          const Properties& p, Where where, bool short_reason_only) {
  const size_t properties = properties_size(p, where);
  size_t remaining = 0;
  if (properties > 0 || (reason_code != reason::kSuccess && !short_reason_only)) {
    remaining = 1 + property_block_size(properties);
  } else if (reason_code != reason::kSuccess) {
    remaining = 1;
  }
  const auto remaining_length = static_cast<uint32_t>(remaining);
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining);
  append_fixed_header(out, first_byte(type, 0), remaining_length);
  if (remaining == 0) return;
  out.push_back(static_cast<char>(reason_code));
  if (remaining > 1) append_properties(out, p, where, properties);
}
}  // namespace

void encode_disconnect(std::string& out, const Disconnect& packet, Version version) {
  if (version != Version::v5) return encode_empty(out, PacketType::Disconnect);
  encode_reason_packet(out, PacketType::Disconnect, packet.reason_code, packet.properties,
                       kInDisconnect, true);
}

void encode_auth(std::string& out, const Auth& packet) {
  encode_reason_packet(out, PacketType::Auth, packet.reason_code, packet.properties, kInAuth,
                       false);
}

}  // namespace fieldgate::mqtt
