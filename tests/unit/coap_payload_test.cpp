// CoAP payloads <-> point values (adapters/coap/payload.h): text and JSON with RFC 6901
// pointers, every CoAP type, scale and offset, and the PUT bodies of writes.
#include "adapters/coap/payload.h"

#include <gtest/gtest.h>

namespace fieldgate::coap {
namespace {

using config::CoapFormat;
using config::ValueType;
using mapping::Value;

config::CoapPoint text_point(ValueType type, double scale = 1.0, double offset = 0.0) {
  config::CoapPoint p;
  p.name = "p";
  p.path = "/p";
  p.format = CoapFormat::Text;
  p.type = type;
  p.scale = scale;
  p.offset = offset;
  return p;
}

config::CoapPoint json_point(ValueType type, std::string pointer) {
  config::CoapPoint p = text_point(type);
  p.format = CoapFormat::Json;
  p.json_pointer = std::move(pointer);
  return p;
}

Value good(std::string_view payload, const config::CoapPoint& point) {
  Decoded d = decode_payload(payload, point);
  EXPECT_TRUE(d.ok()) << payload << ": " << d.error;
  return d.value;
}

std::string bad(std::string_view payload, const config::CoapPoint& point) {
  Decoded d = decode_payload(payload, point);
  EXPECT_FALSE(d.ok()) << payload;
  return d.error;
}

TEST(CoapText, EveryType) {
  EXPECT_EQ(good("21.5", text_point(ValueType::Float64)), Value{21.5});
  EXPECT_EQ(good(" 21.5\n", text_point(ValueType::Float64)), Value{21.5});
  EXPECT_EQ(good("7", text_point(ValueType::Float64)), Value{7.0});
  EXPECT_EQ(good("-42", text_point(ValueType::Int64)), Value{int64_t{-42}});
  EXPECT_EQ(good("42.0", text_point(ValueType::Int64)), Value{int64_t{42}});
  EXPECT_EQ(good("18446744073709551615", text_point(ValueType::UInt64)),
            Value{uint64_t{18446744073709551615u}});
  EXPECT_EQ(good("9223372036854775807", text_point(ValueType::Int64)),
            Value{int64_t{9223372036854775807}});
  EXPECT_EQ(good("true", text_point(ValueType::Bool)), Value{true});
  EXPECT_EQ(good("0", text_point(ValueType::Bool)), Value{false});
  EXPECT_EQ(good("on", text_point(ValueType::Bool)), Value{true});
  EXPECT_EQ(good("OFF", text_point(ValueType::Bool)), Value{false});
  // strings are taken as sent, numbers and all
  EXPECT_EQ(good("Nov 25 16:04:53", text_point(ValueType::String)),
            Value{std::string("Nov 25 16:04:53")});
  EXPECT_EQ(good("21.5", text_point(ValueType::String)), Value{std::string("21.5")});
}

TEST(CoapText, Refused) {
  EXPECT_NE(bad("abc", text_point(ValueType::Float64)).find("expected a number"),
            std::string::npos);
  EXPECT_NE(bad("", text_point(ValueType::Float64)).find("empty payload"), std::string::npos);
  EXPECT_NE(bad("1.5", text_point(ValueType::Int64)).find("expected an integer"),
            std::string::npos);
  EXPECT_NE(bad("-1", text_point(ValueType::UInt64)).find("negative"), std::string::npos);
  EXPECT_NE(bad("9223372036854775808", text_point(ValueType::Int64)).find("out of range"),
            std::string::npos);
  EXPECT_NE(bad("2", text_point(ValueType::Bool)).find("true/false"), std::string::npos);
  EXPECT_NE(bad("{\"v\":1}", text_point(ValueType::Float64)).find("expected a number"),
            std::string::npos);
}

TEST(CoapText, ScaleAndOffset) {
  EXPECT_EQ(good("215", text_point(ValueType::Int64, 0.1)), Value{21.5});
  EXPECT_EQ(good("300", text_point(ValueType::UInt64, 1.0, -273.0)), Value{27.0});
  EXPECT_EQ(good("2.5", text_point(ValueType::Float64, 2.0, 1.0)), Value{6.0});
}

TEST(CoapJson, Pointer) {
  const std::string doc =
      R"({"sensor":{"temp":21.5,"ok":true,"count":42,"n":null},"name":"lab \"1\"",)"
      R"("list":[1,[2,3],{"x":-4e2}],"a/b":1,"m~n":2,"":3,"esc\u0061ped":5})";
  EXPECT_EQ(good(doc, json_point(ValueType::Float64, "/sensor/temp")), Value{21.5});
  EXPECT_EQ(good(doc, json_point(ValueType::Bool, "/sensor/ok")), Value{true});
  EXPECT_EQ(good(doc, json_point(ValueType::Int64, "/sensor/count")), Value{int64_t{42}});
  EXPECT_EQ(good(doc, json_point(ValueType::UInt64, "/sensor/count")), Value{uint64_t{42}});
  EXPECT_EQ(good(doc, json_point(ValueType::String, "/name")), Value{std::string("lab \"1\"")});
  EXPECT_EQ(good(doc, json_point(ValueType::String, "/sensor/count")), Value{std::string("42")});
  EXPECT_EQ(good(doc, json_point(ValueType::Int64, "/list/0")), Value{int64_t{1}});
  EXPECT_EQ(good(doc, json_point(ValueType::Int64, "/list/1/1")), Value{int64_t{3}});
  EXPECT_EQ(good(doc, json_point(ValueType::Float64, "/list/2/x")), Value{-400.0});
  EXPECT_EQ(good(doc, json_point(ValueType::Int64, "/a~1b")), Value{int64_t{1}});
  EXPECT_EQ(good(doc, json_point(ValueType::Int64, "/m~0n")), Value{int64_t{2}});
  EXPECT_EQ(good(doc, json_point(ValueType::Int64, "/")), Value{int64_t{3}});
  EXPECT_EQ(good(doc, json_point(ValueType::Int64, "/escaped")), Value{int64_t{5}});
  // the whole document when it is a scalar
  EXPECT_EQ(good(" 17 ", json_point(ValueType::Int64, "")), Value{int64_t{17}});
  EXPECT_EQ(good("\"x\"", json_point(ValueType::String, "")), Value{std::string("x")});
}

TEST(CoapJson, PointerErrors) {
  const std::string doc = R"({"sensor":{"temp":21.5,"n":null},"list":[1,2]})";
  std::string e = bad(doc, json_point(ValueType::Float64, "/sensor/humidity"));
  EXPECT_NE(e.find("json_pointer /sensor/humidity"), std::string::npos) << e;
  EXPECT_NE(e.find("no member \"humidity\""), std::string::npos) << e;
  e = bad(doc, json_point(ValueType::Float64, "/sensor"));
  EXPECT_NE(e.find("selects an object"), std::string::npos) << e;
  e = bad(doc, json_point(ValueType::Float64, "/list"));
  EXPECT_NE(e.find("selects an array"), std::string::npos) << e;
  e = bad(doc, json_point(ValueType::Float64, "/list/5"));
  EXPECT_NE(e.find("no element 5"), std::string::npos) << e;
  e = bad(doc, json_point(ValueType::Float64, "/list/01"));
  EXPECT_NE(e.find("not an array index"), std::string::npos) << e;
  e = bad(doc, json_point(ValueType::Float64, "/sensor/temp/x"));
  EXPECT_NE(e.find("not an object or array"), std::string::npos) << e;
  e = bad(doc, json_point(ValueType::Float64, "/sensor/n"));
  EXPECT_NE(e.find("null"), std::string::npos) << e;
  e = bad(R"({"sensor":{"temp":21.5,})", json_point(ValueType::Float64, "/sensor/temp2"));
  EXPECT_NE(e.find("invalid JSON"), std::string::npos) << e;
  e = bad(R"({"a":"unterminated)", json_point(ValueType::Float64, "/b"));
  EXPECT_NE(e.find("invalid JSON"), std::string::npos) << e;
  e = bad("not json", json_point(ValueType::Float64, "/a"));
  EXPECT_FALSE(e.empty());
  e = bad(R"({"a":"text"})", json_point(ValueType::Float64, "/a"));
  EXPECT_NE(e.find("expected a number"), std::string::npos) << e;
  std::string deep(100, '[');
  e = bad(R"({"a":)" + deep, json_point(ValueType::Float64, "/b"));
  EXPECT_NE(e.find("nested deeper"), std::string::npos) << e;
}

TEST(CoapJson, SelectReturnsTheSpelling) {
  Selected s = select_json(R"({"a": 1.50e1 , "b": "x"})", "/a");
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(s.json, "1.50e1");
  s = select_json(R"({"a": 1, "b": "x\"y"})", "/b");
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(s.json, R"("x\"y")");
}

