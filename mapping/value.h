// The one value type of the whole gateway, and the payloads the mapping publishes (SPEC.md,
// "Topics and payloads").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace fieldgate::mapping {

// null (no value: the device did not answer), bool, signed and unsigned 64-bit integers (kept
// exact end to end, never through a double), double, text.
using Value = std::variant<std::monostate, bool, int64_t, uint64_t, double, std::string>;

enum class Quality { Good, Bad };

// One value of one point, as an adapter read it.
struct Reading {
  Value value;
  int64_t ts_ms = 0;  // when it was read, milliseconds since the Unix epoch
  Quality quality = Quality::Good;
  std::string error;  // why the quality is bad: "timeout", "Modbus exception 2", ...
};

// The value as JSON: null, true/false, integers exactly, doubles in their shortest exact form
// (non-finite ones as null, which JSON has no other spelling for), strings quoted and escaped.
std::string to_json(const Value& value);

// payload = "value": the bare value as text (21.5, true, text unquoted; null for no value).
std::string value_payload(const Value& value);

// payload = "json": {"value":..,"ts":..,"quality":"good"|"bad"} plus "unit" when `unit` is not
// empty and "error" when the reading has one.
std::string json_payload(const Reading& reading, std::string_view unit);

// `text` as a JSON string literal, quotes included.
std::string json_string(std::string_view text);

// A command's value as an on/off state: true/false, the numbers 1/0, or the texts "true",
// "false", "on", "off", "1", "0" (any case); std::nullopt for anything else.
std::optional<bool> switch_state(const Value& value);

}  // namespace fieldgate::mapping
