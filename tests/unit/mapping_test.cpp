// Payloads exactly as SPEC.md shows them.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mapping/value.h"

namespace fieldgate::mapping {
namespace {

TEST(Value, JsonOfEveryKind) {
  EXPECT_EQ(to_json(Value{}), "null");
  EXPECT_EQ(to_json(Value{true}), "true");
  EXPECT_EQ(to_json(Value{false}), "false");
  EXPECT_EQ(to_json(Value{int64_t{-42}}), "-42");
  // 64-bit integers stay exact: no detour through a double.
  EXPECT_EQ(to_json(Value{std::numeric_limits<int64_t>::min()}), "-9223372036854775808");
  EXPECT_EQ(to_json(Value{std::numeric_limits<uint64_t>::max()}), "18446744073709551615");
  EXPECT_EQ(to_json(Value{21.5}), "21.5");
  EXPECT_EQ(to_json(Value{0.1}), "0.1");
  EXPECT_EQ(to_json(Value{1e21}), "1e+21");
  EXPECT_EQ(to_json(Value{700000.0}), "700000");  // not 7e+05
  EXPECT_EQ(to_json(Value{-0.000125}), "-0.000125");
  EXPECT_EQ(to_json(Value{1e-7}), "1e-07");
  EXPECT_EQ(to_json(Value{std::nan("")}), "null");
  EXPECT_EQ(to_json(Value{std::string("a\"b\\c\n\x01")}), R"("a\"b\\c\n\u0001")");
}

TEST(Value, BarePayload) {
  EXPECT_EQ(value_payload(Value{21.5}), "21.5");
  EXPECT_EQ(value_payload(Value{true}), "true");
  EXPECT_EQ(value_payload(Value{std::string("text")}), "text");
  EXPECT_EQ(value_payload(Value{}), "null");
}

TEST(Value, JsonPayloadGoodAndBad) {
  Reading good{Value{21.5}, 1764070000123, Quality::Good, ""};
  EXPECT_EQ(json_payload(good, "°C"),
            R"({"value":21.5,"ts":1764070000123,"quality":"good","unit":"°C"})");
  EXPECT_EQ(json_payload(good, ""), R"({"value":21.5,"ts":1764070000123,"quality":"good"})");
  Reading bad{Value{}, 1764070000999, Quality::Bad, "timeout"};
  EXPECT_EQ(json_payload(bad, ""),
            R"({"value":null,"ts":1764070000999,"quality":"bad","error":"timeout"})");
}

TEST(SwitchState, OnAndOffInEveryCommandSpelling) {
  EXPECT_EQ(switch_state(Value{true}), true);
  EXPECT_EQ(switch_state(Value{uint64_t{0}}), false);
  EXPECT_EQ(switch_state(Value{int64_t{1}}), true);
  EXPECT_EQ(switch_state(Value{1.0}), true);
  EXPECT_EQ(switch_state(Value{std::string("Off")}), false);
  EXPECT_EQ(switch_state(Value{std::string("ON")}), true);
  EXPECT_EQ(switch_state(Value{std::string("0")}), false);
  EXPECT_EQ(switch_state(Value{std::string("maybe")}), std::nullopt);
  EXPECT_EQ(switch_state(Value{int64_t{2}}), std::nullopt);
  EXPECT_EQ(switch_state(Value{0.5}), std::nullopt);
  EXPECT_EQ(switch_state(Value{}), std::nullopt);
}

}  // namespace
}  // namespace fieldgate::mapping
