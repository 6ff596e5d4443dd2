// The Modbus codec (every type in every word order, scale and offset, writes and their range
// errors) and the read planner (merging, limits, gaps, splitting on exception 2).
#include <gtest/gtest.h>
#include <modbus.h>

#include <cerrno>
#include <cmath>
#include <deque>
#include <limits>
#include <set>

#include "adapters/modbus/codec.h"
#include "adapters/modbus/planner.h"

namespace fieldgate::modbus {
namespace {

using config::ModbusTable;
using config::ValueType;
using config::WordOrder;
using mapping::Value;
using Regs = std::vector<uint16_t>;

constexpr WordOrder kOrders[] = {WordOrder::ABCD, WordOrder::CDAB, WordOrder::BADC,
                                 WordOrder::DCBA};

Encoding enc(ValueType type, WordOrder order = WordOrder::ABCD, double scale = 1.0,
             double offset = 0.0) {
  Encoding e;
  e.type = type;
  e.order = order;
  e.scale = scale;
  e.offset = offset;
  return e;
}

Encoding text_enc(uint16_t length, WordOrder order = WordOrder::ABCD) {
  Encoding e = enc(ValueType::String, order);
  e.length = length;
  return e;
}

Value decode(const Regs& regs, const Encoding& e) {
  Result<Value> r = decode_registers(regs, e);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? r.value() : Value{};
}

Regs encode(const Value& v, const Encoding& e) {
  Result<Regs> r = encode_registers(v, e);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? r.value() : Regs{};
}

std::string encode_error(const Value& v, const Encoding& e) {
  Result<Regs> r = encode_registers(v, e);
  EXPECT_FALSE(r.ok());
  return r.ok() ? std::string("(no error)") : r.error();
}

// One value laid out in all four orders, as SPEC.md defines them.
struct Layout {
  ValueType type;
  Value value;
  Regs abcd, cdab, badc, dcba;
  const Regs& in(WordOrder order) const {
    switch (order) {
      case WordOrder::ABCD:
        return abcd;
      case WordOrder::CDAB:
        return cdab;
      case WordOrder::BADC:
        return badc;
      default:
        return dcba;
    }
  }
};

const std::vector<Layout>& layouts() {
  static const std::vector<Layout> all = {
      // 32-bit: bytes A B C D.
      {ValueType::Float32,
       Value{21.5},
       {0x41AC, 0x0000},
       {0x0000, 0x41AC},
       {0xAC41, 0x0000},
       {0x0000, 0xAC41}},
      {ValueType::Float32,
       Value{-0.1},
       {0xBDCC, 0xCCCD},
       {0xCCCD, 0xBDCC},
       {0xCCBD, 0xCDCC},
       {0xCDCC, 0xCCBD}},
      {ValueType::Int32,
       Value{int64_t{305419896}},
       {0x1234, 0x5678},
       {0x5678, 0x1234},
       {0x3412, 0x7856},
       {0x7856, 0x3412}},
      {ValueType::Int32,
       Value{int64_t{-2}},
       {0xFFFF, 0xFFFE},
       {0xFFFE, 0xFFFF},
       {0xFFFF, 0xFEFF},
       {0xFEFF, 0xFFFF}},
      {ValueType::Int32,
       Value{int64_t{std::numeric_limits<int32_t>::min()}},
       {0x8000, 0x0000},
       {0x0000, 0x8000},
       {0x0080, 0x0000},
       {0x0000, 0x0080}},
      {ValueType::UInt32,
       Value{uint64_t{4294967295u}},
       {0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF}},
      {ValueType::UInt32,
       Value{uint64_t{0x12345678}},
       {0x1234, 0x5678},
       {0x5678, 0x1234},
       {0x3412, 0x7856},
       {0x7856, 0x3412}},
      // 64-bit: bytes A..H; ABCD = ABCDEFGH, CDAB = GHEFCDAB, BADC = BADCFEHG, DCBA = HGFEDCBA.
      {ValueType::UInt64,
       Value{uint64_t{0x0102030405060708}},
       {0x0102, 0x0304, 0x0506, 0x0708},
       {0x0708, 0x0506, 0x0304, 0x0102},
       {0x0201, 0x0403, 0x0605, 0x0807},
       {0x0807, 0x0605, 0x0403, 0x0201}},
      {ValueType::UInt64,
       Value{std::numeric_limits<uint64_t>::max()},
       {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}},
      {ValueType::UInt64,
       Value{uint64_t{0xFFFFFFFFFFFFFFFE}},
       {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE},
       {0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF},
       {0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF}},
      {ValueType::Int64,
       Value{std::numeric_limits<int64_t>::min()},
       {0x8000, 0x0000, 0x0000, 0x0000},
       {0x0000, 0x0000, 0x0000, 0x8000},
       {0x0080, 0x0000, 0x0000, 0x0000},
       {0x0000, 0x0000, 0x0000, 0x0080}},
      {ValueType::Int64,
       Value{std::numeric_limits<int64_t>::max()},
       {0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF, 0xFFFF, 0x7FFF},
       {0xFF7F, 0xFFFF, 0xFFFF, 0xFFFF},
       {0xFFFF, 0xFFFF, 0xFFFF, 0xFF7F}},
      {ValueType::Int64,
       Value{int64_t{-1234567890123456789}},  // 0xEEDDEF0B82167EEB
       {0xEEDD, 0xEF0B, 0x8216, 0x7EEB},
       {0x7EEB, 0x8216, 0xEF0B, 0xEEDD},
       {0xDDEE, 0x0BEF, 0x1682, 0xEB7E},
       {0xEB7E, 0x1682, 0x0BEF, 0xDDEE}},
      {ValueType::Float64,
       Value{21.5},  // 0x4035800000000000
       {0x4035, 0x8000, 0x0000, 0x0000},
       {0x0000, 0x0000, 0x8000, 0x4035},
       {0x3540, 0x0080, 0x0000, 0x0000},
       {0x0000, 0x0000, 0x0080, 0x3540}},
      {ValueType::Float64,
       Value{-1e300},  // round trip only
       {},
       {},
       {},
       {}},
  };
  return all;
}

// ---- decoding -----------------------------------------------------------------------------

TEST(ModbusDecode, EveryMultiRegisterTypeInEveryOrder) {
  for (const Layout& l : layouts()) {
    if (l.abcd.empty()) continue;
    for (WordOrder order : kOrders) {
      SCOPED_TRACE(std::string(config::to_string(l.type)) + " " +
                   std::string(config::to_string(order)) + " " + mapping::to_json(l.value));
      EXPECT_EQ(decode(l.in(order), enc(l.type, order)), l.value);
    }
  }
}

TEST(ModbusDecode, SixteenBitTypes) {
  EXPECT_EQ(decode({0xFFFF}, enc(ValueType::Int16)), Value{int64_t{-1}});
  EXPECT_EQ(decode({0x8000}, enc(ValueType::Int16)), Value{int64_t{-32768}});
  EXPECT_EQ(decode({0x7FFF}, enc(ValueType::Int16)), Value{int64_t{32767}});
  EXPECT_EQ(decode({0xFFFF}, enc(ValueType::UInt16)), Value{uint64_t{65535}});
  EXPECT_EQ(decode({0x00D7}, enc(ValueType::UInt16)), Value{uint64_t{215}});
  // The byte swap of BADC and DCBA applies inside the one register.
  EXPECT_EQ(decode({0x00D7}, enc(ValueType::UInt16, WordOrder::CDAB)), Value{uint64_t{215}});
  EXPECT_EQ(decode({0xD700}, enc(ValueType::UInt16, WordOrder::BADC)), Value{uint64_t{215}});
  EXPECT_EQ(decode({0x0080}, enc(ValueType::Int16, WordOrder::DCBA)), Value{int64_t{-32768}});
}

TEST(ModbusDecode, IntegersStayIntegersWithoutScaling) {
  Value v = decode({0x1234, 0x5678}, enc(ValueType::Int32));
  EXPECT_TRUE(std::holds_alternative<int64_t>(v));
  v = decode({0x1234, 0x5678}, enc(ValueType::UInt32));
  EXPECT_TRUE(std::holds_alternative<uint64_t>(v));
  v = decode({0x0001}, enc(ValueType::Int16));
  EXPECT_TRUE(std::holds_alternative<int64_t>(v));
  v = decode({0x0001}, enc(ValueType::UInt16));
  EXPECT_TRUE(std::holds_alternative<uint64_t>(v));
  v = decode({0x41AC, 0x0000}, enc(ValueType::Float32));
  EXPECT_TRUE(std::holds_alternative<double>(v));
}

TEST(ModbusDecode, Float32KeepsItsShortestDecimal) {
  // 0.1f is 0.100000001490116...; users expect to see 0.1.
  EXPECT_EQ(decode({0x3DCC, 0xCCCD}, enc(ValueType::Float32)), Value{0.1});
  Value nan = decode({0x7FC0, 0x0000}, enc(ValueType::Float32));
  ASSERT_TRUE(std::holds_alternative<double>(nan));
  EXPECT_TRUE(std::isnan(std::get<double>(nan)));
  EXPECT_EQ(decode({0x7F80, 0x0000}, enc(ValueType::Float32)),
            Value{std::numeric_limits<double>::infinity()});
}

TEST(ModbusDecode, ScaleAndOffset) {
  Value v = decode({215}, enc(ValueType::Int16, WordOrder::ABCD, 0.1));
  ASSERT_TRUE(std::holds_alternative<double>(v));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 21.5);
  v = decode({0xFF9C}, enc(ValueType::Int16, WordOrder::ABCD, 0.5, 10));  // -100
  EXPECT_DOUBLE_EQ(std::get<double>(v), -40.0);
  v = decode({1000}, enc(ValueType::UInt16, WordOrder::ABCD, 1.0, -5));
  ASSERT_TRUE(std::holds_alternative<double>(v));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 995.0);
  v = decode({0x0000, 0x0064}, enc(ValueType::UInt32, WordOrder::ABCD, 0.01));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 1.0);
  v = decode({0x0064, 0x0000}, enc(ValueType::Int32, WordOrder::CDAB, 2, 1));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 201.0);
  v = decode({0x41AC, 0x0000}, enc(ValueType::Float32, WordOrder::ABCD, 2, -3));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 40.0);
  v = decode({0x4035, 0x8000, 0, 0}, enc(ValueType::Float64, WordOrder::ABCD, 10));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 215.0);
  v = decode({0, 0, 0, 1000}, enc(ValueType::UInt64, WordOrder::ABCD, 0.001));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 1.0);
}

