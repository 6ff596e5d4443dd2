#include "adapters/modbus/codec.h"

#include <modbus.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace fieldgate::modbus {
namespace {

using config::ValueType;
using config::WordOrder;

bool swaps_bytes(WordOrder order) {
  return order == WordOrder::BADC || order == WordOrder::DCBA;
}

bool reverses_registers(WordOrder order) {
  return order == WordOrder::CDAB || order == WordOrder::DCBA;
}

uint16_t swap16(uint16_t word) {
  return static_cast<uint16_t>((word << 8) | (word >> 8));
}

bool is_integer_type(ValueType type) {
  switch (type) {
    case ValueType::Int16:
    case ValueType::UInt16:
    case ValueType::Int32:
    case ValueType::UInt32:
    case ValueType::Int64:
    case ValueType::UInt64:
      return true;
    default:
      return false;
  }
}

bool is_signed_type(ValueType type) {
  return type == ValueType::Int16 || type == ValueType::Int32 || type == ValueType::Int64;
}

// An integer anywhere in int64_t's or uint64_t's range, exactly: sign and magnitude, since
// 32-bit targets (armhf) have no __int128.
struct Exact {
  bool negative = false;
  uint64_t magnitude = 0;  // |value|; 0 is never negative
};

Exact exact_of(int64_t i) {
  if (i >= 0) return {false, static_cast<uint64_t>(i)};
  return {true, uint64_t{0} - static_cast<uint64_t>(i)};  // |INT64_MIN| = 2^63 fits
}

Exact exact_of(uint64_t u) {
  return {false, u};
}

bool operator<(Exact a, Exact b) {
  if (a.negative != b.negative) return a.negative;
  return a.negative ? a.magnitude > b.magnitude : a.magnitude < b.magnitude;
}

double to_double(Exact n) {
  double d = static_cast<double>(n.magnitude);
  return n.negative ? -d : d;
}

// The raw value's 64 bits (two's complement for negative values).
uint64_t bits_of(Exact n) {
  return n.negative ? uint64_t{0} - n.magnitude : n.magnitude;
}

std::string exact_text(Exact n) {
  return (n.negative ? "-" : "") + std::to_string(n.magnitude);
}

// The range of an integer type's raw value.
struct IntRange {
  Exact min;
  Exact max;
};

IntRange range_of(ValueType type) {
  switch (type) {
    case ValueType::Int16:
      return {exact_of(int64_t{std::numeric_limits<int16_t>::min()}),
              exact_of(uint64_t{std::numeric_limits<int16_t>::max()})};
    case ValueType::UInt16:
      return {exact_of(uint64_t{0}), exact_of(uint64_t{std::numeric_limits<uint16_t>::max()})};
    case ValueType::Int32:
      return {exact_of(int64_t{std::numeric_limits<int32_t>::min()}),
              exact_of(uint64_t{std::numeric_limits<int32_t>::max()})};
    case ValueType::UInt32:
      return {exact_of(uint64_t{0}), exact_of(uint64_t{std::numeric_limits<uint32_t>::max()})};
    case ValueType::Int64:
      return {exact_of(std::numeric_limits<int64_t>::min()),
              exact_of(uint64_t{std::numeric_limits<int64_t>::max()})};
    default:
      return {exact_of(uint64_t{0}), exact_of(std::numeric_limits<uint64_t>::max())};
  }
}

std::string kind_text(const mapping::Value& value) {
  switch (value.index()) {
    case 0:
      return "no value (null)";
    case 1:
      return std::get<bool>(value) ? "true" : "false";
    case 5:
      return "text " + mapping::to_json(value);
    default:
      return value_text(value);
  }
}

std::string type_name(ValueType type) {
  return std::string(config::to_string(type));
}

// " after scale 0.1 and offset 5", or "" when neither applies.
std::string scaling_text(const Encoding& e) {
  std::string text;
  if (e.scale != 1.0) text += " after scale " + double_text(e.scale);
  if (e.offset != 0.0)
    text += (text.empty() ? " after offset " : " and offset ") + double_text(e.offset);
  return text;
}

// A command's number: exact when it is an integer, a double otherwise.
struct Number {
  std::variant<Exact, double> n;
};

// Parses a whole text as an integer or a floating-point number.
std::optional<Number> parse_number(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  std::string_view digits = text;
  if (digits.front() == '+') digits.remove_prefix(1);
  if (digits.empty()) return std::nullopt;
  const char* end = digits.data() + digits.size();
  if (digits.front() == '-') {
    int64_t i = 0;
    auto r = std::from_chars(digits.data(), end, i);
    if (r.ec == std::errc() && r.ptr == end) return Number{exact_of(i)};
  } else {
    uint64_t u = 0;
    auto r = std::from_chars(digits.data(), end, u);
    if (r.ec == std::errc() && r.ptr == end) return Number{exact_of(u)};
  }
  double d = 0;
  auto r = std::from_chars(digits.data(), end, d);
  if (r.ec == std::errc() && r.ptr == end) return Number{d};
  return std::nullopt;
}

Result<Number> to_number(const mapping::Value& value, ValueType type) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return Number{exact_of(*i)};
  if (const uint64_t* u = std::get_if<uint64_t>(&value)) return Number{exact_of(*u)};
  if (const double* d = std::get_if<double>(&value)) return Number{*d};
  if (const std::string* s = std::get_if<std::string>(&value)) {
    if (auto n = parse_number(*s)) return *n;
  }
  return Result<Number>::failure("expected a number for " + type_name(type) + ", got " +
                                 kind_text(value));
}

