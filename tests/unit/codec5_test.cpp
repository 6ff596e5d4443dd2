// Tests of the MQTT 5 part of the wire codec (broker/codec/codec.h): properties, reason codes,
// the MQTT 5 forms of every packet, and the mapping from errors to reason codes.
//
// As in codec_test.cpp, expected bytes are built by small helpers independent of the codec, and
// the rules (which property goes where, which reason code each packet allows) are written out
// here again from the specification rather than taken from the codec.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/codec/codec.h"
#include "tests/unit/codec_wire.h"

namespace fieldgate::mqtt {

void PrintTo(Error error, std::ostream* os) {
  *os << "Error(" << static_cast<int>(error) << ": " << describe(error) << ")";
}

namespace {

using namespace wire;  // NOLINT: the helpers are the vocabulary of these tests

constexpr Version v5 = Version::v5;

// Property encodings.
std::string p_byte(int id, int value) {
  return bytes({id, value});
}
std::string p_u16(int id, uint16_t value) {
  return bytes({id}) + u16(value);
}
std::string p_u32(int id, uint32_t value) {
  return bytes({id}) + u32(value);
}
std::string p_field(int id, std::string_view value) {
  return bytes({id}) + field(value);
}
std::string p_varint(int id, uint32_t value) {
  return bytes({id}) + varint(value);
}
std::string p_pair(std::string_view name, std::string_view value) {
  return bytes({0x26}) + field(name) + field(value);
}
// A property length and the properties.
std::string props(std::string_view list) {
  return varint(static_cast<uint32_t>(list.size())) + std::string(list);
}

// ================================================================================================
// Where each property may appear, written out from section 2.2.2.2 of the specification.

enum class Ctx {
  Connect,
  Will,
  Connack,
  Publish,
  Puback,
  Pubrec,
  Pubrel,
  Pubcomp,
  Subscribe,
  Suback,
  Unsubscribe,
  Unsuback,
  Disconnect,
  Auth,
};

const Ctx kAllCtx[] = {Ctx::Connect,    Ctx::Will,   Ctx::Connack,     Ctx::Publish,
                       Ctx::Puback,     Ctx::Pubrec, Ctx::Pubrel,      Ctx::Pubcomp,
                       Ctx::Subscribe,  Ctx::Suback, Ctx::Unsubscribe, Ctx::Unsuback,
                       Ctx::Disconnect, Ctx::Auth};

const char* ctx_name(Ctx c) {
  static const char* const kNames[] = {
      "CONNECT", "WILL",      "CONNACK", "PUBLISH",     "PUBACK",   "PUBREC",     "PUBREL",
      "PUBCOMP", "SUBSCRIBE", "SUBACK",  "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"};
  return kNames[static_cast<int>(c)];
}

struct PropertyCase {
  int id;
  const char* name;
  std::string encoded;  // one valid occurrence
  std::set<Ctx> allowed;
};

const std::set<Ctx> kAcks = {Ctx::Puback, Ctx::Pubrec, Ctx::Pubrel, Ctx::Pubcomp};

std::vector<PropertyCase> property_cases() {
  std::set<Ctx> reason_string = {Ctx::Connack, Ctx::Suback, Ctx::Unsuback, Ctx::Disconnect,
                                 Ctx::Auth};
  reason_string.insert(kAcks.begin(), kAcks.end());
  const std::set<Ctx> everywhere(std::begin(kAllCtx), std::end(kAllCtx));
  return {
      {0x01, "payload format indicator", p_byte(0x01, 1), {Ctx::Publish, Ctx::Will}},
      {0x02, "message expiry interval", p_u32(0x02, 60), {Ctx::Publish, Ctx::Will}},
      {0x03, "content type", p_field(0x03, "text/plain"), {Ctx::Publish, Ctx::Will}},
      {0x08, "response topic", p_field(0x08, "re/sp"), {Ctx::Publish, Ctx::Will}},
      {0x09, "correlation data", p_field(0x09, bytes({0, 0xFF})), {Ctx::Publish, Ctx::Will}},
      {0x0B, "subscription identifier", p_varint(0x0B, 300), {Ctx::Publish, Ctx::Subscribe}},
      {0x11,
       "session expiry interval",
       p_u32(0x11, 3600),
       {Ctx::Connect, Ctx::Connack, Ctx::Disconnect}},
      {0x12, "assigned client identifier", p_field(0x12, "auto-1"), {Ctx::Connack}},
      {0x13, "server keep alive", p_u16(0x13, 30), {Ctx::Connack}},
      {0x15,
       "authentication method",
       p_field(0x15, "SCRAM"),
       {Ctx::Connect, Ctx::Connack, Ctx::Auth}},
      // Authentication data needs a method beside it: see with_auth_method().
      {0x16,
       "authentication data",
       p_field(0x16, bytes({1, 0})),
       {Ctx::Connect, Ctx::Connack, Ctx::Auth}},
      {0x17, "request problem information", p_byte(0x17, 0), {Ctx::Connect}},
      {0x18, "will delay interval", p_u32(0x18, 5), {Ctx::Will}},
      {0x19, "request response information", p_byte(0x19, 1), {Ctx::Connect}},
      {0x1A, "response information", p_field(0x1A, "resp/"), {Ctx::Connack}},
      {0x1C, "server reference", p_field(0x1C, "other:1883"), {Ctx::Connack, Ctx::Disconnect}},
      {0x1F, "reason string", p_field(0x1F, "because"), reason_string},
      {0x21, "receive maximum", p_u16(0x21, 10), {Ctx::Connect, Ctx::Connack}},
      {0x22, "topic alias maximum", p_u16(0x22, 0), {Ctx::Connect, Ctx::Connack}},
      {0x23, "topic alias", p_u16(0x23, 3), {Ctx::Publish}},
      {0x24, "maximum qos", p_byte(0x24, 1), {Ctx::Connack}},
      {0x25, "retain available", p_byte(0x25, 0), {Ctx::Connack}},
      {0x26, "user property", p_pair("k", "v"), everywhere},
      {0x27, "maximum packet size", p_u32(0x27, 1024), {Ctx::Connect, Ctx::Connack}},
      {0x28, "wildcard subscription available", p_byte(0x28, 1), {Ctx::Connack}},
      {0x29, "subscription identifiers available", p_byte(0x29, 0), {Ctx::Connack}},
      {0x2A, "shared subscription available", p_byte(0x2A, 1), {Ctx::Connack}},
  };
}

// A valid MQTT 5 body of the context's packet with `list` as its property list.
struct Built {
  PacketType type;
  uint8_t flags;
  std::string body;
};

Built build(Ctx ctx, std::string_view list) {
  const std::string p = props(list);
  switch (ctx) {
    case Ctx::Connect:
      return {PacketType::Connect, 0, field("MQTT") + bytes({5, 0x02, 0, 60}) + p + field("c")};
    case Ctx::Will:
      return {PacketType::Connect, 0,
              field("MQTT") + bytes({5, 0x06, 0, 60}) + props("") + field("c") + p + field("w") +
                  field("m")};
    case Ctx::Connack:
      return {PacketType::Connack, 0, bytes({0, 0}) + p};
    case Ctx::Publish:
      return {PacketType::Publish, 2, field("t") + u16(1) + p + "payload"};
    case Ctx::Puback:
      return {PacketType::Puback, 0, u16(1) + bytes({0}) + p};
    case Ctx::Pubrec:
      return {PacketType::Pubrec, 0, u16(1) + bytes({0}) + p};
    case Ctx::Pubrel:
      return {PacketType::Pubrel, 2, u16(1) + bytes({0}) + p};
    case Ctx::Pubcomp:
      return {PacketType::Pubcomp, 0, u16(1) + bytes({0}) + p};
    case Ctx::Subscribe:
      return {PacketType::Subscribe, 2, u16(1) + p + field("a") + bytes({0})};
    case Ctx::Suback:
      return {PacketType::Suback, 0, u16(1) + p + bytes({0})};
    case Ctx::Unsubscribe:
      return {PacketType::Unsubscribe, 2, u16(1) + p + field("a")};
    case Ctx::Unsuback:
      return {PacketType::Unsuback, 0, u16(1) + p + bytes({0})};
    case Ctx::Disconnect:
      return {PacketType::Disconnect, 0, bytes({0}) + p};
    case Ctx::Auth:
      return {PacketType::Auth, 0, bytes({0x18}) + p};
  }
  return {};
}

// Decodes as the broker (or a client) would on an MQTT 5 connection; `props_out` gets the
// property list of the context.
Error decode5(Ctx ctx, const Frame& frame, Properties* props_out = nullptr) {
  Properties scratch;
  Properties& out = props_out != nullptr ? *props_out : scratch;
  switch (frame.header.type) {
    case PacketType::Connect: {
      Connect c;
      const Error e = decode_connect(frame, c);
      out = ctx == Ctx::Will ? (c.will ? c.will->properties : Properties{}) : c.properties;
      return e;
    }
    case PacketType::Connack: {
      Connack c;
      const Error e = decode_connack(frame, v5, c);
      out = c.properties;
      return e;
    }
    case PacketType::Publish: {
      Publish p;
      const Error e = decode_publish(frame, v5, p);
      out = p.properties;
      return e;
    }
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp: {
      Ack a;
      const Error e = decode_ack(frame, v5, a);
      out = a.properties;
      return e;
    }
    case PacketType::Subscribe: {
      Subscribe s;
      const Error e = decode_subscribe(frame, v5, s);
      out = s.properties;
      return e;
    }
    case PacketType::Suback: {
      Suback s;
      const Error e = decode_suback(frame, v5, s);
      out = s.properties;
      return e;
    }
    case PacketType::Unsubscribe: {
      Unsubscribe u;
      const Error e = decode_unsubscribe(frame, v5, u);
      out = u.properties;
      return e;
    }
    case PacketType::Unsuback: {
      Unsuback u;
      const Error e = decode_unsuback(frame, v5, u);
      out = u.properties;
      return e;
    }
    case PacketType::Disconnect: {
      Disconnect d;
      const Error e = decode_disconnect(frame, v5, d);
      out = d.properties;
      return e;
    }
    case PacketType::Auth: {
      Auth a;
      const Error e = decode_auth(frame, v5, a);
      out = a.properties;
      return e;
    }
    case PacketType::Pingreq:
    case PacketType::Pingresp:
      return decode_empty(frame, v5);
    default:
      break;
  }
  ADD_FAILURE() << "no decoder";
  return Error::None;
}

// The decoded properties view the body, kept here until the next call.
Error decode_list(Ctx ctx, std::string_view list, Properties* out = nullptr) {
  static Built b;
  b = build(ctx, list);
  return decode5(ctx, make_frame(b.type, b.flags, b.body), out);
}

// AUTH always needs a method; authentication data needs one anywhere.
std::string with_auth_method(Ctx ctx, int id, const std::string& list) {
  if ((ctx == Ctx::Auth && id != 0x15) || id == 0x16) return p_field(0x15, "M") + list;
  return list;
}

// ================================================================================================
// Properties: where each may appear

TEST(Properties5, EachPropertyInEachPacket) {
  for (const PropertyCase& pc : property_cases()) {
    for (Ctx ctx : kAllCtx) {
      const bool allowed = pc.allowed.count(ctx) > 0;
      Properties out;
      const Error error = decode_list(ctx, with_auth_method(ctx, pc.id, pc.encoded), &out);
      EXPECT_EQ(error, allowed ? Error::None : Error::PropertyNotAllowed)
          << pc.name << " in " << ctx_name(ctx);
      if (allowed && error == Error::None) {
        EXPECT_FALSE(out.empty()) << pc.name;
      }
    }
  }
}

TEST(Properties5, DecodedValues) {
  Properties out;
  ASSERT_EQ(decode_list(Ctx::Publish,
                        p_byte(0x01, 1) + p_u32(0x02, 0x01020304) + p_field(0x03, "ct") +
                            p_field(0x08, "r/t") + p_field(0x09, bytes({0, 1})) +
                            p_varint(0x0B, 268435455) + p_varint(0x0B, 1) + p_u16(0x23, 7) +
                            p_pair("a", "1") + p_pair("b", "2") + p_pair("a", "3"),
                        &out),
            Error::None);
  EXPECT_EQ(out.payload_format_indicator, 1);
  EXPECT_EQ(out.message_expiry_interval, 0x01020304u);
  EXPECT_EQ(out.content_type, "ct");
  EXPECT_EQ(out.response_topic, "r/t");
  EXPECT_EQ(out.correlation_data, bytes({0, 1}));
  EXPECT_EQ(out.subscription_identifiers, (std::vector<uint32_t>{268435455, 1}));
  EXPECT_EQ(out.topic_alias, 7);
  using Pair = std::pair<std::string_view, std::string_view>;
  EXPECT_EQ(out.user_properties, (std::vector<Pair>{{"a", "1"}, {"b", "2"}, {"a", "3"}}));

  ASSERT_EQ(
      decode_list(Ctx::Connack,
                  p_u32(0x11, 0xFFFFFFFF) + p_field(0x12, "id") + p_u16(0x13, 0) +
                      p_field(0x15, "m") + p_field(0x16, "d") + p_field(0x1A, "ri") +
                      p_field(0x1C, "sr") + p_field(0x1F, "rs") + p_u16(0x21, 65535) +
                      p_u16(0x22, 9) + p_byte(0x24, 0) + p_byte(0x25, 1) + p_u32(0x27, 268435460) +
                      p_byte(0x28, 0) + p_byte(0x29, 1) + p_byte(0x2A, 0),
                  &out),
      Error::None);
  EXPECT_EQ(out.session_expiry_interval, 0xFFFFFFFFu);
  EXPECT_EQ(out.assigned_client_identifier, "id");
  EXPECT_EQ(out.server_keep_alive, 0);
  EXPECT_EQ(out.authentication_method, "m");
  EXPECT_EQ(out.authentication_data, "d");
  EXPECT_EQ(out.response_information, "ri");
  EXPECT_EQ(out.server_reference, "sr");
  EXPECT_EQ(out.reason_string, "rs");
  EXPECT_EQ(out.receive_maximum, 65535);
  EXPECT_EQ(out.topic_alias_maximum, 9);
  EXPECT_EQ(out.maximum_qos, 0);
  EXPECT_EQ(out.retain_available, true);
  EXPECT_EQ(out.maximum_packet_size, 268435460u);
  EXPECT_EQ(out.wildcard_subscription_available, false);
  EXPECT_EQ(out.subscription_identifiers_available, true);
  EXPECT_EQ(out.shared_subscription_available, false);

  ASSERT_EQ(decode_list(Ctx::Connect, p_byte(0x17, 1) + p_byte(0x19, 0), &out), Error::None);
  EXPECT_EQ(out.request_problem_information, true);
  EXPECT_EQ(out.request_response_information, false);
  ASSERT_EQ(decode_list(Ctx::Will, p_u32(0x18, 99), &out), Error::None);
  EXPECT_EQ(out.will_delay_interval, 99u);
}

// ================================================================================================
// Properties: malformed and invalid

TEST(Properties5, DuplicatesAreProtocolErrors) {
  for (const PropertyCase& pc : property_cases()) {
    for (Ctx ctx : pc.allowed) {
      const std::string twice = with_auth_method(ctx, pc.id, pc.encoded + pc.encoded);
      Properties out;
      const Error error = decode_list(ctx, twice, &out);
      if (pc.id == 0x26 || (pc.id == 0x0B && ctx == Ctx::Publish)) {
        EXPECT_EQ(error, Error::None) << pc.name << " in " << ctx_name(ctx);
      } else {
        EXPECT_EQ(error, Error::DuplicateProperty) << pc.name << " in " << ctx_name(ctx);
      }
    }
  }
  // Also when something else stands between the two.
  EXPECT_EQ(decode_list(Ctx::Publish, p_u32(0x02, 1) + p_pair("k", "v") + p_u32(0x02, 2)),
            Error::DuplicateProperty);
}

TEST(Properties5, ValueRanges) {
  struct Case {
    Ctx ctx;
    std::string list;
    Error expected;
  };
  const Case cases[] = {
      {Ctx::Publish, p_byte(0x01, 0), Error::None},
      {Ctx::Publish, p_byte(0x01, 2), Error::InvalidPropertyValue},
      {Ctx::Will, p_byte(0x01, 0xFF), Error::InvalidPropertyValue},
      {Ctx::Connect, p_byte(0x17, 2), Error::InvalidPropertyValue},
      {Ctx::Connect, p_byte(0x19, 2), Error::InvalidPropertyValue},
      {Ctx::Connack, p_byte(0x24, 2), Error::InvalidPropertyValue},
      {Ctx::Connack, p_byte(0x25, 2), Error::InvalidPropertyValue},
      {Ctx::Connack, p_byte(0x28, 2), Error::InvalidPropertyValue},
      {Ctx::Connack, p_byte(0x29, 0x80), Error::InvalidPropertyValue},
      {Ctx::Connack, p_byte(0x2A, 3), Error::InvalidPropertyValue},
      {Ctx::Connect, p_u16(0x21, 0), Error::InvalidPropertyValue},
      {Ctx::Connack, p_u16(0x21, 0), Error::InvalidPropertyValue},
      {Ctx::Connect, p_u16(0x21, 1), Error::None},
      {Ctx::Connect, p_u32(0x27, 0), Error::InvalidPropertyValue},
      {Ctx::Connack, p_u32(0x27, 0), Error::InvalidPropertyValue},
      {Ctx::Connect, p_u32(0x27, 1), Error::None},
      {Ctx::Publish, p_u16(0x23, 0), Error::InvalidTopicAlias},
      {Ctx::Publish, p_u16(0x23, 65535), Error::None},
      {Ctx::Publish, p_varint(0x0B, 0), Error::InvalidPropertyValue},
      {Ctx::Subscribe, p_varint(0x0B, 0), Error::InvalidPropertyValue},
      {Ctx::Subscribe, p_varint(0x0B, 268435455), Error::None},
      {Ctx::Connect, p_u16(0x22, 0), Error::None},
      {Ctx::Connack, p_u16(0x13, 0), Error::None},
      {Ctx::Will, p_u32(0x18, 0), Error::None},
      {Ctx::Publish, p_u32(0x02, 0), Error::None},
      // The response topic is a topic name.
      {Ctx::Publish, p_field(0x08, "a/+"), Error::InvalidTopicName},
      {Ctx::Will, p_field(0x08, "#"), Error::InvalidTopicName},
      {Ctx::Publish, p_field(0x08, ""), Error::InvalidTopicName},
      // Authentication data needs a method.
      {Ctx::Connect, p_field(0x16, "d"), Error::MissingProperty},
      {Ctx::Connack, p_field(0x16, "d"), Error::MissingProperty},
      {Ctx::Connect, p_field(0x16, "d") + p_field(0x15, "m"), Error::None},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(decode_list(c.ctx, c.list), c.expected) << ctx_name(c.ctx);
  }
}

TEST(Properties5, Utf8RulesOnStrings) {
  const std::string bad = bytes({'a', 0xC0, 0x80});
  const std::string nul("a\0b", 3);
  struct Case {
    Ctx ctx;
    int id;
  };
  for (const Case& c :
       {Case{Ctx::Publish, 0x03}, Case{Ctx::Publish, 0x08}, Case{Ctx::Connack, 0x12},
        Case{Ctx::Connect, 0x15}, Case{Ctx::Connack, 0x1A}, Case{Ctx::Connack, 0x1C},
        Case{Ctx::Puback, 0x1F}, Case{Ctx::Disconnect, 0x1F}}) {
    EXPECT_EQ(decode_list(c.ctx, p_field(c.id, bad)), Error::InvalidUtf8) << c.id;
    EXPECT_EQ(decode_list(c.ctx, p_field(c.id, nul)), Error::InvalidUtf8) << c.id;
  }
  EXPECT_EQ(decode_list(Ctx::Publish, p_pair(bad, "v")), Error::InvalidUtf8);
  EXPECT_EQ(decode_list(Ctx::Publish, p_pair("k", bad)), Error::InvalidUtf8);
  EXPECT_EQ(decode_list(Ctx::Publish, p_pair("", "")), Error::None);
  // Binary data is not text.
  EXPECT_EQ(decode_list(Ctx::Publish, p_field(0x09, bad)), Error::None);
  EXPECT_EQ(decode_list(Ctx::Connect, p_field(0x15, "m") + p_field(0x16, nul)), Error::None);
}

TEST(Properties5, UnknownIdentifiersAreMalformed) {
  std::set<int> known;
  for (const PropertyCase& pc : property_cases())
    known.insert(pc.id);
  for (int id = 0; id < 128; ++id) {
    if (known.count(id) > 0) continue;
    EXPECT_EQ(decode_list(Ctx::Publish, bytes({id, 0, 0, 0, 0})), Error::MalformedProperty) << id;
  }
  // Identifiers are variable byte integers: 128 and above take two bytes and are unknown.
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x80, 0x01, 0})), Error::MalformedProperty);
  // A known identifier in two bytes is not minimal.
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x81, 0x00, 1})), Error::NonMinimalVarint);
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x80})), Error::MalformedProperty);
}