TEST(ModbusDecode, BoolFromRegister) {
  Encoding e = enc(ValueType::Bool);
  EXPECT_EQ(decode({0}, e), Value{false});
  EXPECT_EQ(decode({1}, e), Value{true});
  EXPECT_EQ(decode({0x8000}, e), Value{true});
  e.bit = 3;
  EXPECT_EQ(decode({0x0008}, e), Value{true});
  EXPECT_EQ(decode({0xFFF7}, e), Value{false});
  e.bit = 15;
  EXPECT_EQ(decode({0x8000}, e), Value{true});
  EXPECT_EQ(decode({0x7FFF}, e), Value{false});
  e.bit = 0;
  EXPECT_EQ(decode({0x0001}, e), Value{true});
  EXPECT_EQ(decode({0x0002}, e), Value{false});
}

TEST(ModbusDecode, BoolFromBit) {
  EXPECT_EQ(decode_bit(0), Value{false});
  EXPECT_EQ(decode_bit(1), Value{true});
}

TEST(ModbusDecode, StringsInEveryOrder) {
  // "Hello" in 4 registers: He ll o\0 \0\0.
  EXPECT_EQ(decode({0x4865, 0x6C6C, 0x6F00, 0x0000}, text_enc(4)), Value{std::string("Hello")});
  EXPECT_EQ(decode({0x6548, 0x6C6C, 0x006F, 0x0000}, text_enc(4, WordOrder::BADC)),
            Value{std::string("Hello")});
  // Registers least significant (last) first.
  EXPECT_EQ(decode({0x0000, 0x6F00, 0x6C6C, 0x4865}, text_enc(4, WordOrder::CDAB)),
            Value{std::string("Hello")});
  EXPECT_EQ(decode({0x0000, 0x006F, 0x6C6C, 0x6548}, text_enc(4, WordOrder::DCBA)),
            Value{std::string("Hello")});
}

