// Shared by the files of config/ only: the diagnostics collector, the spelling of every enum,
// how tables are named in messages, and the two stages of parse(): read_toml() turns TOML into
// structs (types, ranges of single values, enums, required and unknown keys) and validate()
// checks the rules that span keys, tables and the file system.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace fieldgate::config {

// Collects the problems of one file.
class Diagnostics {
 public:
  explicit Diagnostics(std::filesystem::path file) : file_(std::move(file)) {}
  void error(SourcePos pos, std::string message);
  bool empty() const { return list_.empty(); }
  const std::filesystem::path& file() const { return file_; }
  // Every diagnostic, sorted by position (file-level ones first); keeps the order of ties.
  std::vector<Diagnostic> sorted() const;

 private:
  std::filesystem::path file_;
  std::vector<Diagnostic> list_;
};

// ---- enum spellings -----------------------------------------------------------------------

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

inline constexpr EnumName<LogLevel> kLogLevelNames[] = {{"trace", LogLevel::Trace},
                                                        {"debug", LogLevel::Debug},
                                                        {"info", LogLevel::Info},
                                                        {"warn", LogLevel::Warn},
                                                        {"error", LogLevel::Error}};
inline constexpr EnumName<Durability> kDurabilityNames[] = {{"process", Durability::Process},
                                                            {"power", Durability::Power}};
inline constexpr EnumName<ListenerProtocol> kListenerProtocolNames[] = {
    {"mqtt", ListenerProtocol::Mqtt}, {"websockets", ListenerProtocol::Websockets}};
inline constexpr EnumName<RouteDirection> kRouteDirectionNames[] = {
    {"out", RouteDirection::Out}, {"in", RouteDirection::In}, {"both", RouteDirection::Both}};
inline constexpr EnumName<PayloadFormat> kPayloadFormatNames[] = {{"json", PayloadFormat::Json},
                                                                  {"value", PayloadFormat::Value}};
inline constexpr EnumName<ValueType> kValueTypeNames[] = {
    {"bool", ValueType::Bool},     {"int16", ValueType::Int16},     {"uint16", ValueType::UInt16},
    {"int32", ValueType::Int32},   {"uint32", ValueType::UInt32},   {"int64", ValueType::Int64},
    {"uint64", ValueType::UInt64}, {"float32", ValueType::Float32}, {"float64", ValueType::Float64},
    {"string", ValueType::String}};
// The types a CoAP point can have: the gateway's own value types.
inline constexpr EnumName<ValueType> kCoapValueTypeNames[] = {{"bool", ValueType::Bool},
                                                              {"int64", ValueType::Int64},
                                                              {"uint64", ValueType::UInt64},
                                                              {"float64", ValueType::Float64},
                                                              {"string", ValueType::String}};
inline constexpr EnumName<ModbusTransport> kModbusTransportNames[] = {
    {"tcp", ModbusTransport::Tcp}, {"rtu", ModbusTransport::Rtu}};
inline constexpr EnumName<Parity> kParityNames[] = {
    {"N", Parity::None}, {"E", Parity::Even}, {"O", Parity::Odd}};
inline constexpr EnumName<ModbusTable> kModbusTableNames[] = {{"coil", ModbusTable::Coil},
                                                              {"discrete", ModbusTable::Discrete},
                                                              {"holding", ModbusTable::Holding},
                                                              {"input", ModbusTable::Input}};
inline constexpr EnumName<WordOrder> kWordOrderNames[] = {{"ABCD", WordOrder::ABCD},
                                                          {"CDAB", WordOrder::CDAB},
                                                          {"BADC", WordOrder::BADC},
                                                          {"DCBA", WordOrder::DCBA}};
inline constexpr EnumName<CoapMode> kCoapModeNames[] = {{"observe", CoapMode::Observe},
                                                        {"poll", CoapMode::Poll}};
inline constexpr EnumName<CoapFormat> kCoapFormatNames[] = {{"text", CoapFormat::Text},
                                                            {"json", CoapFormat::Json}};
inline constexpr EnumName<GpioDirection> kGpioDirectionNames[] = {{"in", GpioDirection::In},
                                                                  {"out", GpioDirection::Out}};
inline constexpr EnumName<GpioEdge> kGpioEdgeNames[] = {
    {"rising", GpioEdge::Rising}, {"falling", GpioEdge::Falling}, {"both", GpioEdge::Both}};
inline constexpr EnumName<GpioBias> kGpioBiasNames[] = {{"pull-up", GpioBias::PullUp},
                                                        {"pull-down", GpioBias::PullDown},
                                                        {"disabled", GpioBias::Disabled}};
inline constexpr EnumName<Protocol> kProtocolNames[] = {
    {"modbus", Protocol::Modbus}, {"coap", Protocol::Coap}, {"gpio", Protocol::Gpio}};

template <class E, size_t N>
std::string_view name_of(const EnumName<E> (&names)[N], E value) {
  for (const auto& entry : names) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

// ---- naming in messages -------------------------------------------------------------------

// How an element of an array of tables is named in messages: "modbus[boiler]" by its name, or
// "modbus[2]" by its index when it has no usable name.
std::string element_name(std::string_view array_path, std::string_view name, size_t index);

// The allowed word closest to `word` (edit distance at most 2, and less than the word's length),
// for "did you mean" hints; std::nullopt when none is close.
std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> allowed);

// Why `filter` is not a valid MQTT topic filter, or std::nullopt.
std::optional<std::string> check_topic_filter(std::string_view filter);

// ---- the two stages of parse() ------------------------------------------------------------

// TOML text -> Config. Reports syntax errors, wrong types, unknown keys, missing required keys,
// enum values not allowed and single values out of range. Relative paths are resolved against
// `base_dir`. Returns std::nullopt after a syntax error (nothing else can be checked then).
std::optional<Config> read_toml(std::string_view text, const std::filesystem::path& base_dir,
                                Diagnostics& diagnostics);

// The rules that span several keys or tables, derived fields (listener host/port, URLs,
// wire addresses, defaults that depend on other keys), topic templates and files.
void validate(Config& config, Diagnostics& diagnostics);

}  // namespace fieldgate::config
