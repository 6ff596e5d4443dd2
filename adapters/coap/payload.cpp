#include "adapters/coap/payload.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "mapping/command.h"

namespace fieldgate::coap {
namespace {

using config::ValueType;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

// What a user sees of a payload in an error: quoted, cut after 40 bytes.
std::string shown(std::string_view text) {
  constexpr size_t kMax = 40;
  if (text.size() <= kMax) return mapping::json_string(text);
  return mapping::json_string(text.substr(0, kMax)) + "...";
}

// Walks a JSON document just far enough to find one value: every value it passes is checked
// for syntax while it is skipped, so a malformed document is reported, not misread.
class JsonWalker {
 public:
  explicit JsonWalker(std::string_view text) : text_(text) {}

  // Follows `pointer` from the top-level value; leaves `selected` spanning the value found.
  bool select(std::string_view pointer, std::string_view& selected) {
    skip_space();
    std::string_view rest = pointer;
    std::string token;
    while (!rest.empty()) {
      // RFC 6901: "/" separates reference tokens; "~1" stands for '/', "~0" for '~'.
      rest.remove_prefix(1);  // the '/'
      size_t end = rest.find('/');
      std::string_view raw = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
      if (!unescape(raw, token)) return false;
      consumed_ = pointer.substr(0, pointer.size() - rest.size());
      if (peek() == '{') {
        if (!enter_member(token)) return false;
      } else if (peek() == '[') {
        if (!enter_element(token)) return false;
      } else {
        return fail("json_pointer " + std::string(consumed_) + ": " +
                    std::string(consumed_.substr(0, consumed_.size() - raw.size() - 1)) +
                    " is not an object or array");
      }
    }
    size_t start = pos_;
    if (peek() == '{' || peek() == '[') {
      return fail("json_pointer " + std::string(pointer.empty() ? "\"\"" : pointer) +
                  " selects an " + (peek() == '{' ? "object" : "array") +
                  ", not a value (point the json_pointer at a number, string or true/false)");
    }
    if (!skip_value()) return false;
    selected = text_.substr(start, pos_ - start);
    skip_space();
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_]))
      ++pos_;
  }
  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  bool syntax(std::string_view what) {
    return fail("invalid JSON: " + std::string(what) +
                (pos_ >= text_.size() ? " at the end" : " at offset " + std::to_string(pos_)));
  }
  bool expect(char c) {
    skip_space();
    if (peek() != c || pos_ >= text_.size()) return syntax(std::string("expected '") + c + "'");
    ++pos_;
    skip_space();
    return true;
  }

  static bool unescape(std::string_view raw, std::string& out) {
    out.clear();
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        out += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        out += raw[i];
      }
    }
    return true;
  }

  // In an object: moves to the value of member `name`.
  bool enter_member(const std::string& name) {
    ++pos_;  // '{'
    skip_space();
    if (peek() == '}') return missing("no member " + mapping::json_string(name));
    while (true) {
      std::string_view key_json;
      size_t key_start = pos_;
      if (peek() != '"') return syntax("expected a member name");
      if (!skip_string()) return false;
      key_json = text_.substr(key_start, pos_ - key_start);
      if (!expect(':')) return false;
      if (key_matches(key_json, name)) return true;
      if (!skip_value()) return false;
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
        continue;
      }
      if (peek() == '}') return missing("no member " + mapping::json_string(name));
      return syntax("expected ',' or '}'");
    }
  }

  // In an array: moves to element `index` (decimal, no leading zeros, as RFC 6901 says).
  bool enter_element(const std::string& index_text) {
    size_t index = 0;
    bool valid = !index_text.empty() && (index_text == "0" || index_text[0] != '0');
    for (char c : index_text) {
      if (c < '0' || c > '9' || index > std::numeric_limits<size_t>::max() / 10) {
        valid = false;
        break;
      }
      index = index * 10 + static_cast<size_t>(c - '0');
    }
    if (!valid) {
      return fail("json_pointer " + std::string(consumed_) + ": " +
                  mapping::json_string(index_text) + " is not an array index");
    }
    ++pos_;  // '['
    skip_space();
    size_t count = 0;
    if (peek() == ']') return missing("the array has no element " + index_text);
    while (true) {
      if (count == index) return true;
      if (!skip_value()) return false;
      ++count;
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
        continue;
      }
      if (peek() == ']') return missing("the array has no element " + index_text);
      return syntax("expected ',' or ']'");
    }
  }

  bool missing(const std::string& what) {
    return fail("json_pointer " + std::string(consumed_) + ": " + what);
  }

  // Member names are compared decoded, so "\u0074emp" is "temp".
  static bool key_matches(std::string_view key_json, const std::string& name) {
    std::string_view inner = key_json.substr(1, key_json.size() - 2);
    if (inner.find('\\') == std::string_view::npos) return inner == name;
    mapping::ParsedCommand decoded = mapping::parse_command(key_json);
    const auto* text = std::get_if<std::string>(&decoded.value);
    return decoded.ok() && text && *text == name;
  }

  bool skip_string() {
    ++pos_;  // '"'
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return syntax("control character in a string");
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        ++pos_;  // the escaped character; \uXXXX's digits are plain characters here
      }
    }
    return syntax("unterminated string");
  }

  bool skip_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return syntax("unexpected character");
    pos_ += word.size();
    return true;
  }

  bool skip_number() {
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return syntax("unexpected character");
    return true;  // the number itself is checked when it is the value selected
  }

  bool skip_value() {
    if (++depth_ > kMaxDepth) return fail("invalid JSON: nested deeper than 64 levels");
    skip_space();
    bool ok = false;
    switch (peek()) {
      case '"':
        ok = skip_string();
        break;
      case '{':
        ok = skip_container('{', '}', true);
        break;
      case '[':
        ok = skip_container('[', ']', false);
        break;
      case 't':
        ok = skip_literal("true");
        break;
      case 'f':
        ok = skip_literal("false");
        break;
      case 'n':
        ok = skip_literal("null");
        break;
      default:
        ok = skip_number();
    }
    --depth_;
    return ok;
  }

  bool skip_container(char open, char close, bool object) {
    ++pos_;
    skip_space();
    if (peek() == close) {
      ++pos_;
      return true;
    }
    (void)open;
    while (true) {
      if (object) {
        if (peek() != '"') return syntax("expected a member name");
        if (!skip_string() || !expect(':')) return false;
      }
      if (!skip_value()) return false;
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
        continue;
      }
      if (peek() == close) {
        ++pos_;
        return true;
      }
      return syntax(std::string("expected ',' or '") + close + "'");
    }
  }

  static constexpr int kMaxDepth = 64;
  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::string_view consumed_;  // the part of the pointer followed so far
  std::string error_;
};