TEST(ModbusDecode, StringsTrimmed) {
  EXPECT_EQ(decode({0x4142, 0x2020, 0x2020}, text_enc(3)), Value{std::string("AB")});
  EXPECT_EQ(decode({0x4120, 0x4220, 0x0020}, text_enc(3)), Value{std::string("A B")});
  EXPECT_EQ(decode({0x2041, 0x0000}, text_enc(2)), Value{std::string(" A")});
  EXPECT_EQ(decode({0x0000, 0x0000}, text_enc(2)), Value{std::string()});
  EXPECT_EQ(decode({0x2020, 0x2000}, text_enc(2)), Value{std::string()});
  // A NUL ends the text; what follows it is left over in the device's buffer.
  EXPECT_EQ(decode({0x4100, 0x4243}, text_enc(2)), Value{std::string("A")});
  // Bytes outside printable ASCII cannot be shown as they are.
  EXPECT_EQ(decode({0x41C3, 0xA942}, text_enc(2)), Value{std::string("A??B")});
}

TEST(ModbusDecode, WrongRegisterCount) {
  Result<Value> r = decode_registers(Regs{0x41AC}, enc(ValueType::Float32));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "a float32 needs 2 registers, got 1");
  EXPECT_FALSE(decode_registers(Regs{1, 2, 3}, enc(ValueType::Int64)).ok());
  EXPECT_FALSE(decode_registers(Regs{1, 2}, enc(ValueType::Int16)).ok());
  EXPECT_FALSE(decode_registers(Regs{}, text_enc(0)).ok());
}

TEST(ModbusCodec, AssembleAndDisassemble) {
  Regs regs = {0x0102, 0x0304, 0x0506, 0x0708};
  EXPECT_EQ(assemble(regs, WordOrder::ABCD), 0x0102030405060708u);
  EXPECT_EQ(assemble(regs, WordOrder::CDAB), 0x0708050603040102u);
  EXPECT_EQ(assemble(regs, WordOrder::BADC), 0x0201040306050807u);
  EXPECT_EQ(assemble(regs, WordOrder::DCBA), 0x0807060504030201u);
  for (WordOrder order : kOrders) {
    Regs out(4);
    disassemble(assemble(regs, order), order, out);
    EXPECT_EQ(out, regs);
  }
  EXPECT_EQ(register_count(enc(ValueType::Bool)), 1);
  EXPECT_EQ(register_count(enc(ValueType::UInt16)), 1);
  EXPECT_EQ(register_count(enc(ValueType::Float32)), 2);
  EXPECT_EQ(register_count(enc(ValueType::Int64)), 4);
  EXPECT_EQ(register_count(text_enc(7)), 7);
}

TEST(ModbusCodec, EncodingOfPoint) {
  config::ModbusPoint p;
  p.type = ValueType::String;
  p.order = WordOrder::BADC;
  p.length = 5;
  p.scale = 2;
  p.offset = 3;
  p.bit = 4;
  Encoding e = encoding_of(p);
  EXPECT_EQ(e.type, ValueType::String);
  EXPECT_EQ(e.order, WordOrder::BADC);
  EXPECT_EQ(e.length, 5);
  EXPECT_EQ(e.scale, 2);
  EXPECT_EQ(e.offset, 3);
  EXPECT_EQ(e.bit, std::optional<uint8_t>(4));
}

// ---- encoding -----------------------------------------------------------------------------

TEST(ModbusEncode, EveryMultiRegisterTypeInEveryOrder) {
  for (const Layout& l : layouts()) {
    for (WordOrder order : kOrders) {
      SCOPED_TRACE(std::string(config::to_string(l.type)) + " " +
                   std::string(config::to_string(order)) + " " + mapping::to_json(l.value));
      Regs regs = encode(l.value, enc(l.type, order));
      if (!l.abcd.empty()) {
        EXPECT_EQ(regs, l.in(order));
      }
      EXPECT_EQ(decode(regs, enc(l.type, order)), l.value);  // round trip
    }
  }
}

TEST(ModbusEncode, SixteenBitTypes) {
  EXPECT_EQ(encode(Value{int64_t{-1}}, enc(ValueType::Int16)), Regs{0xFFFF});
  EXPECT_EQ(encode(Value{int64_t{-32768}}, enc(ValueType::Int16)), Regs{0x8000});
  EXPECT_EQ(encode(Value{uint64_t{65535}}, enc(ValueType::UInt16)), Regs{0xFFFF});
  EXPECT_EQ(encode(Value{int64_t{215}}, enc(ValueType::UInt16, WordOrder::BADC)), Regs{0xD700});
}