Result<std::vector<uint16_t>> registers_of(uint64_t raw, const Encoding& e) {
  std::vector<uint16_t> out(register_count(e));
  disassemble(raw, e.order, out);
  return out;
}

Result<std::vector<uint16_t>> encode_integer(const mapping::Value& value, const Encoding& e) {
  Result<Number> number = to_number(value, e.type);
  if (!number) return Result<std::vector<uint16_t>>::failure(number.error());
  IntRange range = range_of(e.type);
  std::string range_text = exact_text(range.min) + ".." + exact_text(range.max);
  std::string scaling = scaling_text(e);
  auto out_of_range = [&](const std::string& raw) {
    std::string text = "value " + value_text(value) + " out of range for " + type_name(e.type);
    if (scaling.empty()) return text + ": must be " + range_text;
    return text + scaling + ": raw must be " + range_text + ", got " + raw;
  };
  Exact raw;
  const Exact* exact = std::get_if<Exact>(&number.value().n);
  if (exact && e.scale == 1.0 && e.offset == 0.0) {
    raw = *exact;
    if (raw < range.min || range.max < raw) {
      return Result<std::vector<uint16_t>>::failure(out_of_range(exact_text(raw)));
    }
  } else {
    double v = exact ? to_double(*exact) : std::get<double>(number.value().n);
    if (!std::isfinite(v)) {
      return Result<std::vector<uint16_t>>::failure("value " + double_text(v) +
                                                    " is not a finite number, which " +
                                                    type_name(e.type) + " needs");
    }
    double scaled = std::round((v - e.offset) / e.scale);  // halves away from zero
    // 2^63 and 2^64 are exact doubles; the 16- and 32-bit bounds are too.
    double low = to_double(range.min);
    double high_exclusive = to_double(range.max) + 1.0;
    if (e.type == ValueType::Int64) high_exclusive = 0x1p63;
    if (e.type == ValueType::UInt64) high_exclusive = 0x1p64;
    if (!std::isfinite(scaled) || scaled < low || scaled >= high_exclusive) {
      return Result<std::vector<uint16_t>>::failure(out_of_range(double_text(scaled)));
    }
    // In range, so exact: below 0 it fits int64_t, from 0 up uint64_t.
    raw = scaled < 0 ? exact_of(static_cast<int64_t>(scaled))
                     : exact_of(static_cast<uint64_t>(scaled));
  }
  return registers_of(bits_of(raw), e);
}