bool is_number(const mapping::Value& v) {
  return std::holds_alternative<int64_t>(v) || std::holds_alternative<uint64_t>(v) ||
         std::holds_alternative<double>(v);
}

double as_double(const mapping::Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
  return std::get<double>(v);
}

bool identity(const config::CoapPoint& point) {
  return point.scale == 1.0 && point.offset == 0.0;
}

Decoded failure(std::string error) {
  return Decoded{mapping::Value{}, std::move(error)};
}

std::string_view kind_of(const mapping::Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return "null";
  if (std::holds_alternative<bool>(v)) return "true/false";
  if (std::holds_alternative<std::string>(v)) return "text";
  return "a number";
}

// A scalar (as parse_command reads it) as a value of the point's type, scaled.
Decoded convert(mapping::Value raw, std::string_view spelled, const config::CoapPoint& point) {
  if (std::holds_alternative<std::monostate>(raw)) return failure("the device sent null");
  switch (point.type) {
    case ValueType::Bool: {
      if (const auto* b = std::get_if<bool>(&raw)) return Decoded{*b, ""};
      if (const auto* i = std::get_if<int64_t>(&raw); i && (*i == 0 || *i == 1))
        return Decoded{*i == 1, ""};
      if (const auto* text = std::get_if<std::string>(&raw)) {
        if (*text == "on" || *text == "ON" || *text == "On") return Decoded{true, ""};
        if (*text == "off" || *text == "OFF" || *text == "Off") return Decoded{false, ""};
      }
      return failure("expected true/false (or 1/0, on/off) for a bool point, got " +
                     shown(spelled));
    }
    case ValueType::String:
      if (auto* text = std::get_if<std::string>(&raw)) return Decoded{std::move(*text), ""};
      return Decoded{std::string(spelled), ""};
    case ValueType::Int64:
    case ValueType::UInt64: {
      const bool is_signed = point.type == ValueType::Int64;
      mapping::Value integer;
      if (const auto* i = std::get_if<int64_t>(&raw)) {
        if (!is_signed && *i < 0) {
          return failure("negative value " + std::string(spelled) + " for a uint64 point");
        }
        integer = is_signed ? mapping::Value{*i} : mapping::Value{static_cast<uint64_t>(*i)};
      } else if (const auto* u = std::get_if<uint64_t>(&raw)) {
        if (is_signed) return failure("value " + std::string(spelled) + " out of range for int64");
        integer = *u;
      } else if (const auto* d = std::get_if<double>(&raw)) {
        // 21.0 or 2.1e1 is an integer spelled as a double; 21.5 is not.
        if (std::trunc(*d) != *d)
          return failure("expected an integer, got " + std::string(spelled));
        if (is_signed ? (*d < -9223372036854775808.0 || *d >= 9223372036854775808.0)
                      : (*d < 0 || *d >= 18446744073709551616.0)) {
          return failure("value " + std::string(spelled) + " out of range for " +
                         std::string(config::to_string(point.type)));
        }
        integer = is_signed ? mapping::Value{static_cast<int64_t>(*d)}
                            : mapping::Value{static_cast<uint64_t>(*d)};
      } else {
        return failure("expected an integer, got " + std::string(kind_of(raw)) + " " +
                       shown(spelled));
      }
      if (identity(point)) return Decoded{std::move(integer), ""};
      return Decoded{as_double(integer) * point.scale + point.offset, ""};
    }
    default:  // Float64 (the config allows no other type for CoAP points)
      if (!is_number(raw)) {
        return failure("expected a number, got " + std::string(kind_of(raw)) + " " +
                       shown(spelled));
      }
      return Decoded{as_double(raw) * point.scale + point.offset, ""};
  }
}

}  // namespace