TEST(ModbusEncode, SixtyFourBitIntegersExact) {
  // Every 64-bit value survives, including those a double cannot hold.
  for (uint64_t u : {uint64_t{0}, uint64_t{9007199254740993u}, uint64_t{18446744073709551615u},
                     uint64_t{18446744073709551614u}, uint64_t{9223372036854775808u}}) {
    for (WordOrder order : kOrders) {
      Regs regs = encode(Value{u}, enc(ValueType::UInt64, order));
      EXPECT_EQ(decode(regs, enc(ValueType::UInt64, order)), Value{u});
    }
  }
  for (int64_t i : {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                    int64_t{-9007199254740993}, int64_t{-1}}) {
    for (WordOrder order : kOrders) {
      Regs regs = encode(Value{i}, enc(ValueType::Int64, order));
      EXPECT_EQ(decode(regs, enc(ValueType::Int64, order)), Value{i});
    }
  }
  // A uint64 that fits an int64, and the reverse.
  EXPECT_EQ(encode(Value{uint64_t{5}}, enc(ValueType::Int64)), (Regs{0, 0, 0, 5}));
  EXPECT_EQ(encode(Value{int64_t{5}}, enc(ValueType::UInt64)), (Regs{0, 0, 0, 5}));
  // Texts of numbers stay exact too.
  EXPECT_EQ(encode(Value{std::string("18446744073709551615")}, enc(ValueType::UInt64)),
            (Regs{0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}));
  EXPECT_EQ(encode(Value{std::string("-9223372036854775808")}, enc(ValueType::Int64)),
            (Regs{0x8000, 0, 0, 0}));
}

TEST(ModbusEncode, ScaleAndOffsetReversed) {
  // raw = (value - offset) / scale
  EXPECT_EQ(encode(Value{21.5}, enc(ValueType::Int16, WordOrder::ABCD, 0.1)), Regs{215});
  EXPECT_EQ(encode(Value{23.0}, enc(ValueType::Int16, WordOrder::ABCD, 0.1)), Regs{230});
  EXPECT_EQ(encode(Value{int64_t{-40}}, enc(ValueType::Int16, WordOrder::ABCD, 0.5, 10)),
            Regs{0xFF9C});
  EXPECT_EQ(encode(Value{int64_t{25}}, enc(ValueType::UInt32, WordOrder::CDAB, 2, 5)),
            (Regs{10, 0}));
  EXPECT_EQ(encode(Value{40.0}, enc(ValueType::Float32, WordOrder::ABCD, 2, -3)),
            (Regs{0x41AC, 0x0000}));
  EXPECT_EQ(encode(Value{std::string("21.5")}, enc(ValueType::Int16, WordOrder::ABCD, 0.1)),
            Regs{215});
  // Round trip through scale and offset.
  for (WordOrder order : kOrders) {
    Encoding e = enc(ValueType::Int32, order, 0.01, -20);
    Value v = decode(encode(Value{-12.34}, e), e);
    EXPECT_NEAR(std::get<double>(v), -12.34, 1e-9);
  }
}

TEST(ModbusEncode, RoundsHalvesAwayFromZero) {
  Encoding e = enc(ValueType::Int16);
  EXPECT_EQ(encode(Value{2.5}, e), Regs{3});
  EXPECT_EQ(encode(Value{-2.5}, e), Regs{0xFFFD});  // -3
  EXPECT_EQ(encode(Value{0.5}, e), Regs{1});
  EXPECT_EQ(encode(Value{-0.5}, e), Regs{0xFFFF});  // -1
  EXPECT_EQ(encode(Value{2.4999}, e), Regs{2});
  EXPECT_EQ(encode(Value{-2.4999}, e), Regs{0xFFFE});
  EXPECT_EQ(encode(Value{3.5}, e), Regs{4});  // not to even
  // With a scale: 1.25 / 0.5 = 2.5 -> 3.
  Encoding half = enc(ValueType::Int16, WordOrder::ABCD, 0.5);
  EXPECT_EQ(encode(Value{1.25}, half), Regs{3});
  EXPECT_EQ(encode(Value{-1.25}, half), Regs{0xFFFD});
  EXPECT_EQ(encode(Value{1.2}, half), Regs{2});
  // 32767.5 rounds up to 32768, out of range; 32767.4 is 32767.
  EXPECT_EQ(encode(Value{32767.4}, e), Regs{0x7FFF});
  EXPECT_FALSE(encode_registers(Value{32767.5}, e).ok());
  EXPECT_EQ(encode(Value{-32768.4}, e), Regs{0x8000});
  EXPECT_FALSE(encode_registers(Value{-32768.5}, e).ok());
  EXPECT_EQ(encode(Value{65535.49}, enc(ValueType::UInt16)), Regs{0xFFFF});
  EXPECT_EQ(encode(Value{-0.49}, enc(ValueType::UInt16)), Regs{0});
  EXPECT_FALSE(encode_registers(Value{-0.5}, enc(ValueType::UInt16)).ok());
}