TEST(Properties5, NonMinimalVariableByteIntegers) {
  // Property length 0 in two bytes.
  const std::string body = field("t") + bytes({0x80, 0x00}) + "p";
  Publish p;
  EXPECT_EQ(decode_publish(make_frame(PacketType::Publish, 0, body), v5, p),
            Error::NonMinimalVarint);
  // Property length 2 in three bytes.
  EXPECT_EQ(decode_publish(make_frame(PacketType::Publish, 0,
                                      field("t") + bytes({0x82, 0x80, 0x00}) + p_byte(1, 0)),
                           v5, p),
            Error::NonMinimalVarint);
  // Subscription identifiers.
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x0B, 0x81, 0x00})), Error::NonMinimalVarint);
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x0B, 0xFF, 0x80, 0x00})), Error::NonMinimalVarint);
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x0B, 0x80, 0x80, 0x80, 0x00})),
            Error::NonMinimalVarint);
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x0B, 0x80, 0x01})), Error::None);  // 128
  // Five bytes is malformed.
  EXPECT_EQ(decode_list(Ctx::Publish, bytes({0x0B, 0x80, 0x80, 0x80, 0x80, 0x01})),
            Error::MalformedProperty);
  EXPECT_EQ(decode_publish(make_frame(PacketType::Publish, 0,
                                      field("t") + bytes({0x80, 0x80, 0x80, 0x80, 0x01})),
                           v5, p),
            Error::MalformedProperty);
  // The remaining length of an MQTT 5 packet, too (3.1.1 accepts it).
  for (const std::string& wire :
       {bytes({0xC0, 0x80, 0x00}), bytes({0xE0, 0x80, 0x00}),
        bytes({0x30, 0x84, 0x00, 0, 1, 't', 0}), bytes({0x40, 0x82, 0x80, 0x00, 0, 1}),
        bytes({0x20, 0x83, 0x00, 0, 0, 0})}) {
    const Frame frame = frame_of(wire);
    EXPECT_EQ(decode5(Ctx::Publish, frame), Error::NonMinimalVarint)
        << packet_name(frame.header.type);
  }
  EXPECT_EQ(decode_empty(frame_of(bytes({0xC0, 0x80, 0x00})), v5), Error::NonMinimalVarint);
  EXPECT_EQ(decode_empty(frame_of(bytes({0xC0, 0x80, 0x00})), Version::v311), Error::None);
  const std::string connect = field("MQTT") + bytes({5, 2, 0, 0, 0}) + field("c");
  const std::string wide = bytes({0x10, 0x80 | static_cast<int>(connect.size()), 0}) + connect;
  Connect c;
  EXPECT_EQ(decode_connect(frame_of(wide), c), Error::NonMinimalVarint);
}