Selected select_json(std::string_view document, std::string_view pointer) {
  if (!pointer.empty() && pointer.front() != '/') {
    return Selected{{}, "json_pointer " + mapping::json_string(pointer) + " must start with '/'"};
  }
  JsonWalker walker(document);
  std::string_view selected;
  if (!walker.select(pointer, selected)) return Selected{{}, walker.error()};
  return Selected{selected, ""};
}

Decoded decode_payload(std::string_view payload, const config::CoapPoint& point) {
  if (point.format == config::CoapFormat::Json) {
    Selected selected = select_json(payload, point.json_pointer.value_or(""));
    if (!selected.ok()) return failure(std::move(selected.error));
    mapping::ParsedCommand scalar = mapping::parse_command(selected.json);
    if (!scalar.ok()) return failure("invalid JSON value " + shown(selected.json));
    // A JSON string is text even when it spells a number; string points take it as it is.
    return convert(std::move(scalar.value), selected.json, point);
  }
  std::string_view text = trim(payload);
  if (point.type == ValueType::String) return Decoded{std::string(payload), ""};
  if (text.empty()) return failure("empty payload (expected a value as text)");
  // Plain text: true/false, numbers, anything else as text (a JSON-looking payload is read as
  // it is spelled, not decoded).
  mapping::Value raw;
  if (text == "true" || text == "false") {
    raw = text == "true";
  } else {
    mapping::ParsedCommand parsed = mapping::parse_command(text);
    const bool structured = text.front() == '{' || text.front() == '[' || text.front() == '"';
    raw = parsed.ok() && !structured ? std::move(parsed.value) : mapping::Value{std::string(text)};
    if (std::holds_alternative<std::monostate>(raw)) raw = std::string(text);  // "null"
  }
  return convert(std::move(raw), text, point);
}