TEST(ModbusEncode, RangeErrorsOfEveryIntegerType) {
  EXPECT_EQ(encode_error(Value{int64_t{70000}}, enc(ValueType::Int16, WordOrder::ABCD, 0.1)),
            "value 70000 out of range for int16 after scale 0.1: raw must be -32768..32767, got "
            "700000");
  EXPECT_EQ(encode_error(Value{int64_t{70000}}, enc(ValueType::Int16)),
            "value 70000 out of range for int16: must be -32768..32767");
  EXPECT_EQ(encode_error(Value{int64_t{-32769}}, enc(ValueType::Int16)),
            "value -32769 out of range for int16: must be -32768..32767");
  EXPECT_EQ(encode_error(Value{int64_t{32768}}, enc(ValueType::Int16)),
            "value 32768 out of range for int16: must be -32768..32767");
  EXPECT_EQ(encode_error(Value{int64_t{-1}}, enc(ValueType::UInt16)),
            "value -1 out of range for uint16: must be 0..65535");
  EXPECT_EQ(encode_error(Value{int64_t{65536}}, enc(ValueType::UInt16)),
            "value 65536 out of range for uint16: must be 0..65535");
  EXPECT_EQ(encode_error(Value{int64_t{2147483648}}, enc(ValueType::Int32)),
            "value 2147483648 out of range for int32: must be -2147483648..2147483647");
  EXPECT_EQ(encode_error(Value{int64_t{-2147483649}}, enc(ValueType::Int32)),
            "value -2147483649 out of range for int32: must be -2147483648..2147483647");
  EXPECT_EQ(encode_error(Value{int64_t{-1}}, enc(ValueType::UInt32)),
            "value -1 out of range for uint32: must be 0..4294967295");
  EXPECT_EQ(encode_error(Value{int64_t{4294967296}}, enc(ValueType::UInt32)),
            "value 4294967296 out of range for uint32: must be 0..4294967295");
  EXPECT_EQ(encode_error(Value{uint64_t{9223372036854775808u}}, enc(ValueType::Int64)),
            "value 9223372036854775808 out of range for int64: must be "
            "-9223372036854775808..9223372036854775807");
  EXPECT_EQ(encode_error(Value{int64_t{-1}}, enc(ValueType::UInt64)),
            "value -1 out of range for uint64: must be 0..18446744073709551615");
  EXPECT_EQ(encode_error(Value{std::string("18446744073709551616")}, enc(ValueType::UInt64)),
            "value \"18446744073709551616\" out of range for uint64: must be "
            "0..18446744073709551615");
  // Doubles at the 64-bit edges: 2^63 and 2^64 are just out of range.
  EXPECT_FALSE(encode_registers(Value{9223372036854775808.0}, enc(ValueType::Int64)).ok());
  EXPECT_TRUE(encode_registers(Value{-9223372036854775808.0}, enc(ValueType::Int64)).ok());
  EXPECT_FALSE(encode_registers(Value{18446744073709551616.0}, enc(ValueType::UInt64)).ok());
  EXPECT_EQ(encode(Value{9223372036854775808.0}, enc(ValueType::UInt64)), (Regs{0x8000, 0, 0, 0}));
  // Offset and scale both named.
  EXPECT_EQ(encode_error(Value{1000.0}, enc(ValueType::UInt16, WordOrder::ABCD, 0.01, 5)),
            "value 1000 out of range for uint16 after scale 0.01 and offset 5: raw must be "
            "0..65535, got 99500");
  EXPECT_EQ(encode_error(Value{int64_t{-10}}, enc(ValueType::UInt16, WordOrder::ABCD, 1, 5)),
            "value -10 out of range for uint16 after offset 5: raw must be 0..65535, got -15");
}

TEST(ModbusEncode, NonFiniteRefusedForIntegers) {
  for (ValueType type : {ValueType::Int16, ValueType::UInt16, ValueType::Int32, ValueType::UInt32,
                         ValueType::Int64, ValueType::UInt64}) {
    EXPECT_EQ(encode_error(Value{std::nan("")}, enc(type)),
              "value NaN is not a finite number, which " + std::string(config::to_string(type)) +
                  " needs");
    EXPECT_FALSE(encode_registers(Value{std::numeric_limits<double>::infinity()}, enc(type)).ok());
    EXPECT_FALSE(encode_registers(Value{-std::numeric_limits<double>::infinity()}, enc(type)).ok());
  }
  // Floats can carry them.
  EXPECT_EQ(encode(Value{std::numeric_limits<double>::infinity()}, enc(ValueType::Float32)),
            (Regs{0x7F80, 0x0000}));
}

TEST(ModbusEncode, Float32Range) {
  EXPECT_EQ(encode_error(Value{1e39}, enc(ValueType::Float32)),
            "value 1e+39 out of range for float32 must be within "
            "-3.4028234663852886e+38..3.4028234663852886e+38");
  EXPECT_FALSE(encode_registers(Value{-1e39}, enc(ValueType::Float32)).ok());
  EXPECT_TRUE(encode_registers(Value{1e39}, enc(ValueType::Float64)).ok());
  EXPECT_EQ(encode(Value{int64_t{2}}, enc(ValueType::Float32)), (Regs{0x4000, 0x0000}));
}

TEST(ModbusEncode, WrongKindOfValue) {
  EXPECT_EQ(encode_error(Value{std::string("abc")}, enc(ValueType::Int16)),
            "expected a number for int16, got text \"abc\"");
  EXPECT_EQ(encode_error(Value{true}, enc(ValueType::Float32)),
            "expected a number for float32, got true");
  EXPECT_EQ(encode_error(Value{}, enc(ValueType::UInt16)),
            "expected a number for uint16, got no value (null)");
  EXPECT_EQ(encode_error(Value{21.5}, text_enc(4)), "expected text for string, got 21.5");
  EXPECT_EQ(encode_error(Value{int64_t{2}}, enc(ValueType::Bool)),
            "expected true or false (or 1 or 0) for bool, got 2");
}

TEST(ModbusEncode, Strings) {
  EXPECT_EQ(encode(Value{std::string("Hello")}, text_enc(4)),
            (Regs{0x4865, 0x6C6C, 0x6F00, 0x0000}));
  EXPECT_EQ(encode(Value{std::string("Hello")}, text_enc(4, WordOrder::BADC)),
            (Regs{0x6548, 0x6C6C, 0x006F, 0x0000}));
  EXPECT_EQ(encode(Value{std::string("Hello")}, text_enc(4, WordOrder::CDAB)),
            (Regs{0x0000, 0x6F00, 0x6C6C, 0x4865}));
  EXPECT_EQ(encode(Value{std::string("Hello")}, text_enc(4, WordOrder::DCBA)),
            (Regs{0x0000, 0x006F, 0x6C6C, 0x6548}));
  EXPECT_EQ(encode(Value{std::string("12345678")}, text_enc(4)),
            (Regs{0x3132, 0x3334, 0x3536, 0x3738}));
  EXPECT_EQ(encode(Value{std::string()}, text_enc(2)), (Regs{0, 0}));
  for (WordOrder order : kOrders) {
    Encoding e = text_enc(5, order);
    EXPECT_EQ(decode(encode(Value{std::string("pump 7")}, e), e), Value{std::string("pump 7")});
  }
  EXPECT_EQ(encode_error(Value{std::string("123456789")}, text_enc(4)),
            "text of 9 characters does not fit a string of 4 registers (8 characters at most)");
  EXPECT_EQ(encode_error(Value{std::string("caf\xC3\xA9")}, text_enc(4)),
            "text must be printable ASCII: byte 0xC3 at position 4 is not");
}