Result<std::vector<uint16_t>> encode_float(const mapping::Value& value, const Encoding& e) {
  Result<Number> number = to_number(value, e.type);
  if (!number) return Result<std::vector<uint16_t>>::failure(number.error());
  const Exact* exact = std::get_if<Exact>(&number.value().n);
  double v = exact ? to_double(*exact) : std::get<double>(number.value().n);
  double raw = (e.scale == 1.0 && e.offset == 0.0) ? v : (v - e.offset) / e.scale;
  if (e.type == ValueType::Float64) return registers_of(std::bit_cast<uint64_t>(raw), e);
  constexpr double kMax = std::numeric_limits<float>::max();
  if (std::isfinite(raw) && (raw > kMax || raw < -kMax)) {
    std::string text = "value " + value_text(value) + " out of range for float32";
    std::string scaling = scaling_text(e);
    if (!scaling.empty()) text += scaling + ": raw " + double_text(raw);
    return Result<std::vector<uint16_t>>::failure(text + " must be within -" + double_text(kMax) +
                                                  ".." + double_text(kMax));
  }
  return registers_of(std::bit_cast<uint32_t>(static_cast<float>(raw)), e);
}

Result<std::vector<uint16_t>> encode_string(const mapping::Value& value, const Encoding& e) {
  const std::string* text = std::get_if<std::string>(&value);
  if (!text) {
    return Result<std::vector<uint16_t>>::failure("expected text for string, got " +
                                                  kind_text(value));
  }
  size_t capacity = size_t{e.length} * 2;
  if (text->size() > capacity) {
    return Result<std::vector<uint16_t>>::failure(
        "text of " + std::to_string(text->size()) + " characters does not fit a string of " +
        std::to_string(e.length) + " registers (" + std::to_string(capacity) +
        " characters at most)");
  }
  for (size_t i = 0; i < text->size(); ++i) {
    auto c = static_cast<unsigned char>((*text)[i]);
    if (c < 0x20 || c > 0x7e) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      return Result<std::vector<uint16_t>>::failure("text must be printable ASCII: byte " +
                                                    std::string(hex) + " at position " +
                                                    std::to_string(i + 1) + " is not");
    }
  }
  std::vector<uint16_t> registers(e.length, 0);
  for (size_t i = 0; i < e.length; ++i) {
    auto byte_at = [&](size_t k) -> uint16_t {
      return k < text->size() ? static_cast<unsigned char>((*text)[k]) : 0;
    };
    uint16_t word = static_cast<uint16_t>((byte_at(2 * i) << 8) | byte_at(2 * i + 1));
    if (swaps_bytes(e.order)) word = swap16(word);
    registers[reverses_registers(e.order) ? e.length - 1 - i : i] = word;
  }
  return registers;
}

// A float's shortest decimal spelling, read back as a double.
double widen(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  char buffer[32];
  auto written = std::to_chars(buffer, buffer + sizeof buffer, f);
  double d = 0;
  std::from_chars(buffer, written.ptr, d);
  return d;
}

}  // namespace

std::string double_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buffer[64];
  // Whole numbers below 1e17 in full (700000, not 7e+05); others in their shortest form.
  bool whole = std::fabs(d) < 1e17 && d == std::trunc(d);
  auto result = whole ? std::to_chars(buffer, buffer + sizeof buffer, d, std::chars_format::fixed)
                      : std::to_chars(buffer, buffer + sizeof buffer, d);
  return std::string(buffer, result.ptr);
}

std::string value_text(const mapping::Value& value) {
  if (const double* d = std::get_if<double>(&value)) return double_text(*d);
  if (std::holds_alternative<std::monostate>(value)) return "null";
  return mapping::to_json(value);
}

