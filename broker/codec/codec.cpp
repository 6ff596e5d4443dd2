// The MQTT 3.1 / 3.1.1 wire codec. See codec.h for the contract.
//
// Layout of this file: string rules, framing, a bounds-checked reader used by every decoder, the
// decoders (one per packet family), then the encoders. MQTT 5 will insert its properties right
// after each variable header, which is why every decoder reads the variable header and the
// payload as separate steps and receives the connection's version.
#include "broker/codec/codec.h"

#include <cstring>

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

  bool empty() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

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
  return version == Version::v31 || version == Version::v311 ? Error::None
                                                             : Error::UnsupportedProtocolLevel;
}

// AUTH exists only in MQTT 5, which this codec does not decode yet; any other type that is not
// the decoder's own is a caller bug, reported the same way rather than decoded as something else.
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
  }
  return "unknown error";
}

// ------------------------------------------------------------------------------------------------
// String rules

bool valid_utf8(std::string_view text) {
  if (text.size() > kMaxStringLength) return false;
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
  if (topic.find_first_of("+#") != std::string_view::npos) return false;
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

  // Variable header: protocol name, level, flags, keep alive.
  std::string_view name;
  uint8_t level = 0;
  if (!in.field(name)) return Error::Truncated;
  out.protocol_name = name;
  if (name != kNameV311 && name != kNameV31) return Error::InvalidProtocolName;
  if (!in.u8(level)) return Error::Truncated;
  out.version = static_cast<Version>(level);
  const bool known = (name == kNameV311 && level == static_cast<uint8_t>(Version::v311)) ||
                     (name == kNameV31 && level == static_cast<uint8_t>(Version::v31));
  if (!known) return Error::UnsupportedProtocolLevel;

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
  if (has_password && !has_username) return Error::InvalidConnectFlags;
  out.clean_session = (flags & kConnectCleanSession) != 0;

  if (!in.u16(out.keep_alive)) return Error::Truncated;

  // Payload, in the order the flags announce it.
  if (!in.field(out.client_id)) return Error::Truncated;
  if (Error e = check_text(out.client_id); e != Error::None) return e;

  if (has_will) {
    Will will;
    will.qos = will_qos;
    will.retain = will_retain;
    if (!in.field(will.topic)) return Error::Truncated;
    if (Error e = check_text(will.topic); e != Error::None) return e;
    if (!valid_topic_name(will.topic)) return Error::InvalidTopicName;
    if (!in.field(will.payload)) return Error::Truncated;
    out.will = will;
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
  if (Error e = check_type(frame, PacketType::Connack); e != Error::None) return e;
  if (Error e = check_version(version); e != Error::None) return e;
  if (Error e = check_zero_flags(frame); e != Error::None) return e;

  Reader in(frame.body);
  uint8_t ack_flags = 0;
  uint8_t code = 0;
  if (!in.u8(ack_flags) || !in.u8(code)) return Error::Truncated;
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
  out = Publish{};
  if (Error e = check_type(frame, PacketType::Publish); e != Error::None) return e;
  if (Error e = check_version(version); e != Error::None) return e;

  const uint8_t flags = frame.header.flags;
  const uint8_t qos = (flags >> 1) & 0x03;
  const bool dup = (flags & kPublishDup) != 0;
  if (qos == 3 || (dup && qos == 0)) return Error::InvalidQos;
  out.qos = qos;
  out.dup = dup;
  out.retain = (flags & kPublishRetain) != 0;

  Reader in(frame.body);
  if (!in.field(out.topic)) return Error::Truncated;
  if (Error e = check_text(out.topic); e != Error::None) return e;
  if (!valid_topic_name(out.topic)) return Error::InvalidTopicName;
  if (qos > 0) {
    if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
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

Error decode_subscribe(const Frame& frame, Version version, Subscribe& out) {
  out.packet_id = 0;
  out.subscriptions.clear();
  if (Error e = check_type(frame, PacketType::Subscribe); e != Error::None) return e;
  if (Error e = check_version(version); e != Error::None) return e;
  if (Error e = check_required_flags(frame, version); e != Error::None) return e;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (in.empty()) return Error::NoSubscriptions;
  while (!in.empty()) {
    Subscription sub;
    if (Error e = read_filter(in, sub.filter); e != Error::None) return e;
    uint8_t options = 0;
    if (!in.u8(options)) return Error::Truncated;
    if ((options & 0xFC) != 0) return Error::InvalidSubscriptionOptions;
    if (options == 3) return Error::InvalidQos;
    sub.qos = options;
    out.subscriptions.push_back(sub);
  }
  return Error::None;
}

Error decode_suback(const Frame& frame, Version version, Suback& out) {
  out.packet_id = 0;
  out.return_codes.clear();
  if (Error e = check_type(frame, PacketType::Suback); e != Error::None) return e;
  if (Error e = check_version(version); e != Error::None) return e;
  if (Error e = check_zero_flags(frame); e != Error::None) return e;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (in.empty()) return Error::NoSubscriptions;
  const std::string_view codes = in.rest();
  for (const char c : codes) {
    const auto code = static_cast<uint8_t>(c);
    if (code > 2 && code != kSubackFailure) return Error::InvalidReturnCode;
  }
  out.return_codes.assign(codes.begin(), codes.end());
  return Error::None;
}

Error decode_unsubscribe(const Frame& frame, Version version, Unsubscribe& out) {
  out.packet_id = 0;
  out.filters.clear();
  if (Error e = check_type(frame, PacketType::Unsubscribe); e != Error::None) return e;
  if (Error e = check_version(version); e != Error::None) return e;
  if (Error e = check_required_flags(frame, version); e != Error::None) return e;

  Reader in(frame.body);
  if (Error e = read_packet_id(in, out.packet_id); e != Error::None) return e;
  if (in.empty()) return Error::NoSubscriptions;
  while (!in.empty()) {
    std::string_view filter;
    if (Error e = read_filter(in, filter); e != Error::None) return e;
    out.filters.push_back(filter);
  }
  return Error::None;
}

Error decode_empty(const Frame& frame, Version version) {
  const PacketType type = frame.header.type;
  if (type != PacketType::Pingreq && type != PacketType::Pingresp &&
      type != PacketType::Disconnect) {
    return Error::ReservedPacketType;
  }
  if (Error e = check_version(version); e != Error::None) return e;
  if (Error e = check_zero_flags(frame); e != Error::None) return e;
  return frame.body.empty() ? Error::None : Error::TrailingBytes;
}

// ------------------------------------------------------------------------------------------------
// Encoders. They trust their input: strings of at most 65535 bytes, QoS 0..2, packet ids non-zero
// where needed, packets below 256 MiB. The broker validates what it forwards.

void encode_connect(std::string& out, const Connect& packet) {
  std::string_view name = packet.protocol_name;
  if (name.empty()) name = packet.version == Version::v31 ? kNameV31 : kNameV311;

  uint8_t flags = 0;
  size_t remaining = 2 + name.size() + 1 + 1 + 2 + 2 + packet.client_id.size();
  if (packet.clean_session) flags |= kConnectCleanSession;
  if (packet.will) {
    flags |= kConnectWill;
    flags |= static_cast<uint8_t>((packet.will->qos & 0x03) << kConnectWillQosShift);
    if (packet.will->retain) flags |= kConnectWillRetain;
    remaining += 2 + packet.will->topic.size() + 2 + packet.will->payload.size();
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
  append_field(out, packet.client_id);
  if (packet.will) {
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
  const uint8_t qos = packet.qos & 0x03;
  const size_t remaining = 2 + packet.topic.size() + (qos > 0 ? 2 : 0) + packet.payload.size();
  uint8_t flags = static_cast<uint8_t>(qos << 1);
  if (packet.dup) flags |= kPublishDup;
  if (packet.retain) flags |= kPublishRetain;

  // Fixed header, topic length: at most 1 + 4 + 2 bytes, appended in one go.
  char head[7];
  head[0] = static_cast<char>(first_byte(PacketType::Publish, flags));
  size_t n = 1 + put_varint(head + 1, static_cast<uint32_t>(remaining));
  put_u16(head + n, static_cast<uint16_t>(packet.topic.size()));
  n += 2;

  out.reserve(out.size() + n + remaining - 2);
  out.append(head, n);
  out.append(packet.topic);
  if (qos > 0) append_u16(out, packet.packet_id);
  out.append(packet.payload);
}

void encode_ack(std::string& out, PacketType type, uint16_t packet_id) {
  const uint8_t flags = type == PacketType::Pubrel ? kRequiredFlags : 0;
  const char bytes[4] = {static_cast<char>(first_byte(type, flags)), 2,
                         static_cast<char>(packet_id >> 8), static_cast<char>(packet_id & 0xFF)};
  out.append(bytes, sizeof bytes);
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

void encode_suback(std::string& out, const Suback& packet) {
  const auto remaining_length = static_cast<uint32_t>(2 + packet.return_codes.size());
  out.reserve(out.size() + 1 + varint_size(remaining_length) + remaining_length);
  append_fixed_header(out, first_byte(PacketType::Suback, 0), remaining_length);
  append_u16(out, packet.packet_id);
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

void encode_empty(std::string& out, PacketType type) {
  const char bytes[2] = {static_cast<char>(first_byte(type, 0)), 0};
  out.append(bytes, sizeof bytes);
}

}  // namespace fieldgate::mqtt