TEST(ModbusEncode, Bools) {
  EXPECT_EQ(encode_bit(Value{true}).value(), true);
  EXPECT_EQ(encode_bit(Value{false}).value(), false);
  EXPECT_EQ(encode_bit(Value{int64_t{1}}).value(), true);
  EXPECT_EQ(encode_bit(Value{uint64_t{0}}).value(), false);
  EXPECT_EQ(encode_bit(Value{1.0}).value(), true);
  EXPECT_EQ(encode_bit(Value{std::string("ON")}).value(), true);
  EXPECT_EQ(encode_bit(Value{std::string("false")}).value(), false);
  EXPECT_FALSE(encode_bit(Value{0.5}).ok());
  EXPECT_FALSE(encode_bit(Value{std::string("yes please")}).ok());
  EXPECT_FALSE(encode_bit(Value{}).ok());
  EXPECT_EQ(encode(Value{true}, enc(ValueType::Bool)), Regs{1});
  EXPECT_EQ(encode(Value{false}, enc(ValueType::Bool)), Regs{0});
  Encoding with_bit = enc(ValueType::Bool);
  with_bit.bit = 3;
  EXPECT_FALSE(encode_registers(Value{true}, with_bit).ok());
  EXPECT_EQ(encode_register_bit(Value{true}, 3, 0x0001).value(), 0x0009);
  EXPECT_EQ(encode_register_bit(Value{false}, 3, 0xFFFF).value(), 0xFFF7);
  EXPECT_EQ(encode_register_bit(Value{true}, 15, 0x0000).value(), 0x8000);
  EXPECT_FALSE(encode_register_bit(Value{true}, 16, 0).ok());
  EXPECT_FALSE(encode_register_bit(Value{int64_t{7}}, 1, 0).ok());
}

// ---- errors -------------------------------------------------------------------------------

TEST(ModbusErrors, NamesAndTexts) {
  EXPECT_EQ(exception_name(1), "illegal function");
  EXPECT_EQ(exception_name(2), "illegal data address");
  EXPECT_EQ(exception_name(3), "illegal data value");
  EXPECT_EQ(exception_name(4), "server device failure");
  EXPECT_EQ(exception_name(6), "server device busy");
  EXPECT_EQ(exception_name(11), "gateway target device failed to respond");
  EXPECT_EQ(exception_name(99), "unknown exception");
  EXPECT_EQ(error_text(EMBXILADD), "Modbus exception 2 (illegal data address)");
  EXPECT_EQ(error_text(EMBXILFUN), "Modbus exception 1 (illegal function)");
  EXPECT_EQ(error_text(EMBXGTAR), "Modbus exception 11 (gateway target device failed to respond)");
  EXPECT_EQ(error_text(ETIMEDOUT), "timeout");
  EXPECT_EQ(error_text(ECONNREFUSED), "connection refused");
  EXPECT_EQ(exception_code(EMBXILADD), 2);
  EXPECT_EQ(exception_code(ETIMEDOUT), 0);
  EXPECT_EQ(exception_code(EMBBADCRC), 0);
}

// ---- planner ------------------------------------------------------------------------------

PointSpan at(size_t point, ModbusTable table, uint16_t address, uint16_t count = 1) {
  return {point, table, address, count};
}

TEST(ModbusPlanner, MergesNeighboursAndReadsThroughSmallGaps) {
  std::vector<PointSpan> points = {
      at(0, ModbusTable::Holding, 0, 2),   // float32 0-1
      at(1, ModbusTable::Holding, 2),      // int16 2
      at(2, ModbusTable::Holding, 10),     // gap 3..9 (7 registers): read through
      at(3, ModbusTable::Holding, 20, 8),  // gap 11..19 (9 registers): a new request
  };
  std::vector<ReadRequest> plan = plan_reads(points);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].table, ModbusTable::Holding);
  EXPECT_EQ(plan[0].address, 0);
  EXPECT_EQ(plan[0].count, 11);
  ASSERT_EQ(plan[0].points.size(), 3u);
  EXPECT_EQ(plan[0].points[0].point, 0u);
  EXPECT_EQ(plan[0].points[0].offset, 0);
  EXPECT_EQ(plan[0].points[0].count, 2);
  EXPECT_EQ(plan[0].points[1].point, 1u);
  EXPECT_EQ(plan[0].points[1].offset, 2);
  EXPECT_EQ(plan[0].points[2].point, 2u);
  EXPECT_EQ(plan[0].points[2].offset, 10);
  EXPECT_EQ(plan[1].address, 20);
  EXPECT_EQ(plan[1].count, 8);
  ASSERT_EQ(plan[1].points.size(), 1u);
  EXPECT_EQ(plan[1].points[0].point, 3u);
  EXPECT_EQ(plan[1].points[0].offset, 0);

  // Gap threshold 8 exactly: still one request; 0 keeps only touching points together.
  plan = plan_reads(std::vector{at(0, ModbusTable::Holding, 0), at(1, ModbusTable::Holding, 9)});
  EXPECT_EQ(plan.size(), 1u);
  plan = plan_reads(std::vector{at(0, ModbusTable::Holding, 0), at(1, ModbusTable::Holding, 10)});
  EXPECT_EQ(plan.size(), 2u);
  PlanOptions tight;
  tight.register_gap = 0;
  plan = plan_reads(std::vector{at(0, ModbusTable::Holding, 0), at(1, ModbusTable::Holding, 1),
                                at(2, ModbusTable::Holding, 3)},
                    tight);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].count, 2);
  EXPECT_EQ(plan[1].address, 3);
}