Encoding encoding_of(const config::ModbusPoint& point) {
  Encoding e;
  e.type = point.type;
  e.order = point.order;
  e.bit = point.bit;
  e.length = point.length;
  e.scale = point.scale;
  e.offset = point.offset;
  return e;
}

uint16_t register_count(const Encoding& encoding) {
  return config::register_count(encoding.type, encoding.length);
}

uint64_t assemble(std::span<const uint16_t> registers, WordOrder order) {
  uint64_t raw = 0;
  size_t n = registers.size();
  for (size_t i = 0; i < n; ++i) {
    uint16_t word = registers[reverses_registers(order) ? n - 1 - i : i];
    if (swaps_bytes(order)) word = swap16(word);
    raw = (raw << 16) | word;
  }
  return raw;
}

void disassemble(uint64_t raw, WordOrder order, std::span<uint16_t> out) {
  size_t n = out.size();
  for (size_t k = 0; k < n; ++k) {
    auto word = static_cast<uint16_t>(raw >> (16 * (n - 1 - k)));
    if (swaps_bytes(order)) word = swap16(word);
    out[reverses_registers(order) ? n - 1 - k : k] = word;
  }
}

std::string decode_text(std::span<const uint16_t> registers, WordOrder order) {
  std::string text;
  text.reserve(registers.size() * 2);
  size_t n = registers.size();
  for (size_t i = 0; i < n; ++i) {
    uint16_t word = registers[reverses_registers(order) ? n - 1 - i : i];
    if (swaps_bytes(order)) word = swap16(word);
    for (auto byte : {static_cast<unsigned char>(word >> 8), static_cast<unsigned char>(word)}) {
      if (byte == 0) {
        i = n;  // a NUL ends the text
        break;
      }
      text += (byte >= 0x20 && byte <= 0x7e) ? static_cast<char>(byte) : '?';
    }
  }
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  return text;
}

namespace {

// `v` rounded to 15 significant digits, the most a double keeps exactly: a raw 41 with scale
// 0.1 reads 4.1, not 4.1000000000000005.
double without_binary_noise(double v) {
  if (!std::isfinite(v)) return v;
  char text[32];
  std::snprintf(text, sizeof text, "%.15g", v);
  return std::strtod(text, nullptr);
}

}  // namespace

Result<mapping::Value> decode_registers(std::span<const uint16_t> registers, const Encoding& e) {
  size_t expected = register_count(e);
  if (registers.size() != expected || expected == 0) {
    return Result<mapping::Value>::failure("a " + type_name(e.type) + " needs " +
                                           std::to_string(expected) + " registers, got " +
                                           std::to_string(registers.size()));
  }
  // Assigned in place rather than returned as temporaries: GCC 12 sees a std::string inside a
  // moved Value as "maybe uninitialized" otherwise.
  Result<mapping::Value> result(std::in_place);
  mapping::Value& out = result.value();
  bool plain = e.scale == 1.0 && e.offset == 0.0;
  auto number = [&](double raw) {
    if (plain) {
      out = raw;
    } else {
      out = without_binary_noise(raw * e.scale + e.offset);
    }
  };
  switch (e.type) {
    case ValueType::Bool:
      out = e.bit ? ((registers[0] >> *e.bit) & 1u) != 0 : registers[0] != 0;
      return result;
    case ValueType::String:
      out = decode_text(registers, e.order);
      return result;
    case ValueType::Float32:
      number(widen(std::bit_cast<float>(static_cast<uint32_t>(assemble(registers, e.order)))));
      return result;
    case ValueType::Float64:
      number(std::bit_cast<double>(assemble(registers, e.order)));
      return result;
    default:
      break;
  }
  uint64_t raw = assemble(registers, e.order);
  if (is_signed_type(e.type)) {
    int64_t value = 0;
    if (e.type == ValueType::Int16) value = static_cast<int16_t>(raw);
    if (e.type == ValueType::Int32) value = static_cast<int32_t>(raw);
    if (e.type == ValueType::Int64) value = static_cast<int64_t>(raw);
    if (plain) {
      out = value;
    } else {
      number(static_cast<double>(value));
    }
  } else if (plain) {
    out = raw;
  } else {
    number(static_cast<double>(raw));
  }
  return result;
}