TEST(Properties5, LengthAndTruncation) {
  // The property length runs past the packet.
  EXPECT_EQ(decode5(Ctx::Puback, make_frame(PacketType::Puback, 0, u16(1) + bytes({0, 5, 0x1F}))),
            Error::Truncated);
  EXPECT_EQ(decode5(Ctx::Connack, make_frame(PacketType::Connack, 0, bytes({0, 0, 1}))),
            Error::Truncated);
  EXPECT_EQ(decode5(Ctx::Connack, make_frame(PacketType::Connack, 0, bytes({0, 0}))),
            Error::Truncated);  // no property length at all
  // A value runs past the property length, though the packet goes on.
  const std::string cut_u32 = bytes({3, 0x02, 0, 0}) + "more payload";
  Publish p;
  EXPECT_EQ(decode_publish(make_frame(PacketType::Publish, 0, field("t") + cut_u32), v5, p),
            Error::MalformedProperty);
  for (const std::string& list :
       {bytes({0x01}), bytes({0x23, 0}), bytes({0x03, 0, 5, 'a'}), bytes({0x26, 0, 1, 'k'}),
        bytes({0x26, 0, 1, 'k', 0, 2, 'v'}), bytes({0x0B}), bytes({0x0B, 0x80})}) {
    EXPECT_EQ(decode_publish(
                  make_frame(PacketType::Publish, 0, field("t") + props(list) + "payload"), v5, p),
              Error::MalformedProperty);
  }
  // Every property list cut short inside the packet: the list ends mid-value.
  for (const PropertyCase& pc : property_cases()) {
    for (size_t cut = 1; cut < pc.encoded.size(); ++cut) {
      const std::string list = pc.encoded.substr(0, cut);
      const std::string body = field("t") + props(list) + "payload";
      EXPECT_EQ(
          decode_publish(make_frame(PacketType::Publish, 0, body), v5, p),
          pc.allowed.count(Ctx::Publish) ? Error::MalformedProperty : Error::PropertyNotAllowed)
          << pc.name << " cut " << cut;
    }
  }
}

// ================================================================================================
// Reason codes