TEST(ModbusPlanner, SortsAndSeparatesTables) {
  std::vector<PointSpan> points = {
      at(0, ModbusTable::Input, 5, 2), at(1, ModbusTable::Holding, 7), at(2, ModbusTable::Coil, 3),
      at(3, ModbusTable::Discrete, 0), at(4, ModbusTable::Holding, 1), at(5, ModbusTable::Coil, 0),
  };
  std::vector<ReadRequest> plan = plan_reads(points);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].table, ModbusTable::Coil);
  EXPECT_EQ(plan[0].address, 0);
  EXPECT_EQ(plan[0].count, 4);
  ASSERT_EQ(plan[0].points.size(), 2u);
  EXPECT_EQ(plan[0].points[0].point, 5u);
  EXPECT_EQ(plan[0].points[1].point, 2u);
  EXPECT_EQ(plan[0].points[1].offset, 3);
  EXPECT_EQ(plan[1].table, ModbusTable::Discrete);
  EXPECT_EQ(plan[2].table, ModbusTable::Holding);
  EXPECT_EQ(plan[2].address, 1);
  EXPECT_EQ(plan[2].count, 7);
  EXPECT_EQ(plan[2].points[0].point, 4u);
  EXPECT_EQ(plan[2].points[1].point, 1u);
  EXPECT_EQ(plan[2].points[1].offset, 6);
  EXPECT_EQ(plan[3].table, ModbusTable::Input);
  EXPECT_EQ(plan[3].address, 5);
  EXPECT_EQ(plan[3].count, 2);
  EXPECT_TRUE(plan_reads(std::vector<PointSpan>{}).empty());
}

TEST(ModbusPlanner, OverlappingPointsShareRegisters) {
  // Three bools from bits of register 10, the register itself, and a uint32 over 10-11.
  std::vector<PointSpan> points = {at(0, ModbusTable::Holding, 10), at(1, ModbusTable::Holding, 10),
                                   at(2, ModbusTable::Holding, 10),
                                   at(3, ModbusTable::Holding, 10, 2)};
  std::vector<ReadRequest> plan = plan_reads(points);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].address, 10);
  EXPECT_EQ(plan[0].count, 2);
  ASSERT_EQ(plan[0].points.size(), 4u);
  for (const ServedPoint& p : plan[0].points)
    EXPECT_EQ(p.offset, 0);
}

TEST(ModbusPlanner, RegisterLimit125) {
  // 130 single registers in a row: 125 + 5.
  std::vector<PointSpan> points;
  for (uint16_t a = 0; a < 130; ++a)
    points.push_back(at(a, ModbusTable::Holding, a));
  std::vector<ReadRequest> plan = plan_reads(points);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].address, 0);
  EXPECT_EQ(plan[0].count, 125);
  EXPECT_EQ(plan[0].points.size(), 125u);
  EXPECT_EQ(plan[1].address, 125);
  EXPECT_EQ(plan[1].count, 5);
  EXPECT_EQ(plan[1].points.front().offset, 0);

  // Exactly 125 fits; a point that would end at 126 does not, and is never cut in two.
  plan = plan_reads(std::vector{at(0, ModbusTable::Input, 0, 2), at(1, ModbusTable::Input, 123, 2)},
                    PlanOptions{.register_gap = 200});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].count, 125);
  plan = plan_reads(std::vector{at(0, ModbusTable::Input, 0, 2), at(1, ModbusTable::Input, 123, 4)},
                    PlanOptions{.register_gap = 200});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].address, 123);
  EXPECT_EQ(plan[1].count, 4);

  // The limit also caps the gap bridging: max_registers is honoured with any gap setting.
  for (const ReadRequest& r : plan_reads(points, PlanOptions{.register_gap = 1000})) {
    EXPECT_LE(r.count, 125);
  }
}

TEST(ModbusPlanner, BitLimit2000AndBitGap) {
  std::vector<PointSpan> points;
  for (uint16_t a = 0; a < 2001; ++a)
    points.push_back(at(a, ModbusTable::Coil, a));
  std::vector<ReadRequest> plan = plan_reads(points);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].count, 2000);
  EXPECT_EQ(plan[1].address, 2000);
  EXPECT_EQ(plan[1].count, 1);

  // Bits read through gaps of up to 64 by default.
  plan = plan_reads(std::vector{at(0, ModbusTable::Discrete, 0), at(1, ModbusTable::Discrete, 65)});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].count, 66);
  plan = plan_reads(std::vector{at(0, ModbusTable::Discrete, 0), at(1, ModbusTable::Discrete, 66)});
  EXPECT_EQ(plan.size(), 2u);

  PlanOptions wide;
  wide.bit_gap = 5000;
  plan = plan_reads(std::vector{at(0, ModbusTable::Coil, 0), at(1, ModbusTable::Coil, 1999)}, wide);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].count, 2000);
  plan = plan_reads(std::vector{at(0, ModbusTable::Coil, 0), at(1, ModbusTable::Coil, 2000)}, wide);
  EXPECT_EQ(plan.size(), 2u);
}

TEST(ModbusPlanner, EdgesOfTheAddressSpace) {
  std::vector<ReadRequest> plan = plan_reads(
      std::vector{at(0, ModbusTable::Holding, 65532, 4), at(1, ModbusTable::Holding, 65535)});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].address, 65532);
  EXPECT_EQ(plan[0].count, 4);
  // A point bigger than a request can read gets a request of its own.
  plan = plan_reads(
      std::vector{at(0, ModbusTable::Holding, 0, 130), at(1, ModbusTable::Holding, 130)});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].count, 130);
  EXPECT_EQ(plan[1].address, 130);
}