mapping::Value decode_bit(uint8_t bit) {
  return mapping::Value(bit != 0);
}

Result<bool> encode_bit(const mapping::Value& value) {
  if (std::optional<bool> state = mapping::switch_state(value)) return *state;
  return Result<bool>::failure("expected true or false (or 1 or 0) for bool, got " +
                               kind_text(value));
}

Result<uint16_t> encode_register_bit(const mapping::Value& value, uint8_t bit, uint16_t current) {
  if (bit > 15) return Result<uint16_t>::failure("bit " + std::to_string(bit) + " is not 0..15");
  Result<bool> on = encode_bit(value);
  if (!on) return Result<uint16_t>::failure(on.error());
  auto mask = static_cast<uint16_t>(1u << bit);
  return static_cast<uint16_t>(on.value() ? (current | mask) : (current & ~mask));
}

Result<std::vector<uint16_t>> encode_registers(const mapping::Value& value, const Encoding& e) {
  switch (e.type) {
    case ValueType::Bool: {
      if (e.bit) {
        return Result<std::vector<uint16_t>>::failure(
            "a bool in bit " + std::to_string(*e.bit) +
            " of a register is written with encode_register_bit (read, modify, write)");
      }
      Result<bool> on = encode_bit(value);
      if (!on) return Result<std::vector<uint16_t>>::failure(on.error());
      return std::vector<uint16_t>{static_cast<uint16_t>(on.value() ? 1 : 0)};
    }
    case ValueType::Float32:
    case ValueType::Float64:
      return encode_float(value, e);
    case ValueType::String:
      return encode_string(value, e);
    default:
      break;
  }
  if (!is_integer_type(e.type)) {
    return Result<std::vector<uint16_t>>::failure("cannot encode type " + type_name(e.type));
  }
  return encode_integer(value, e);
}

std::string_view exception_name(int code) {
  switch (code) {
    case 1:
      return "illegal function";
    case 2:
      return "illegal data address";
    case 3:
      return "illegal data value";
    case 4:
      return "server device failure";
    case 5:
      return "acknowledge";
    case 6:
      return "server device busy";
    case 7:
      return "negative acknowledge";
    case 8:
      return "memory parity error";
    case 10:
      return "gateway path unavailable";
    case 11:
      return "gateway target device failed to respond";
    default:
      return "unknown exception";
  }
}

int exception_code(int errnum) {
  if (errnum > MODBUS_ENOBASE && errnum <= EMBXGTAR) return errnum - MODBUS_ENOBASE;
  return 0;
}

std::string error_text(int errnum) {
  if (int code = exception_code(errnum)) {
    return "Modbus exception " + std::to_string(code) + " (" + std::string(exception_name(code)) +
           ")";
  }
  switch (errnum) {
    case ETIMEDOUT:
      return "timeout";
    case ECONNREFUSED:
      return "connection refused";
    case ECONNRESET:
    case EPIPE:
      return "connection reset by the device";
    case EHOSTUNREACH:
      return "host unreachable";
    case ENETUNREACH:
      return "network unreachable";
    case ENOENT:
      return "no such device";
    case EACCES:
      return "permission denied";
    case EMBBADCRC:
      return "bad CRC (check baud, parity and wiring)";
    case EMBBADDATA:
      return "invalid data in the answer";
    case EMBBADEXC:
      return "invalid exception code in the answer";
    case EMBMDATA:
      return "too many data requested";
    case EMBBADSLAVE:
      return "answer from another unit than the one asked";
    default:
      return modbus_strerror(errnum);
  }
}

}  // namespace fieldgate::modbus
