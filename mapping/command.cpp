#include "mapping/command.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace fieldgate::mapping {
namespace {

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

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The length of the JSON number at the start of `text`, or 0 when there is none.
size_t json_number_length(std::string_view text) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < text.size() && is_digit(text[i]))
      ++i;
    return i > start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (i < text.size() && text[i] == '0') {
    ++i;
  } else if (!digits()) {
    return 0;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) return 0;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return 0;
  }
  return i;
}

// A JSON number (already checked by json_number_length) into `out`: int64_t, else uint64_t,
// else double. False when it is out of range even for a double.
bool read_number(std::string_view text, Value& out) {
  const char* first = text.data();
  const char* last = first + text.size();
  bool integer = text.find_first_of(".eE") == std::string_view::npos;
  if (integer) {
    int64_t i = 0;
    if (auto r = std::from_chars(first, last, i); r.ec == std::errc() && r.ptr == last) {
      out = i;
      return true;
    }
    uint64_t u = 0;
    if (auto r = std::from_chars(first, last, u); r.ec == std::errc() && r.ptr == last) {
      out = u;
      return true;
    }
  }
  double d = 0;
  auto r = std::from_chars(first, last, d);
  if (r.ec != std::errc() || r.ptr != last || !std::isfinite(d)) return false;
  out = d;
  return true;
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// Just enough JSON for a command: one object whose members are scalars. Every method returns
// false after setting error_ when the text is not what it expects.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  // {"value": SCALAR} and nothing after it.
  bool read_command_object(Value& value) {
    if (!expect('{')) return false;
    bool has_value = false;
    skip_space();
    if (peek() != '}') {
      do {
        std::string name;
        skip_space();
        if (!read_string(name) || !expect(':')) return false;
        if (name != "value")
          return fail("unknown member \"" + name + "\" (expected {\"value\": ...})");
        if (has_value) return fail("\"value\" given twice");
        if (!read_scalar(value)) return false;
        has_value = true;
        skip_space();
      } while (consume(','));
    }
    if (!expect('}')) return false;
    if (!has_value) return fail("no \"value\" member (expected {\"value\": ...})");
    return at_end();
  }

  // "..." and nothing after it.
  bool read_string_literal(std::string& out) { return read_string(out) && at_end(); }

  const std::string& error() const { return error_; }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_]))
      ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (peek() != c || pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  bool expect(char c) {
    if (consume(c)) return true;
    return fail(std::string("expected '") + c + "'" + where());
  }
  bool at_end() {
    skip_space();
    if (pos_ == text_.size()) return true;
    return fail("unexpected text after the JSON" + where());
  }
  bool fail(std::string message) {
    error_ = "invalid JSON command: " + std::move(message);
    return false;
  }
  std::string where() const {
    if (pos_ >= text_.size()) return " at the end";
    return " at offset " + std::to_string(pos_);
  }

  bool read_scalar(Value& value) {
    skip_space();
    std::string_view rest = text_.substr(pos_);
    if (peek() == '"') {
      std::string text;
      if (!read_string(text)) return false;
      value = std::move(text);
      return true;
    }
    if (read_word("true")) {
      value = true;
      return true;
    }
    if (read_word("false")) {
      value = false;
      return true;
    }
    if (read_word("null")) {
      value = Value{};
      return true;
    }
    if (peek() == '{' || peek() == '[')
      return fail("\"value\" must be a number, true/false, a string or null");
    size_t length = json_number_length(rest);
    if (length == 0) return fail("expected a number, true/false, a string or null" + where());
    if (!read_number(rest.substr(0, length), value)) return fail("number out of range" + where());
    pos_ += length;
    return true;
  }

  // Consumes `word` when the text continues with it.
  bool read_word(std::string_view word) {
    if (!text_.substr(pos_).starts_with(word)) return false;
    pos_ += word.size();
    return true;
  }

  bool read_hex4(uint32_t& code) {
    if (pos_ + 4 > text_.size()) return fail("truncated \\u escape");
    code = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      code <<= 4;
      if (is_digit(c)) {
        code |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return fail("bad \\u escape" + where());
      }
    }
    return true;
  }

  bool read_unicode_escape(std::string& out) {
    uint32_t code = 0;
    if (!read_hex4(code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return fail("lone low surrogate in \\u escape");
    if (code >= 0xD800 && code <= 0xDBFF) {
      uint32_t low = 0;
      if (text_.substr(pos_, 2) != "\\u") return fail("high surrogate without its low half");
      pos_ += 2;
      if (!read_hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return fail("high surrogate without its low half");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
    return true;
  }

  bool read_escape(std::string& out) {
    if (pos_ >= text_.size()) return fail("unterminated string");
    char c = text_[pos_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += c;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        return read_unicode_escape(out);
      default:
        return fail(std::string("unknown escape \\") + c);
    }
  }

  bool read_string(std::string& out) {
    if (!expect('"')) return false;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c == '\\') {
        if (!read_escape(out)) return false;
      } else {
        out += c;
      }
    }
    return fail("unterminated string");
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

ParsedCommand failure(std::string error) {
  return ParsedCommand{Value{}, std::move(error)};
}

ParsedCommand parse_plain(std::string_view text) {
  if (text == "true") return ParsedCommand{Value{true}, ""};
  if (text == "false") return ParsedCommand{Value{false}, ""};
  if (text == "null") return ParsedCommand{Value{}, ""};
  if (json_number_length(text) == text.size()) {
    ParsedCommand command;
    if (!read_number(text, command.value))
      return failure("number out of range: " + std::string(text));
    return command;
  }
  return ParsedCommand{Value{std::string(text)}, ""};
}

}  // namespace

ParsedCommand parse_command(std::string_view payload) {
  std::string_view text = trim(payload);
  if (text.empty()) return failure("empty command (expected a value or {\"value\": ...})");
  if (text.front() == '[') return failure("invalid command: arrays are not accepted");
  JsonReader reader(text);
  if (text.front() == '{') {
    Value value;
    if (!reader.read_command_object(value)) return failure(reader.error());
    return ParsedCommand{std::move(value), ""};
  }
  if (text.front() == '"') {
    std::string value;
    if (!reader.read_string_literal(value)) return failure(reader.error());
    return ParsedCommand{Value{std::move(value)}, ""};
  }
  return parse_plain(text);
}

std::string result_payload(const WriteOutcome& outcome) {
  if (outcome.ok) return "{\"ok\":true}";
  return "{\"ok\":false,\"error\":" + json_string(outcome.error) + "}";
}

CommandRouter::CommandRouter(const std::vector<PointSettings>& points, WriteFunction write,
                             Outbox& results)
    : write_(std::move(write)), results_(results) {
  for (const PointSettings& p : points) {
    targets_.insert_or_assign(
        p.topic + "/set",
        Target{.device = p.device, .point = p.point, .qos = p.qos, .writable = p.writable});
  }
}

bool CommandRouter::handle(std::string_view topic, std::string_view payload,
                           std::optional<ReplyTo> reply_to) {
  auto found = targets_.find(topic);
  if (found == targets_.end()) return false;
  const std::string& command_topic = found->first;
  const Target& target = found->second;
  if (!target.writable) {
    publish_result(
        command_topic, target, reply_to,
        WriteOutcome{false, "point " + target.device + "/" + target.point + " is not writable"});
    return true;
  }
  ParsedCommand command = parse_command(payload);
  if (!command.ok()) {
    publish_result(command_topic, target, reply_to, WriteOutcome{false, command.error});
    return true;
  }
  // Targets live as long as the router; the result is published from the adapter's thread.
  write_(
      target.device, target.point, command.value,
      [this, &command_topic, &target, reply_to = std::move(reply_to)](const WriteOutcome& outcome) {
        publish_result(command_topic, target, reply_to, outcome);
      });
  return true;
}

std::vector<std::string> CommandRouter::command_topics() const {
  std::vector<std::string> topics;
  topics.reserve(targets_.size());
  for (const auto& [topic, target] : targets_)
    topics.push_back(topic);
  return topics;
}

void CommandRouter::publish_result(const std::string& command_topic, const Target& target,
                                   const std::optional<ReplyTo>& reply_to,
                                   const WriteOutcome& outcome) {
  if (reply_to) {
    results_.publish_reply(reply_to->topic, result_payload(outcome), target.qos,
                           reply_to->correlation_data);
  } else {
    results_.publish(command_topic + "/result", result_payload(outcome), target.qos, false);
  }
}

}  // namespace fieldgate::mapping