TEST(ModbusPlanner, FromDeviceConfig) {
  config::ModbusDevice device;
  auto point = [](ModbusTable table, uint16_t wire, ValueType type, uint16_t length = 0) {
    config::ModbusPoint p;
    p.table = table;
    p.wire_address = wire;
    p.address = wire + 1u;  // as written with address_base = 1: the planner uses wire_address
    p.type = type;
    p.length = length;
    return p;
  };
  device.points = {point(ModbusTable::Holding, 0, ValueType::Float32),
                   point(ModbusTable::Holding, 2, ValueType::Int16),
                   point(ModbusTable::Holding, 20, ValueType::String, 8),
                   point(ModbusTable::Coil, 0, ValueType::Bool),
                   point(ModbusTable::Input, 0, ValueType::UInt32),
                   point(ModbusTable::Input, 4, ValueType::Float64)};
  std::vector<ReadRequest> plan = plan_reads(device);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].table, ModbusTable::Coil);
  EXPECT_EQ(plan[0].points[0].point, 3u);
  EXPECT_EQ(plan[1].table, ModbusTable::Holding);
  EXPECT_EQ(plan[1].address, 0);
  EXPECT_EQ(plan[1].count, 3);
  EXPECT_EQ(plan[2].address, 20);
  EXPECT_EQ(plan[2].count, 8);
  EXPECT_EQ(plan[2].points[0].point, 2u);
  EXPECT_EQ(plan[3].table, ModbusTable::Input);
  EXPECT_EQ(plan[3].address, 0);
  EXPECT_EQ(plan[3].count, 8);
  EXPECT_EQ(plan[3].points[1].offset, 4);
  EXPECT_EQ(plan[3].points[1].count, 4);
}

TEST(ModbusPlanner, SplitInHalves) {
  std::vector<PointSpan> points = {at(0, ModbusTable::Holding, 0, 2),
                                   at(1, ModbusTable::Holding, 2), at(2, ModbusTable::Holding, 5),
                                   at(3, ModbusTable::Holding, 7, 4)};
  std::vector<ReadRequest> plan = plan_reads(points);
  ASSERT_EQ(plan.size(), 1u);
  std::vector<ReadRequest> halves = split_request(plan[0]);
  ASSERT_EQ(halves.size(), 2u);
  EXPECT_EQ(halves[0].table, ModbusTable::Holding);
  EXPECT_EQ(halves[0].address, 0);
  EXPECT_EQ(halves[0].count, 3);
  ASSERT_EQ(halves[0].points.size(), 2u);
  EXPECT_EQ(halves[0].points[1].offset, 2);
  EXPECT_EQ(halves[1].address, 5);
  EXPECT_EQ(halves[1].count, 6);
  ASSERT_EQ(halves[1].points.size(), 2u);
  EXPECT_EQ(halves[1].points[0].point, 2u);
  EXPECT_EQ(halves[1].points[0].offset, 0);
  EXPECT_EQ(halves[1].points[1].point, 3u);
  EXPECT_EQ(halves[1].points[1].offset, 2);
  EXPECT_EQ(halves[1].points[1].count, 4);

  // A single point, or points that all read the same registers, cannot be split.
  std::vector<ReadRequest> one = split_request(halves[0]);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_TRUE(split_request(one[0]).empty());
  std::vector<ReadRequest> same =
      plan_reads(std::vector{at(0, ModbusTable::Holding, 10), at(1, ModbusTable::Holding, 10)});
  ASSERT_EQ(same.size(), 1u);
  EXPECT_TRUE(split_request(same[0]).empty());
  // Points on the same registers stay together when their neighbours are split off.
  std::vector<ReadRequest> grouped =
      plan_reads(std::vector{at(0, ModbusTable::Holding, 10), at(1, ModbusTable::Holding, 10),
                             at(2, ModbusTable::Holding, 11), at(3, ModbusTable::Holding, 10)});
  ASSERT_EQ(grouped.size(), 1u);
  std::vector<ReadRequest> parts = split_request(grouped[0]);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].points.size(), 3u);
  EXPECT_EQ(parts[1].points.size(), 1u);
  EXPECT_EQ(parts[1].address, 11);
}

// A device without register 13: every request touching it fails with exception 2. Splitting
// on failure reads every other point.
TEST(ModbusPlanner, SplittingIsolatesTheBadPoint) {
  std::vector<PointSpan> points;
  for (uint16_t a = 0; a < 40; a += 2)
    points.push_back(at(a / 2u, ModbusTable::Holding, a, 2));
  points.push_back(at(100, ModbusTable::Holding, 12, 2));  // overlaps the bad register too
  const std::set<uint32_t> missing = {13};
  auto device_refuses = [&](const ReadRequest& r) {
    for (uint32_t a = r.address; a < uint32_t{r.address} + r.count; ++a) {
      if (missing.count(a)) return true;
    }
    return false;
  };
  std::deque<ReadRequest> queue;
  for (ReadRequest& r : plan_reads(points))
    queue.push_back(std::move(r));
  ASSERT_EQ(queue.size(), 1u);
  std::set<size_t> good, bad;
  int reads = 0;
  while (!queue.empty()) {
    ReadRequest r = std::move(queue.front());
    queue.pop_front();
    ++reads;
    if (!device_refuses(r)) {
      for (const ServedPoint& p : r.points)
        good.insert(p.point);
      continue;
    }
    std::vector<ReadRequest> parts = split_request(r);
    if (parts.empty()) {
      for (const ServedPoint& p : r.points)
        bad.insert(p.point);
    }
    for (ReadRequest& part : parts)
      queue.push_back(std::move(part));
  }
  EXPECT_EQ(bad, (std::set<size_t>{6, 100}));  // the two points over register 13
  EXPECT_EQ(good.size(), 19u);
  EXPECT_LT(reads, 21);  // fewer reads than one per point
}

}  // namespace
}  // namespace fieldgate::modbus