TEST(CoapEncode, Text) {
  EXPECT_EQ(encode_payload(Value{21.5}, text_point(ValueType::Float64)).payload, "21.5");
  EXPECT_EQ(encode_payload(Value{int64_t{3}}, text_point(ValueType::Float64)).payload, "3");
  EXPECT_EQ(encode_payload(Value{true}, text_point(ValueType::Bool)).payload, "true");
  EXPECT_EQ(encode_payload(Value{int64_t{0}}, text_point(ValueType::Bool)).payload, "false");
  EXPECT_EQ(encode_payload(Value{std::string("on")}, text_point(ValueType::Bool)).payload, "true");
  EXPECT_EQ(encode_payload(Value{std::string("hi there")}, text_point(ValueType::String)).payload,
            "hi there");
  EXPECT_EQ(encode_payload(Value{int64_t{42}}, text_point(ValueType::String)).payload, "42");
  // integers stay exact
  EXPECT_EQ(encode_payload(Value{int64_t{-9223372036854775807 - 1}}, text_point(ValueType::Int64))
                .payload,
            "-9223372036854775808");
  EXPECT_EQ(
      encode_payload(Value{uint64_t{18446744073709551615u}}, text_point(ValueType::UInt64)).payload,
      "18446744073709551615");
  // scale and offset reversed, rounded half away from zero
  EXPECT_EQ(encode_payload(Value{2.5}, text_point(ValueType::Int64, 0.1)).payload, "25");
  EXPECT_EQ(encode_payload(Value{-2.5}, text_point(ValueType::Int64)).payload, "-3");
  EXPECT_EQ(encode_payload(Value{6.0}, text_point(ValueType::Float64, 2.0, 1.0)).payload, "2.5");
  EXPECT_EQ(encode_payload(Value{std::string("7")}, text_point(ValueType::Int64)).payload, "7");
}

