// Modbus values <-> registers and bits (SPEC.md, "Value encoding in registers").
//
// Pure functions on numbers: no I/O, no allocation beyond the returned values, thread-safe.
//
// Word order. `order` names the byte order of a 32-bit value as letters A (most significant
// byte) to D, and says two things that hold for every multi-register value:
//   - whether the two bytes inside each register are swapped (BADC, DCBA), and
//   - whether the registers come least significant first (CDAB, DCBA).
// So a 64-bit value with bytes A..H is read as ABCDEFGH (ABCD), GHEFCDAB (CDAB), BADCFEHG (BADC)
// or HGFEDCBA (DCBA). A 16-bit value is its register, bytes swapped under BADC and DCBA (the
// config only lets multi-register types name an order, so points always see ABCD there).
//
// Strings: two ASCII bytes per register, the first in the high half unless the order swaps
// bytes; under CDAB and DCBA the registers are taken last first, as for numbers (SPEC.md: the
// two properties "also apply to 64-bit values and strings"). Decoding stops at the first NUL
// and trims trailing spaces; bytes outside printable ASCII become '?'. Encoding pads with NULs.
//
// Scale and offset: value = raw * scale + offset. With scale 1 and offset 0 integer types decode
// to int64_t (signed types) or uint64_t (unsigned types), exactly; otherwise to a double.
// float32 decodes to the double with the float's shortest decimal spelling (0.1f -> 0.1, not
// 0.10000000149011612). Writes reverse it: raw = (value - offset) / scale, rounded to the
// nearest integer with halves away from zero for integer types, then checked against the
// type's range; an integer command with scale 1 and offset 0 never goes through a double.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "mapping/value.h"

namespace fieldgate::modbus {

// How one point's value sits in its registers: the part of config::ModbusPoint the codec needs.
struct Encoding {
  config::ValueType type = config::ValueType::UInt16;
  config::WordOrder order = config::WordOrder::ABCD;
  std::optional<uint8_t> bit;  // Bool in a register: that bit (0..15); unset: register != 0
  uint16_t length = 0;         // String: registers
  double scale = 1.0;          // numeric types only; never 0
  double offset = 0.0;
};

Encoding encoding_of(const config::ModbusPoint& point);

// Registers a value of this encoding spans: 1 for Bool and 16-bit types, 2 for 32-bit, 4 for
// 64-bit, `length` for String. (In coil/discrete tables a Bool spans one bit.)
uint16_t register_count(const Encoding& encoding);

// A value or the reason there is none, in words a user understands.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  // Success, with the value constructed in place from `args`.
  template <typename... Args>
  explicit Result(std::in_place_t, Args&&... args) : value_(std::forward<Args>(args)...) {}
  static Result failure(std::string error) {
    Result r;
    r.ok_ = false;
    r.error_ = std::move(error);
    return r;
  }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // Only meaningful when ok().
  const T& value() const { return value_; }
  T& value() { return value_; }
  // Empty when ok().
  const std::string& error() const { return error_; }

 private:
  Result() = default;
  T value_{};
  bool ok_ = true;
  std::string error_;
};

// ---- reading ------------------------------------------------------------------------------

// Decodes a point's value from exactly register_count(encoding) registers, as read from a
// holding or input table (registers[0] is the lowest address). Fails only when the number of
// registers is wrong.
Result<mapping::Value> decode_registers(std::span<const uint16_t> registers,
                                        const Encoding& encoding);

// A bool read from a coil or discrete input (libmodbus gives one byte per bit, 0 or 1).
mapping::Value decode_bit(uint8_t bit);

// ---- writing ------------------------------------------------------------------------------

// The registers to write for `value` (a command's value) to a point of `encoding`: checks the
// value's kind (number, true/false, text; a text that spells a number counts as one), reverses
// scale and offset, rounds and range-checks for the register type. A Bool that lives in one
// `bit` of a register cannot be written this way (the other bits must be kept): see
// encode_register_bit().
Result<std::vector<uint16_t>> encode_registers(const mapping::Value& value,
                                               const Encoding& encoding);

// `value` as a coil state: true/false, 0/1, or the texts "true"/"false"/"on"/"off"/"1"/"0".
Result<bool> encode_bit(const mapping::Value& value);

// `current` (the register as last read) with bit `bit` set to `value` (as encode_bit).
Result<uint16_t> encode_register_bit(const mapping::Value& value, uint8_t bit, uint16_t current);

// ---- building blocks (also used by `fieldgate probe`) --------------------------------------

// The 1, 2 or 4 registers as one unsigned number, most significant byte first, undoing `order`.
uint64_t assemble(std::span<const uint16_t> registers, config::WordOrder order);

// The inverse of assemble(): the low 16 * out.size() bits of `raw` into out.size() (1, 2 or 4)
// registers laid out in `order`.
void disassemble(uint64_t raw, config::WordOrder order, std::span<uint16_t> out);

// The registers as text, as a String point of that order decodes them (see above).
std::string decode_text(std::span<const uint16_t> registers, config::WordOrder order);

// `d` as a user reads it: whole numbers below 1e17 in full (700000, not 7e+05), others in their
// shortest exact form; NaN, inf and -inf by name.
std::string double_text(double d);

// A command value as the user wrote it, for error texts and `probe`'s table.
std::string value_text(const mapping::Value& value);

// The name of Modbus exception `code`: 1 "illegal function", 2 "illegal data address",
// 3 "illegal data value", 4 "server device failure", ...; "unknown exception" otherwise.
std::string_view exception_name(int code);

// A libmodbus errno (errno after a failed call) in words: "timeout", "connection refused",
// "Modbus exception 2 (illegal data address)", "bad CRC (check baud, parity and wiring)", ...
std::string error_text(int errnum);

// The Modbus exception code carried by a libmodbus errno (2 for EMBXILADD), or 0 when the
// errno is not a Modbus exception.
int exception_code(int errnum);

}  // namespace fieldgate::modbus