namespace {

Encoded refuse(std::string error) {
  return Encoded{"", std::move(error)};
}

// The value, unscaled, in the point's type; as JSON text (strings quoted) or bare text.
Encoded raw_text(const mapping::Value& value, const config::CoapPoint& point, bool json) {
  if (std::holds_alternative<std::monostate>(value)) return refuse("null cannot be written");
  switch (point.type) {
    case ValueType::Bool: {
      std::optional<bool> state;
      if (const auto* b = std::get_if<bool>(&value)) state = *b;
      if (const auto* i = std::get_if<int64_t>(&value); i && (*i == 0 || *i == 1)) state = *i == 1;
      if (const auto* text = std::get_if<std::string>(&value)) {
        if (*text == "on" || *text == "true" || *text == "1") state = true;
        if (*text == "off" || *text == "false" || *text == "0") state = false;
      }
      if (!state) return refuse("expected true/false (or 1/0, on/off) for a bool point");
      return Encoded{*state ? "true" : "false", ""};
    }
    case ValueType::String: {
      std::string text = std::holds_alternative<std::string>(value) ? std::get<std::string>(value)
                                                                    : mapping::value_payload(value);
      return Encoded{json ? mapping::json_string(text) : text, ""};
    }
    default:
      break;
  }
  mapping::Value number = value;
  if (const auto* text = std::get_if<std::string>(&value)) {
    mapping::ParsedCommand parsed = mapping::parse_command(*text);
    if (!parsed.ok() || !is_number(parsed.value))
      return refuse("expected a number, got text " + shown(*text));
    number = parsed.value;
  }
  if (!is_number(number)) return refuse("expected a number, got " + std::string(kind_of(value)));
  if (point.type == ValueType::Float64) {
    double raw = (as_double(number) - point.offset) / point.scale;
    if (!std::isfinite(raw)) return refuse("value out of range");
    return Encoded{mapping::to_json(raw), ""};
  }
  const bool is_signed = point.type == ValueType::Int64;
  if (identity(point) && !std::holds_alternative<double>(number)) {
    // Integers stay exact: never through a double.
    if (const auto* i = std::get_if<int64_t>(&number)) {
      if (!is_signed && *i < 0) return refuse("value " + std::to_string(*i) + " below 0 (uint64)");
      return Encoded{std::to_string(*i), ""};
    }
    uint64_t u = std::get<uint64_t>(number);
    if (is_signed) return refuse("value " + std::to_string(u) + " above the int64 range");
    return Encoded{std::to_string(u), ""};
  }
  double raw = std::round((as_double(number) - point.offset) / point.scale);  // halves away
  if (is_signed) {
    if (!(raw >= -9223372036854775808.0 && raw < 9223372036854775808.0))
      return refuse("value out of range for int64 (after scale and offset)");
    return Encoded{std::to_string(static_cast<int64_t>(raw)), ""};
  }
  if (!(raw >= 0 && raw < 18446744073709551616.0))
    return refuse("value out of range for uint64 (after scale and offset)");
  return Encoded{std::to_string(static_cast<uint64_t>(raw)), ""};
}

}  // namespace

Encoded encode_payload(const mapping::Value& value, const config::CoapPoint& point) {
  const bool json = point.format == config::CoapFormat::Json;
  Encoded scalar = raw_text(value, point, json);
  if (!scalar.ok() || !json) return scalar;
  // {"a":{"b":VALUE}} for json_pointer "/a/b": the smallest document the pointer selects from.
  std::string_view pointer;
  if (point.json_pointer) pointer = *point.json_pointer;
  std::vector<std::string> tokens;
  while (!pointer.empty()) {
    pointer.remove_prefix(1);
    size_t end = pointer.find('/');
    std::string token;
    std::string_view raw = pointer.substr(0, end);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[++i] == '0' ? '~' : '/';
      } else {
        token += raw[i];
      }
    }
    tokens.push_back(std::move(token));
    pointer = end == std::string_view::npos ? std::string_view{} : pointer.substr(end);
  }
  std::string out;
  for (const std::string& token : tokens)
    out += "{" + mapping::json_string(token) + ":";
  out += scalar.payload;
  out.append(tokens.size(), '}');
  return Encoded{std::move(out), ""};
}

}  // namespace fieldgate::coap