std::set<int> codes_of(PacketType type) {
  switch (type) {
    case PacketType::Connack:
      return {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
              0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
    case PacketType::Puback:
    case PacketType::Pubrec:
      return {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return {0x00, 0x92};
    case PacketType::Suback:
      return {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
    case PacketType::Unsuback:
      return {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    case PacketType::Disconnect:
      return {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
              0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
              0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
    case PacketType::Auth:
      return {0x00, 0x18, 0x19};
    default:
      return {};
  }
}

TEST(ReasonCodes5, ValidReasonCodeTable) {
  for (int t = 0; t < 16; ++t) {
    const auto type = static_cast<PacketType>(t);
    const std::set<int> valid = codes_of(type);
    for (int code = 0; code < 256; ++code) {
      EXPECT_EQ(valid_reason_code(type, static_cast<uint8_t>(code)), valid.count(code) > 0)
          << packet_name(type) << " " << code;
    }
  }
}

TEST(ReasonCodes5, EveryCodeInEveryPacket) {
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<uint8_t>(code);
    auto expect = [&](PacketType type, Error error) {
      EXPECT_EQ(error, codes_of(type).count(code) ? Error::None : Error::InvalidReasonCode)
          << packet_name(type) << " code " << code;
    };
    Connack connack;
    expect(PacketType::Connack,
           decode_connack(make_frame(PacketType::Connack, 0, bytes({0, code, 0})), v5, connack));
    for (PacketType type :
         {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
      const uint8_t flags = type == PacketType::Pubrel ? 2 : 0;
      Ack ack;
      // Long form and the three-byte form.
      expect(type, decode_ack(make_frame(type, flags, u16(1) + bytes({code, 0})), v5, ack));
      expect(type, decode_ack(make_frame(type, flags, u16(1) + bytes({code})), v5, ack));
      if (codes_of(type).count(code)) {
        EXPECT_EQ(ack.reason_code, c);
      }
    }
    Suback suback;
    expect(
        PacketType::Suback,
        decode_suback(make_frame(PacketType::Suback, 0, u16(1) + bytes({0, 0, code})), v5, suback));
    Unsuback unsuback;
    expect(PacketType::Unsuback,
           decode_unsuback(make_frame(PacketType::Unsuback, 0, u16(1) + bytes({0, 0x11, code})), v5,
                           unsuback));
    Disconnect disconnect;
    expect(PacketType::Disconnect,
           decode_disconnect(make_frame(PacketType::Disconnect, 0, bytes({code})), v5, disconnect));
    expect(
        PacketType::Disconnect,
        decode_disconnect(make_frame(PacketType::Disconnect, 0, bytes({code, 0})), v5, disconnect));
    Auth auth;
    expect(PacketType::Auth,
           decode_auth(make_frame(PacketType::Auth, 0, bytes({code}) + props(p_field(0x15, "m"))),
                       v5, auth));
  }
}

TEST(ReasonCodes5, ErrorToReasonCode) {
  const std::map<Error, uint8_t> expected = {
      {Error::None, 0x00},
      {Error::MalformedRemainingLength, 0x81},
      {Error::PacketTooLarge, 0x95},
      {Error::ReservedPacketType, 0x81},
      {Error::InvalidFlags, 0x81},
      {Error::Truncated, 0x81},
      {Error::TrailingBytes, 0x81},
      {Error::InvalidUtf8, 0x81},
      {Error::InvalidProtocolName, 0x84},
      {Error::UnsupportedProtocolLevel, 0x84},
      {Error::InvalidConnectFlags, 0x81},
      {Error::InvalidQos, 0x81},
      {Error::InvalidTopicName, 0x90},
      {Error::InvalidTopicFilter, 0x8F},
      {Error::InvalidPacketId, 0x82},
      {Error::NoSubscriptions, 0x82},
      {Error::InvalidSubscriptionOptions, 0x81},
      {Error::InvalidReturnCode, 0x82},
      {Error::NonMinimalVarint, 0x81},
      {Error::MalformedProperty, 0x81},
      {Error::PropertyNotAllowed, 0x81},
      {Error::DuplicateProperty, 0x82},
      {Error::InvalidPropertyValue, 0x82},
      {Error::MissingProperty, 0x82},
      {Error::InvalidReasonCode, 0x82},
      {Error::InvalidTopicAlias, 0x94},
      {Error::EmptyTopicWithoutAlias, 0x82},
      {Error::InvalidSubscriptionValue, 0x82},
      {Error::NoLocalOnSharedSubscription, 0x82},
  };
  const int last = static_cast<int>(Error::NoLocalOnSharedSubscription);
  ASSERT_EQ(expected.size(), static_cast<size_t>(last + 1));
  std::set<std::string> seen;
  for (const auto& [error, code] : expected) {
    EXPECT_EQ(reason_code_for(error), code) << describe(error);
    // Every code is one a server may send: in DISCONNECT, or in CONNACK for CONNECT's errors.
    EXPECT_TRUE(valid_reason_code(PacketType::Disconnect, code) ||
                valid_reason_code(PacketType::Connack, code))
        << describe(error);
    const std::string text = describe(error);
    EXPECT_NE(text, "unknown error");
    EXPECT_TRUE(seen.insert(text).second) << text;
  }
}

TEST(ReasonCodes5, Constants) {
  EXPECT_EQ(reason::kSuccess, 0x00);
  EXPECT_EQ(reason::kNormalDisconnection, 0x00);
  EXPECT_EQ(reason::kGrantedQos2, 0x02);
  EXPECT_EQ(reason::kDisconnectWithWillMessage, 0x04);
  EXPECT_EQ(reason::kNoMatchingSubscribers, 0x10);
  EXPECT_EQ(reason::kNoSubscriptionExisted, 0x11);
  EXPECT_EQ(reason::kContinueAuthentication, 0x18);
  EXPECT_EQ(reason::kReAuthenticate, 0x19);
  EXPECT_EQ(reason::kMalformedPacket, 0x81);
  EXPECT_EQ(reason::kProtocolError, 0x82);
  EXPECT_EQ(reason::kBadAuthenticationMethod, 0x8C);
  EXPECT_EQ(reason::kTopicAliasInvalid, 0x94);
  EXPECT_EQ(reason::kPacketTooLarge, 0x95);
  EXPECT_EQ(reason::kConnectionRateExceeded, 0x9F);
  EXPECT_EQ(reason::kMaximumConnectTime, 0xA0);
  EXPECT_EQ(reason::kWildcardSubscriptionsNotSupported, 0xA2);
}

// ================================================================================================
// CONNECT

TEST(Connect5, Level5IsSupported) {
  Connect out;
  const std::string body = field("MQTT") + bytes({5, 0x02, 0, 10}) + props("") + field("id");
  ASSERT_EQ(decode_connect(make_frame(PacketType::Connect, 0, body), out), Error::None);
  EXPECT_EQ(out.version, v5);
  EXPECT_EQ(out.client_id, "id");
  EXPECT_TRUE(out.properties.empty());
  // Only with the name "MQTT".
  const std::string old_name = field("MQIsdp") + bytes({5, 0x02, 0, 10}) + props("") + field("id");
  EXPECT_EQ(decode_connect(make_frame(PacketType::Connect, 0, old_name), out),
            Error::UnsupportedProtocolLevel);
}

TEST(Connect5, PasswordWithoutUserName) {
  Connect out;
  const std::string body =
      field("MQTT") + bytes({5, 0x42, 0, 10}) + props("") + field("id") + field("pw");
  ASSERT_EQ(decode_connect(make_frame(PacketType::Connect, 0, body), out), Error::None);
  EXPECT_EQ(out.password, "pw");
  EXPECT_FALSE(out.username.has_value());
  // Still a violation in 3.1.1.
  EXPECT_EQ(decode_connect(
                make_frame(PacketType::Connect, 0,
                           field("MQTT") + bytes({4, 0x42, 0, 10}) + field("id") + field("pw")),
                out),
            Error::InvalidConnectFlags);
}

TEST(Connect5, FlagRulesStillApply) {
  Connect out;
  for (int flags : {0x01, 0x08, 0x20, 0x1C}) {
    const std::string body = field("MQTT") + bytes({5, flags, 0, 0}) + props("") + field("c") +
                             props("") + field("w") + field("m");
    const Error error = decode_connect(make_frame(PacketType::Connect, 0, body), out);
    EXPECT_EQ(error, flags == 0x1C ? Error::InvalidQos : Error::InvalidConnectFlags) << flags;
  }
}

// Binary values the views of the structs below point to.
const std::string kBin012 = bytes({0, 1, 2});
const std::string kBin0FF = bytes({0, 0xFF});
const std::string kBin123 = bytes({1, 2, 3});
const std::string kBin99 = bytes({9, 9});
const std::string kBin01 = bytes({0, 1});

Connect full_connect() {
  Connect c;
  c.version = v5;
  c.clean_session = false;
  c.keep_alive = 0x1234;
  c.client_id = "client";
  c.username = "user";
  c.password = kBin0FF;
  c.properties.session_expiry_interval = 3600;
  c.properties.receive_maximum = 20;
  c.properties.maximum_packet_size = 65536;
  c.properties.topic_alias_maximum = 10;
  c.properties.request_response_information = true;
  c.properties.request_problem_information = false;
  c.properties.user_properties = {{"a", "1"}, {"b", "2"}};
  c.properties.authentication_method = "SCRAM-SHA-1";
  c.properties.authentication_data = kBin123;
  Will w;
  w.topic = "will/t";
  w.payload = kBin012;
  w.qos = 2;
  w.retain = true;
  w.properties.will_delay_interval = 30;
  w.properties.payload_format_indicator = 1;
  w.properties.message_expiry_interval = 600;
  w.properties.content_type = "application/json";
  w.properties.response_topic = "re/sp";
  w.properties.correlation_data = kBin99;
  w.properties.user_properties = {{"w", "x"}};
  c.will = w;
  return c;
}

TEST(Connect5, RoundTripEveryProperty) {
  const Connect in = full_connect();
  std::string wire;
  encode_connect(wire, in);
  Connect out;
  ASSERT_EQ(decode_connect(frame_of(wire), out), Error::None);
  EXPECT_EQ(out.version, v5);
  EXPECT_EQ(out.protocol_name, "MQTT");
  EXPECT_EQ(out.clean_session, false);
  EXPECT_EQ(out.keep_alive, 0x1234);
  EXPECT_EQ(out.client_id, "client");
  EXPECT_EQ(out.username, in.username);
  EXPECT_EQ(out.password, in.password);
  EXPECT_EQ(out.properties, in.properties);
  ASSERT_TRUE(out.will.has_value());
  EXPECT_EQ(out.will->topic, "will/t");
  EXPECT_EQ(out.will->payload, in.will->payload);
  EXPECT_EQ(out.will->qos, 2);
  EXPECT_TRUE(out.will->retain);
  EXPECT_EQ(out.will->properties, in.will->properties);
}

TEST(Connect5, ExactBytes) {
  Connect c;
  c.version = v5;
  c.client_id = "x";
  c.keep_alive = 60;
  c.properties.session_expiry_interval = 10;
  std::string wire;
  encode_connect(wire, c);
  const std::string body =
      field("MQTT") + bytes({5, 0x02, 0, 60}) + props(p_u32(0x11, 10)) + field("x");
  EXPECT_EQ(wire, packet(0x10, body));
  // The will's properties sit before the will topic.
  c.properties = {};
  c.will = Will{"w", "m", 0, false};
  c.will->properties.will_delay_interval = 1;
  wire.clear();
  encode_connect(wire, c);
  EXPECT_EQ(wire, packet(0x10, field("MQTT") + bytes({5, 0x06, 0, 60}) + props("") + field("x") +
                                   props(p_u32(0x18, 1)) + field("w") + field("m")));
}

TEST(Connect5, TruncatedAtEveryOffset) {
  std::string wire;
  encode_connect(wire, full_connect());
  const Frame frame = frame_of(wire);
  for (size_t cut = 0; cut < frame.body.size(); ++cut) {
    Connect out;
    EXPECT_EQ(decode_connect(make_frame(PacketType::Connect, 0, frame.body.substr(0, cut)), out),
              Error::Truncated)
        << cut;
  }
  Connect out;
  const std::string longer = std::string(frame.body) + "x";
  EXPECT_EQ(decode_connect(make_frame(PacketType::Connect, 0, longer), out), Error::TrailingBytes);
}

// ================================================================================================
// CONNACK

TEST(Connack5, RoundTripEveryProperty) {
  Connack in;
  in.session_present = true;
  in.return_code = reason::kSuccess;
  Properties& p = in.properties;
  p.session_expiry_interval = 0;
  p.receive_maximum = 100;
  p.maximum_qos = 1;
  p.retain_available = false;
  p.maximum_packet_size = 1 << 20;
  p.assigned_client_identifier = "auto-xyz";
  p.topic_alias_maximum = 16;
  p.reason_string = "welcome";
  p.user_properties = {{"k", "v"}};
  p.wildcard_subscription_available = true;
  p.subscription_identifiers_available = false;
  p.shared_subscription_available = true;
  p.server_keep_alive = 120;
  p.response_information = "resp/";
  p.server_reference = "elsewhere";
  p.authentication_method = "m";
  p.authentication_data = "d";
  std::string wire;
  encode_connack(wire, in, v5);
  Connack out;
  ASSERT_EQ(decode_connack(frame_of(wire), v5, out), Error::None);
  EXPECT_TRUE(out.session_present);
  EXPECT_EQ(out.return_code, 0);
  EXPECT_EQ(out.properties, in.properties);
}

TEST(Connack5, ExactBytesAndRules) {
  std::string wire;
  encode_connack(wire, Connack{false, reason::kNotAuthorized}, v5);
  EXPECT_EQ(wire, bytes({0x20, 3, 0, 0x87, 0}));
  wire.clear();
  encode_connack(wire, Connack{true, 0}, Version::v311);  // 3.1.1 stays as it was
  EXPECT_EQ(wire, bytes({0x20, 2, 1, 0}));

  Connack out;
  std::string held;  // the decoded views point into it
  auto decode = [&](const std::string& body) {
    held = body;
    return decode_connack(make_frame(PacketType::Connack, 0, held), v5, out);
  };
  EXPECT_EQ(decode(bytes({1, 0, 0})), Error::None);
  EXPECT_EQ(decode(bytes({1, 0x80, 0})), Error::InvalidConnectFlags);  // session with refusal
  EXPECT_EQ(decode(bytes({2, 0, 0})), Error::InvalidConnectFlags);
  EXPECT_EQ(decode(bytes({0x80, 0, 0})), Error::InvalidConnectFlags);
  EXPECT_EQ(decode(bytes({0, 1, 0})), Error::InvalidReasonCode);  // a 3.1.1 return code
  EXPECT_EQ(decode(bytes({0, 0, 0, 0})), Error::TrailingBytes);
  EXPECT_EQ(decode(bytes({0})), Error::Truncated);
}

// ================================================================================================
// PUBLISH

Publish full_publish() {
  Publish in{"a/b", "payload", 1, true, true, 0x0102};
  Properties& p = in.properties;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 30;
  p.topic_alias = 4;
  p.response_topic = "re/sp";
  p.correlation_data = kBin01;
  p.user_properties = {{"a", "b"}, {"a", "c"}};
  p.subscription_identifiers = {1, 127, 128, 16383, 16384, 268435455};
  p.content_type = "text/plain";
  return in;
}

TEST(Publish5, RoundTripEveryProperty) {
  for (int qos = 0; qos <= 2; ++qos) {
    Publish in = full_publish();
    in.qos = static_cast<uint8_t>(qos);
    in.dup = qos > 0;
    in.packet_id = qos > 0 ? 0x0102 : 0;
    std::string wire;
    encode_publish(wire, in, v5);
    EXPECT_EQ(wire.size(), publish_size(in, v5));
    Publish out;
    ASSERT_EQ(decode_publish(frame_of(wire), v5, out), Error::None);
    EXPECT_EQ(out.topic, in.topic);
    EXPECT_EQ(out.payload, in.payload);
    EXPECT_EQ(out.qos, in.qos);
    EXPECT_EQ(out.retain, in.retain);
    EXPECT_EQ(out.dup, in.dup);
    EXPECT_EQ(out.packet_id, in.packet_id);
    EXPECT_EQ(out.properties, in.properties);
  }
}

TEST(Publish5, WithoutPropertiesOneZeroByte) {
  const Publish in{"a/b", "hi", 1, false, false, 7};
  std::string v311;
  std::string v5wire;
  encode_publish(v311, in);
  encode_publish(v5wire, in, v5);
  EXPECT_EQ(v5wire, bytes({0x32, 10, 0, 3, 'a', '/', 'b', 0, 7, 0, 'h', 'i'}));
  EXPECT_EQ(publish_size(in, v5), v5wire.size());
  EXPECT_EQ(publish_size(in, Version::v311), v311.size());
  // The 3.1.1 encoder ignores properties.
  Publish with = in;
  with.properties.topic_alias = 1;
  std::string again;
  encode_publish(again, with);
  EXPECT_EQ(again, v311);
  encode_publish(again = "", with, Version::v311);
  EXPECT_EQ(again, v311);
}

// encode_publish_bare is encode_publish without properties, byte for byte, in both versions and
// for topics on either side of the length below which the header goes out in one append.
TEST(Publish5, BareEncoderMatchesTheGeneralOne) {
  for (size_t topic_size : {size_t{1}, size_t{95}, size_t{96}, size_t{97}, size_t{300}}) {
    const std::string topic(topic_size, 't');
    const std::string payload(200, 'p');  // the Publish below holds views of both
    for (Version version : {Version::v311, v5}) {
      for (uint8_t qos : {0, 1, 2}) {
        const Publish in{topic,    payload,  qos,
                         qos == 1, qos == 2, static_cast<uint16_t>(qos > 0 ? 513 : 0)};
        std::string general, bare;
        encode_publish(general, in, version);
        encode_publish_bare(bare, in.topic, in.payload, in.qos, in.retain, in.dup, in.packet_id,
                            version);
        EXPECT_EQ(bare, general) << topic_size << " " << int(qos);
        EXPECT_EQ(bare.size(), publish_size(in, version));
        Publish out;
        ASSERT_EQ(decode_publish(frame_of(bare), version, out), Error::None);
        EXPECT_EQ(out.topic, in.topic);
        EXPECT_EQ(out.payload, in.payload);
        EXPECT_EQ(out.packet_id, in.packet_id);
        EXPECT_TRUE(out.properties.empty());
      }
    }
  }
}

TEST(Publish5, EncoderWritesOnlyAllowedProperties) {
  Publish in{"t", "", 0, false, false, 0};
  in.properties.session_expiry_interval = 5;  // not a PUBLISH property
  in.properties.reason_string = "no";
  std::string wire;
  encode_publish(wire, in, v5);
  EXPECT_EQ(wire, bytes({0x30, 4, 0, 1, 't', 0}));
  in.properties.topic_alias = 2;
  wire.clear();
  encode_publish(wire, in, v5);
  EXPECT_EQ(wire, packet(0x30, field("t") + props(p_u16(0x23, 2))));
}

TEST(Publish5, TopicAlias) {
  Publish out;
  std::string held;  // the decoded views point into it
  auto decode = [&](const std::string& body, Version version = v5) {
    held = body;
    return decode_publish(make_frame(PacketType::Publish, 0, held), version, out);
  };
  ASSERT_EQ(decode(field("") + props(p_u16(0x23, 5)) + "p"), Error::None);
  EXPECT_EQ(out.topic, "");
  EXPECT_EQ(out.properties.topic_alias, 5);
  EXPECT_EQ(out.payload, "p");
  EXPECT_EQ(decode(field("") + props("") + "p"), Error::EmptyTopicWithoutAlias);
  EXPECT_EQ(decode(field("") + props(p_pair("k", "v"))), Error::EmptyTopicWithoutAlias);
  EXPECT_EQ(decode(field("a") + props(p_u16(0x23, 5))), Error::None);
  EXPECT_EQ(decode(field("a/#") + props(p_u16(0x23, 5))), Error::InvalidTopicName);
  EXPECT_EQ(decode(field("") + props(p_u16(0x23, 0))), Error::InvalidTopicAlias);
  // In 3.1.1 an empty topic is still invalid, and a property list is payload.
  EXPECT_EQ(decode(field("") + props(p_u16(0x23, 5)), Version::v311), Error::InvalidTopicName);
  // Round trip of an aliased publish.
  Publish in{"", "x", 0, false, false, 0};
  in.properties.topic_alias = 9;
  std::string wire;
  encode_publish(wire, in, v5);
  ASSERT_EQ(decode_publish(frame_of(wire), v5, out), Error::None);
  EXPECT_EQ(out.properties.topic_alias, 9);
}

TEST(Publish5, PayloadFollowsTheProperties) {
  const std::string body = field("t") + u16(3) + props(p_byte(0x01, 1)) + bytes({0, 1, 0x26});
  Publish out;
  ASSERT_EQ(decode_publish(make_frame(PacketType::Publish, 2, body), v5, out), Error::None);
  EXPECT_EQ(out.packet_id, 3);
  EXPECT_EQ(out.payload, bytes({0, 1, 0x26}));
  // Truncation before the payload.
  for (size_t cut = 0; cut < body.size() - 3; ++cut) {
    EXPECT_EQ(decode_publish(make_frame(PacketType::Publish, 2, body.substr(0, cut)), v5, out),
              Error::Truncated)
        << cut;
  }
}

// ================================================================================================
// PUBACK, PUBREC, PUBREL, PUBCOMP

TEST(Ack5, ShortFormsAndRoundTrip) {
  for (PacketType type :
       {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
    SCOPED_TRACE(packet_name(type));
    const int flags = type == PacketType::Pubrel ? 2 : 0;
    const uint8_t failure = type == PacketType::Pubrel || type == PacketType::Pubcomp ? 0x92 : 0x80;
    // Success without properties: remaining length 2.
    std::string wire;
    encode_ack(wire, type, Ack{0x1234, 0, {}}, v5);
    EXPECT_EQ(wire, bytes({first(type, flags), 2, 0x12, 0x34}));
    // A reason code without properties: remaining length 3.
    wire.clear();
    encode_ack(wire, type, Ack{1, failure, {}}, v5);
    EXPECT_EQ(wire, bytes({first(type, flags), 3, 0, 1, failure}));
    // Properties: the long form, even for success.
    Ack in{2, 0, {}};
    in.properties.reason_string = "r";
    in.properties.user_properties = {{"k", "v"}};
    wire.clear();
    encode_ack(wire, type, in, v5);
    EXPECT_EQ(wire, packet(first(type, flags),
                           u16(2) + bytes({0}) + props(p_field(0x1F, "r") + p_pair("k", "v"))));
    Ack out;
    ASSERT_EQ(decode_ack(frame_of(wire), v5, out), Error::None);
    EXPECT_EQ(out.packet_id, 2);
    EXPECT_EQ(out.reason_code, 0);
    EXPECT_EQ(out.properties, in.properties);
    // 3.1.1: the packet id only.
    wire.clear();
    encode_ack(wire, type, in, Version::v311);
    EXPECT_EQ(wire, bytes({first(type, flags), 2, 0, 2}));

    std::string held;  // the decoded views point into it
    auto decode = [&](const std::string& body) {
      held = body;
      return decode_ack(make_frame(type, static_cast<uint8_t>(flags), held), v5, out);
    };
    ASSERT_EQ(decode(u16(5)), Error::None);
    EXPECT_EQ(out.reason_code, 0);
    ASSERT_EQ(decode(u16(5) + bytes({failure})), Error::None);
    EXPECT_EQ(out.reason_code, failure);
    EXPECT_TRUE(out.properties.empty());
    EXPECT_EQ(decode(u16(0)), Error::InvalidPacketId);
    EXPECT_EQ(decode(bytes({1})), Error::Truncated);
    EXPECT_EQ(decode(u16(5) + bytes({0, 0, 0})), Error::TrailingBytes);
    EXPECT_EQ(decode(u16(5) + bytes({0, 2, 0x1F})), Error::Truncated);
    // The 3.1.1 ack decoder sees the id of an MQTT 5 ack, and its errors.
    uint16_t id = 0;
    EXPECT_EQ(
        decode_ack(make_frame(type, static_cast<uint8_t>(flags), u16(9) + bytes({failure, 0})), v5,
                   id),
        Error::None);
    EXPECT_EQ(id, 9);
    EXPECT_EQ(
        decode_ack(make_frame(type, static_cast<uint8_t>(flags), u16(9) + bytes({0x42})), v5, id),
        Error::InvalidReasonCode);
    EXPECT_EQ(decode_ack(make_frame(type, static_cast<uint8_t>(flags), u16(9) + bytes({0})),
                         Version::v311, id),
              Error::TrailingBytes);
  }
  // The Ack decoder is not for UNSUBACK.
  Ack out;
  EXPECT_EQ(decode_ack(make_frame(PacketType::Unsuback, 0, u16(1)), v5, out),
            Error::ReservedPacketType);
  // PUBREL flags are required in MQTT 5 too, without 3.1's DUP exception.
  EXPECT_EQ(decode_ack(make_frame(PacketType::Pubrel, 0, u16(1)), v5, out), Error::InvalidFlags);
  EXPECT_EQ(decode_ack(make_frame(PacketType::Pubrel, 0xA, u16(1)), v5, out), Error::InvalidFlags);
}

// ================================================================================================
// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK

Error subscribe5(const std::string& body, Subscribe& out) {
  return decode_subscribe(make_frame(PacketType::Subscribe, 2, body), v5, out);
}

TEST(Subscribe5, EveryOptionsByte) {
  for (int options = 0; options < 256; ++options) {
    const int qos = options & 3;
    const int rh = (options >> 4) & 3;
    Error expected = Error::None;
    if ((options & 0xC0) != 0) {
      expected = Error::InvalidSubscriptionOptions;
    } else if (qos == 3 || rh == 3) {
      expected = Error::InvalidSubscriptionValue;
    }
    Subscribe out;
    const std::string body = u16(5) + props("") + field("a/b") + bytes({options});
    ASSERT_EQ(subscribe5(body, out), expected) << options;
    if (expected != Error::None) continue;
    ASSERT_EQ(out.subscriptions.size(), 1u);
    const Subscription& s = out.subscriptions[0];
    EXPECT_EQ(s.qos, qos);
    EXPECT_EQ(s.no_local, (options & 4) != 0);
    EXPECT_EQ(s.retain_as_published, (options & 8) != 0);
    EXPECT_EQ(s.retain_handling, rh);
    // And back to the same byte.
    Subscribe in;
    in.packet_id = 5;
    in.subscriptions = {s};
    std::string wire;
    encode_subscribe(wire, in, v5);
    EXPECT_EQ(wire, packet(0x82, u16(5) + props("") + field("a/b") + bytes({options})));
  }
}

TEST(Subscribe5, RoundTripWithProperties) {
  Subscribe in;
  in.packet_id = 0x8001;
  in.properties.subscription_identifiers = {77};
  in.properties.user_properties = {{"u", "p"}};
  in.subscriptions = {
      {"a/+", 1, true, false, 0}, {"#", 2, false, true, 2}, {"$share/g/x/#", 0, false, false, 1}};
  std::string wire;
  encode_subscribe(wire, in, v5);
  Subscribe out;
  ASSERT_EQ(decode_subscribe(frame_of(wire), v5, out), Error::None);
  EXPECT_EQ(out.packet_id, in.packet_id);
  EXPECT_EQ(out.properties, in.properties);
  ASSERT_EQ(out.subscriptions.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.subscriptions[i].filter, in.subscriptions[i].filter);
    EXPECT_EQ(out.subscriptions[i].qos, in.subscriptions[i].qos);
    EXPECT_EQ(out.subscriptions[i].no_local, in.subscriptions[i].no_local);
    EXPECT_EQ(out.subscriptions[i].retain_as_published, in.subscriptions[i].retain_as_published);
    EXPECT_EQ(out.subscriptions[i].retain_handling, in.subscriptions[i].retain_handling);
  }
  // The 3.1.1 encoder writes the QoS only.
  wire.clear();
  encode_subscribe(wire, in);
  ASSERT_EQ(decode_subscribe(frame_of(wire), Version::v311, out), Error::None);
  EXPECT_FALSE(out.subscriptions[0].no_local);
  EXPECT_EQ(out.subscriptions[1].retain_handling, 0);
}

TEST(Subscribe5, SharedSubscriptions) {
  Subscribe out;
  auto error = [&](std::string_view filter, int options = 0) {
    return subscribe5(u16(1) + props("") + field(filter) + bytes({options}), out);
  };
  EXPECT_EQ(error("$share/g/a"), Error::None);
  EXPECT_EQ(error("$share/group/+/b/#"), Error::None);
  EXPECT_EQ(error("$share/g//"), Error::None);
  EXPECT_EQ(error("$sharefoo/a"), Error::None);  // not a shared subscription
  EXPECT_EQ(error("$share"), Error::None);
  EXPECT_EQ(error("$share//a"), Error::InvalidTopicFilter);
  EXPECT_EQ(error("$share/g"), Error::InvalidTopicFilter);
  EXPECT_EQ(error("$share/g/"), Error::InvalidTopicFilter);
  EXPECT_EQ(error("$share/+/a"), Error::InvalidTopicFilter);
  EXPECT_EQ(error("$share/#"), Error::InvalidTopicFilter);
  EXPECT_EQ(error("$share/g/a", 0x04), Error::NoLocalOnSharedSubscription);
  EXPECT_EQ(error("a/b", 0x04), Error::None);
  // 3.1.1 knows no shared subscriptions.
  EXPECT_EQ(decode_subscribe(
                make_frame(PacketType::Subscribe, 2, u16(1) + field("$share/g") + bytes({0})),
                Version::v311, out),
            Error::None);
  Unsubscribe unsub;
  EXPECT_EQ(decode_unsubscribe(
                make_frame(PacketType::Unsubscribe, 2, u16(1) + props("") + field("$share/+/a")),
                v5, unsub),
            Error::InvalidTopicFilter);
}

TEST(Subscribe5, Structure) {
  Subscribe out;
  EXPECT_EQ(subscribe5(u16(1) + props(""), out), Error::NoSubscriptions);
  EXPECT_EQ(subscribe5(u16(1), out), Error::Truncated);  // no property length
  EXPECT_EQ(subscribe5(u16(0) + props("") + field("a") + bytes({0}), out), Error::InvalidPacketId);
  EXPECT_EQ(subscribe5(u16(1) + props("") + field("a"), out), Error::Truncated);
  EXPECT_EQ(subscribe5(u16(1) + props("") + field("a+") + bytes({0}), out),
            Error::InvalidTopicFilter);
  // A 3.1.1 body on an MQTT 5 connection: the filter length is read as the property length.
  EXPECT_NE(subscribe5(u16(1) + field("a") + bytes({0}), out), Error::None);
  EXPECT_EQ(decode_subscribe(make_frame(PacketType::Subscribe, 0xA,
                                        u16(1) + props("") + field("a") + bytes({0})),
                             v5, out),
            Error::InvalidFlags);
}

TEST(Suback5, RoundTripAndRules) {
  Suback in{9, {0, 1, 2, 0x80, 0x87, 0xA2}, {}};
  in.properties.reason_string = "partly";
  in.properties.user_properties = {{"x", "y"}};
  std::string wire;
  encode_suback(wire, in, v5);
  EXPECT_EQ(wire, packet(0x90, u16(9) + props(p_field(0x1F, "partly") + p_pair("x", "y")) +
                                   bytes({0, 1, 2, 0x80, 0x87, 0xA2})));
  Suback out;
  ASSERT_EQ(decode_suback(frame_of(wire), v5, out), Error::None);
  EXPECT_EQ(out.packet_id, 9);
  EXPECT_EQ(out.return_codes, in.return_codes);
  EXPECT_EQ(out.properties, in.properties);
  EXPECT_EQ(decode_suback(make_frame(PacketType::Suback, 0, u16(1) + props("")), v5, out),
            Error::NoSubscriptions);
  // 0x87 is not a 3.1.1 return code.
  EXPECT_EQ(
      decode_suback(make_frame(PacketType::Suback, 0, u16(1) + bytes({0x87})), Version::v311, out),
      Error::InvalidReturnCode);
}

TEST(Unsubscribe5, RoundTrip) {
  Unsubscribe in;
  in.packet_id = 4;
  in.filters = {"a/#", "$share/g/b"};
  in.properties.user_properties = {{"1", "2"}};
  std::string wire;
  encode_unsubscribe(wire, in, v5);
  EXPECT_EQ(wire,
            packet(0xA2, u16(4) + props(p_pair("1", "2")) + field("a/#") + field("$share/g/b")));
  Unsubscribe out;
  ASSERT_EQ(decode_unsubscribe(frame_of(wire), v5, out), Error::None);
  EXPECT_EQ(out.packet_id, 4);
  EXPECT_EQ(out.filters, in.filters);
  EXPECT_EQ(out.properties, in.properties);
  EXPECT_EQ(decode_unsubscribe(make_frame(PacketType::Unsubscribe, 2, u16(1) + props("")), v5, out),
            Error::NoSubscriptions);
}

TEST(Unsuback5, RoundTripAndVersions) {
  Unsuback in{6, {0x00, 0x11, 0x8F}, {}};
  in.properties.reason_string = "r";
  std::string wire;
  encode_unsuback(wire, in, v5);
  EXPECT_EQ(wire, packet(0xB0, u16(6) + props(p_field(0x1F, "r")) + bytes({0, 0x11, 0x8F})));
  Unsuback out;
  ASSERT_EQ(decode_unsuback(frame_of(wire), v5, out), Error::None);
  EXPECT_EQ(out.packet_id, 6);
  EXPECT_EQ(out.reason_codes, in.reason_codes);
  EXPECT_EQ(out.properties, in.properties);
  uint16_t id = 0;
  ASSERT_EQ(decode_ack(frame_of(wire), v5, id), Error::None);
  EXPECT_EQ(id, 6);
  EXPECT_EQ(decode_unsuback(make_frame(PacketType::Unsuback, 0, u16(6) + props("")), v5, out),
            Error::NoSubscriptions);
  // 3.1.1: the packet id only.
  wire.clear();
  encode_unsuback(wire, in, Version::v311);
  EXPECT_EQ(wire, bytes({0xB0, 2, 0, 6}));
  ASSERT_EQ(decode_unsuback(frame_of(wire), Version::v311, out), Error::None);
  EXPECT_EQ(out.packet_id, 6);
  EXPECT_TRUE(out.reason_codes.empty());
}

// ================================================================================================
// DISCONNECT and AUTH

TEST(Disconnect5, FormsAndRoundTrip) {
  std::string wire;
  encode_disconnect(wire, Disconnect{}, v5);
  EXPECT_EQ(wire, bytes({0xE0, 0}));
  wire.clear();
  encode_disconnect(wire, Disconnect{reason::kDisconnectWithWillMessage, {}}, v5);
  EXPECT_EQ(wire, bytes({0xE0, 1, 4}));
  wire.clear();
  encode_disconnect(wire, Disconnect{reason::kDisconnectWithWillMessage, {}}, Version::v311);
  EXPECT_EQ(wire, bytes({0xE0, 0}));

  Disconnect in{reason::kServerMoved, {}};
  in.properties.server_reference = "other";
  in.properties.reason_string = "moved";
  in.properties.session_expiry_interval = 0;
  in.properties.user_properties = {{"a", "b"}};
  wire.clear();
  encode_disconnect(wire, in, v5);
  Disconnect out;
  ASSERT_EQ(decode_disconnect(frame_of(wire), v5, out), Error::None);
  EXPECT_EQ(out.reason_code, reason::kServerMoved);
  EXPECT_EQ(out.properties, in.properties);
  EXPECT_EQ(decode_empty(frame_of(wire), v5), Error::None);  // checked and dropped
  EXPECT_EQ(decode_empty(frame_of(wire), Version::v311), Error::TrailingBytes);

  std::string held;  // the decoded views point into it
  auto decode = [&](const std::string& body) {
    held = body;
    return decode_disconnect(make_frame(PacketType::Disconnect, 0, held), v5, out);
  };
  ASSERT_EQ(decode(""), Error::None);
  EXPECT_EQ(out.reason_code, 0);
  ASSERT_EQ(decode(bytes({0x8E})), Error::None);
  EXPECT_EQ(out.reason_code, 0x8E);
  EXPECT_EQ(decode(bytes({0x01})), Error::InvalidReasonCode);
  EXPECT_EQ(decode(bytes({0, 0, 0})), Error::TrailingBytes);
  EXPECT_EQ(decode(bytes({0, 3, 0x11, 0})), Error::Truncated);
  EXPECT_EQ(decode_disconnect(make_frame(PacketType::Disconnect, 1, ""), v5, out),
            Error::InvalidFlags);
  EXPECT_EQ(decode_empty(make_frame(PacketType::Disconnect, 0, bytes({0x01})), v5),
            Error::InvalidReasonCode);
}

TEST(Auth5, FormsAndRoundTrip) {
  std::string wire;
  encode_auth(wire, Auth{});
  EXPECT_EQ(wire, bytes({0xF0, 0}));
  Auth in{reason::kContinueAuthentication, {}};
  in.properties.authentication_method = "SCRAM";
  in.properties.authentication_data = kBin01;
  in.properties.reason_string = "more";
  in.properties.user_properties = {{"k", "v"}};
  wire.clear();
  encode_auth(wire, in);
  EXPECT_EQ(wire, packet(0xF0, bytes({0x18}) +
                                   props(p_field(0x15, "SCRAM") + p_field(0x16, bytes({0, 1})) +
                                         p_field(0x1F, "more") + p_pair("k", "v"))));
  Auth out;
  ASSERT_EQ(decode_auth(frame_of(wire), v5, out), Error::None);
  EXPECT_EQ(out.reason_code, 0x18);
  EXPECT_EQ(out.properties, in.properties);

  std::string held;  // the decoded views point into it
  auto decode = [&](const std::string& body, Version version = v5) {
    held = body;
    return decode_auth(make_frame(PacketType::Auth, 0, held), version, out);
  };
  EXPECT_EQ(decode(""), Error::None);
  EXPECT_EQ(decode(bytes({0x18})), Error::Truncated);  // no one-byte form
  EXPECT_EQ(decode(bytes({0x18, 0})), Error::MissingProperty);
  EXPECT_EQ(decode(bytes({0x18}) + props(p_field(0x16, "d"))), Error::MissingProperty);
  EXPECT_EQ(decode(bytes({0x04}) + props(p_field(0x15, "m"))), Error::InvalidReasonCode);
  EXPECT_EQ(decode(""), Error::None);
  EXPECT_EQ(decode("", Version::v311), Error::ReservedPacketType);
  EXPECT_EQ(decode("", Version::v31), Error::ReservedPacketType);
  EXPECT_EQ(decode_auth(make_frame(PacketType::Auth, 1, ""), v5, out), Error::InvalidFlags);
  EXPECT_EQ(decode_auth(make_frame(PacketType::Disconnect, 0, ""), v5, out),
            Error::ReservedPacketType);
}

// ================================================================================================
// Every packet, every property it may carry: encode, decode, compare.

// The full set, with values valid everywhere.
Properties all_properties() {
  Properties p;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 1;
  p.content_type = "ct";
  p.response_topic = "rt";
  p.correlation_data = "cd";
  p.subscription_identifiers = {42};
  p.session_expiry_interval = 2;
  p.assigned_client_identifier = "aci";
  p.server_keep_alive = 3;
  p.authentication_method = "am";
  p.authentication_data = "ad";
  p.request_problem_information = true;
  p.will_delay_interval = 4;
  p.request_response_information = true;
  p.response_information = "ri";
  p.server_reference = "sr";
  p.reason_string = "rs";
  p.receive_maximum = 5;
  p.topic_alias_maximum = 6;
  p.topic_alias = 7;
  p.maximum_qos = 1;
  p.retain_available = true;
  p.user_properties = {{"k1", "v1"}, {"k2", "v2"}};
  p.maximum_packet_size = 8;
  p.wildcard_subscription_available = false;
  p.subscription_identifiers_available = false;
  p.shared_subscription_available = false;
  return p;
}

// `all` reduced to what `ctx` allows, by the table of this file.
Properties allowed_part(const Properties& all, Ctx ctx) {
  Properties p = all;
  const std::vector<std::pair<int, std::function<void(Properties&)>>> resets = {
      {0x01, [](Properties& q) { q.payload_format_indicator.reset(); }},
      {0x02, [](Properties& q) { q.message_expiry_interval.reset(); }},
      {0x03, [](Properties& q) { q.content_type.reset(); }},
      {0x08, [](Properties& q) { q.response_topic.reset(); }},
      {0x09, [](Properties& q) { q.correlation_data.reset(); }},
      {0x0B, [](Properties& q) { q.subscription_identifiers.clear(); }},
      {0x11, [](Properties& q) { q.session_expiry_interval.reset(); }},
      {0x12, [](Properties& q) { q.assigned_client_identifier.reset(); }},
      {0x13, [](Properties& q) { q.server_keep_alive.reset(); }},
      {0x15, [](Properties& q) { q.authentication_method.reset(); }},
      {0x16, [](Properties& q) { q.authentication_data.reset(); }},
      {0x17, [](Properties& q) { q.request_problem_information.reset(); }},
      {0x18, [](Properties& q) { q.will_delay_interval.reset(); }},
      {0x19, [](Properties& q) { q.request_response_information.reset(); }},
      {0x1A, [](Properties& q) { q.response_information.reset(); }},
      {0x1C, [](Properties& q) { q.server_reference.reset(); }},
      {0x1F, [](Properties& q) { q.reason_string.reset(); }},
      {0x21, [](Properties& q) { q.receive_maximum.reset(); }},
      {0x22, [](Properties& q) { q.topic_alias_maximum.reset(); }},
      {0x23, [](Properties& q) { q.topic_alias.reset(); }},
      {0x24, [](Properties& q) { q.maximum_qos.reset(); }},
      {0x25, [](Properties& q) { q.retain_available.reset(); }},
      {0x26, [](Properties& q) { q.user_properties.clear(); }},
      {0x27, [](Properties& q) { q.maximum_packet_size.reset(); }},
      {0x28, [](Properties& q) { q.wildcard_subscription_available.reset(); }},
      {0x29, [](Properties& q) { q.subscription_identifiers_available.reset(); }},
      {0x2A, [](Properties& q) { q.shared_subscription_available.reset(); }},
  };
  std::map<int, std::set<Ctx>> allowed;
  for (const PropertyCase& pc : property_cases())
    allowed[pc.id] = pc.allowed;
  EXPECT_EQ(resets.size(), allowed.size());
  for (const auto& [id, reset] : resets) {
    if (allowed[id].count(ctx) == 0) reset(p);
  }
  return p;
}

TEST(RoundTrip5, EveryPacketWithEveryAllowedProperty) {
  const Properties all = all_properties();
  for (Ctx ctx : kAllCtx) {
    SCOPED_TRACE(ctx_name(ctx));
    const Properties expected = allowed_part(all, ctx);
    EXPECT_FALSE(expected.empty());
    std::string wire;
    switch (ctx) {
      case Ctx::Connect: {
        Connect c;
        c.version = v5;
        c.client_id = "c";
        c.properties = all;
        encode_connect(wire, c);
        break;
      }
      case Ctx::Will: {
        Connect c;
        c.version = v5;
        c.client_id = "c";
        c.will = Will{"w", "m", 1, false, all};
        encode_connect(wire, c);
        break;
      }
      case Ctx::Connack:
        encode_connack(wire, Connack{false, 0, all}, v5);
        break;
      case Ctx::Publish:
        encode_publish(wire, Publish{"t", "p", 1, false, false, 1, all}, v5);
        break;
      case Ctx::Puback:
        encode_ack(wire, PacketType::Puback, Ack{1, 0x10, all}, v5);
        break;
      case Ctx::Pubrec:
        encode_ack(wire, PacketType::Pubrec, Ack{1, 0, all}, v5);
        break;
      case Ctx::Pubrel:
        encode_ack(wire, PacketType::Pubrel, Ack{1, 0x92, all}, v5);
        break;
      case Ctx::Pubcomp:
        encode_ack(wire, PacketType::Pubcomp, Ack{1, 0, all}, v5);
        break;
      case Ctx::Subscribe:
        encode_subscribe(wire, Subscribe{1, {{"a", 1}}, all}, v5);
        break;
      case Ctx::Suback:
        encode_suback(wire, Suback{1, {1}, all}, v5);
        break;
      case Ctx::Unsubscribe:
        encode_unsubscribe(wire, Unsubscribe{1, {"a"}, all}, v5);
        break;
      case Ctx::Unsuback:
        encode_unsuback(wire, Unsuback{1, {0}, all}, v5);
        break;
      case Ctx::Disconnect:
        encode_disconnect(wire, Disconnect{0, all}, v5);
        break;
      case Ctx::Auth:
        encode_auth(wire, Auth{0x19, all});
        break;
    }
    Properties out;
    ASSERT_EQ(decode5(ctx, frame_of(wire), &out), Error::None);
    EXPECT_EQ(out, expected);
  }
}

TEST(RoundTrip5, StreamOfPackets) {
  std::string wire;
  Connect connect;
  connect.version = v5;
  connect.client_id = "c";
  encode_connect(wire, connect);
  encode_publish(wire, Publish{"a", "1", 2, false, false, 1}, v5);
  encode_ack(wire, PacketType::Pubrel, Ack{1, 0, {}}, v5);
  encode_empty(wire, PacketType::Pingreq);
  encode_disconnect(wire, Disconnect{4, {}}, v5);
  std::string_view rest = wire;
  Frame frame;
  int count = 0;
  while (next_frame(rest, 1024, frame) == FrameStatus::Complete) {
    Error error = Error::None;
    switch (frame.header.type) {
      case PacketType::Connect: {
        Connect c;
        error = decode_connect(frame, c);
        break;
      }
      case PacketType::Publish: {
        Publish p;
        error = decode_publish(frame, v5, p);
        break;
      }
      case PacketType::Pubrel: {
        uint16_t id = 0;
        error = decode_ack(frame, v5, id);
        break;
      }
      default:
        error = decode_empty(frame, v5);
    }
    EXPECT_EQ(error, Error::None) << packet_name(frame.header.type);
    rest.remove_prefix(frame.size());
    ++count;
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(count, 5);
}

}  // namespace
}  // namespace fieldgate::mqtt
