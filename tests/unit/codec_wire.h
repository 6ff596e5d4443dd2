// Wire-building helpers shared by the codec tests: bytes written by hand, independent of the
// codec under test, so that a test compares the codec against the specification's layout.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>

#include "broker/codec/codec.h"

namespace fieldgate::mqtt::wire {

inline constexpr uint32_t kNoLimit = std::numeric_limits<uint32_t>::max();

inline std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values)
    out.push_back(static_cast<char>(v));
  return out;
}

inline std::string varint(uint32_t value) {
  std::string out;
  do {
    uint8_t b = value % 128;
    value /= 128;
    if (value > 0) b |= 128;
    out.push_back(static_cast<char>(b));
  } while (value > 0);
  return out;
}

inline std::string u16(uint16_t value) {
  return bytes({value >> 8, value & 0xFF});
}

inline std::string u32(uint32_t value) {
  return bytes({static_cast<int>(value >> 24), static_cast<int>((value >> 16) & 0xFF),
                static_cast<int>((value >> 8) & 0xFF), static_cast<int>(value & 0xFF)});
}

// A length-prefixed field.
inline std::string field(std::string_view text) {
  return u16(static_cast<uint16_t>(text.size())) + std::string(text);
}

inline std::string packet(int first_byte, std::string_view body) {
  return bytes({first_byte}) + varint(static_cast<uint32_t>(body.size())) + std::string(body);
}

inline int first(PacketType type, int flags = 0) {
  return (static_cast<int>(type) << 4) | flags;
}

// The frame of a complete packet; `wire` must outlive the frame.
inline Frame frame_of(std::string_view wire) {
  Frame frame;
  EXPECT_EQ(next_frame(wire, kNoLimit, frame), FrameStatus::Complete);
  EXPECT_EQ(frame.size(), wire.size());
  return frame;
}

// A frame built directly around a body, as next_frame would describe it.
inline Frame make_frame(PacketType type, uint8_t flags, std::string_view body) {
  Frame frame;
  frame.header.type = type;
  frame.header.flags = flags;
  frame.header.remaining_length = static_cast<uint32_t>(body.size());
  frame.header.header_size = static_cast<uint8_t>(1 + varint(frame.header.remaining_length).size());
  frame.body = body;
  return frame;
}

}  // namespace fieldgate::mqtt::wire
