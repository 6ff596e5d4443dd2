#include "mapping/value.h"

#include <charconv>
#include <cmath>

namespace fieldgate::mapping {
namespace {

template <typename Number>
void append_number(std::string& out, Number n) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, n);  // shortest exact form
  out.append(buffer, result.ptr);
}

// The shortest text that reads back as the same double; plain decimals (700000, 0.25) across
// the range a reading takes, exponents (1e+21) only beyond it.
void append_double(std::string& out, double d) {
  char buffer[400];
  double magnitude = std::fabs(d);
  auto format = (magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e17))
                    ? std::chars_format::fixed
                    : std::chars_format::general;
  auto result = std::to_chars(buffer, buffer + sizeof buffer, d, format);
  out.append(buffer, result.ptr);
}

void append_json(std::string& out, const Value& value) {
  struct Visitor {
    std::string& out;
    void operator()(std::monostate) const { out += "null"; }
    void operator()(bool b) const { out += b ? "true" : "false"; }
    void operator()(int64_t n) const { append_number(out, n); }
    void operator()(uint64_t n) const { append_number(out, n); }
    void operator()(double d) const {
      if (std::isfinite(d)) {
        append_double(out, d);
      } else {
        out += "null";
      }
    }
    void operator()(const std::string& s) const { out += json_string(s); }
  };
  std::visit(Visitor{out}, value);
}

}  // namespace

std::string json_string(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += ch;  // UTF-8 passes through as it is
        }
    }
  }
  out += '"';
  return out;
}

std::string to_json(const Value& value) {
  std::string out;
  append_json(out, value);
  return out;
}

std::string value_payload(const Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  return to_json(value);
}

std::string json_payload(const Reading& reading, std::string_view unit) {
  std::string out = "{\"value\":";
  append_json(out, reading.value);
  out += ",\"ts\":";
  append_number(out, reading.ts_ms);
  out += reading.quality == Quality::Good ? ",\"quality\":\"good\"" : ",\"quality\":\"bad\"";
  if (!unit.empty()) {
    out += ",\"unit\":";
    out += json_string(unit);
  }
  if (!reading.error.empty()) {
    out += ",\"error\":";
    out += json_string(reading.error);
  }
  out += '}';
  return out;
}

std::optional<bool> switch_state(const Value& value) {
  if (const bool* b = std::get_if<bool>(&value)) return *b;
  if (const int64_t* i = std::get_if<int64_t>(&value); i && (*i == 0 || *i == 1)) return *i == 1;
  if (const uint64_t* u = std::get_if<uint64_t>(&value); u && *u <= 1) return *u == 1;
  if (const double* d = std::get_if<double>(&value); d && (*d == 0.0 || *d == 1.0)) {
    return *d == 1.0;
  }
  if (const std::string* s = std::get_if<std::string>(&value)) {
    std::string lower;
    for (char c : *s)
      lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower == "true" || lower == "on" || lower == "1") return true;
    if (lower == "false" || lower == "off" || lower == "0") return false;
  }
  return std::nullopt;
}

}  // namespace fieldgate::mapping