TEST(CoapEncode, Refused) {
  EXPECT_FALSE(encode_payload(Value{}, text_point(ValueType::Float64)).ok());
  EXPECT_FALSE(encode_payload(Value{std::string("abc")}, text_point(ValueType::Float64)).ok());
  EXPECT_FALSE(encode_payload(Value{int64_t{2}}, text_point(ValueType::Bool)).ok());
  EXPECT_FALSE(encode_payload(Value{int64_t{-1}}, text_point(ValueType::UInt64)).ok());
  EXPECT_FALSE(
      encode_payload(Value{uint64_t{9223372036854775808u}}, text_point(ValueType::Int64)).ok());
  EXPECT_FALSE(encode_payload(Value{1e300}, text_point(ValueType::Int64)).ok());
  EXPECT_FALSE(encode_payload(Value{true}, text_point(ValueType::Float64)).ok());
}

TEST(CoapEncode, JsonNestsUnderThePointer) {
  EXPECT_EQ(encode_payload(Value{3.5}, json_point(ValueType::Float64, "/value")).payload,
            R"({"value":3.5})");
  EXPECT_EQ(encode_payload(Value{true}, json_point(ValueType::Bool, "/a/b")).payload,
            R"({"a":{"b":true}})");
  EXPECT_EQ(encode_payload(Value{std::string("x\"y")}, json_point(ValueType::String, "/s")).payload,
            R"({"s":"x\"y"})");
  EXPECT_EQ(encode_payload(Value{int64_t{5}}, json_point(ValueType::Int64, "/a~1b/m~0n")).payload,
            R"({"a/b":{"m~n":5}})");
  EXPECT_EQ(encode_payload(Value{int64_t{5}}, json_point(ValueType::Int64, "")).payload, "5");
  // what is written reads back as the same value
  config::CoapPoint p = json_point(ValueType::Float64, "/a/b");
  EXPECT_EQ(good(encode_payload(Value{-0.25}, p).payload, p), Value{-0.25});
}

}  // namespace
}  // namespace fieldgate::coap
