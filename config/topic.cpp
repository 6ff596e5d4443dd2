// Topic templates, topic filters and the points' resolved topics.
#include <string>

#include "config/internal.h"

namespace fieldgate::config {
namespace {

constexpr std::string_view kTopicVariables[] = {"gateway", "protocol", "device", "point"};

std::string_view variable_value(std::string_view name, const TopicVars& vars) {
  if (name == "gateway") return vars.gateway;
  if (name == "protocol") return vars.protocol;
  if (name == "device") return vars.device;
  if (name == "point") return vars.point;
  return {};
}

std::optional<std::string> check_variable(std::string_view name) {
  for (std::string_view known : kTopicVariables) {
    if (name == known) return std::nullopt;
  }
  std::string message = "unknown variable {" + std::string(name) +
                        "}; use {gateway}, {protocol}, {device} or {point}";
  if (auto close = closest_match(name, kTopicVariables)) {
    message += " (did you mean {" + std::string(*close) + "}?)";
  }
  return message;
}

}  // namespace

std::optional<std::string> check_topic_template(std::string_view topic_template) {
  if (topic_template.empty()) return "a topic must not be empty";
  if (topic_template.front() == '$') {
    return "a topic must not start with '$' (reserved for the broker's own topics)";
  }
  for (size_t i = 0; i < topic_template.size(); ++i) {
    char c = topic_template[i];
    if (c == '+' || c == '#') {
      return std::string("'") + c + "' is a wildcard and cannot be part of a topic name";
    }
    if (c == '\0') return "a topic must not contain a NUL character";
    if (c == '}') return "'}' without a matching '{'";
    if (c == '{') {
      size_t close = topic_template.find('}', i);
      if (close == std::string_view::npos) return "'{' without a matching '}'";
      if (auto problem = check_variable(topic_template.substr(i + 1, close - i - 1))) {
        return problem;
      }
      i = close;
    }
  }
  return std::nullopt;
}

std::string render_topic(std::string_view topic_template, const TopicVars& vars) {
  std::string topic;
  for (size_t i = 0; i < topic_template.size(); ++i) {
    size_t close = topic_template[i] == '{' ? topic_template.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      topic += topic_template[i];
      continue;
    }
    topic += variable_value(topic_template.substr(i + 1, close - i - 1), vars);
    i = close;
  }
  return topic;
}

std::optional<std::string> check_topic_filter(std::string_view filter) {
  if (filter.empty()) return "a topic filter must not be empty";
  size_t level_start = 0;
  for (size_t i = 0; i <= filter.size(); ++i) {
    if (i < filter.size() && filter[i] != '/') continue;
    std::string_view level = filter.substr(level_start, i - level_start);
    bool has_plus = level.find('+') != std::string_view::npos;
    bool has_hash = level.find('#') != std::string_view::npos;
    if (has_plus && level != "+") return "'+' must stand alone in its topic level";
    if (has_hash && level != "#") return "'#' must stand alone in its topic level";
    if (has_hash && i != filter.size()) return "'#' must be the last topic level";
    level_start = i + 1;
  }
  return std::nullopt;
}

namespace {

template <class Point>
ResolvedPoint resolve(const Config& config, Protocol protocol, std::string_view device,
                      const Point& point) {
  const Mapping& mapping = config.mapping;
  const PointOverrides& overrides = point.overrides;
  ResolvedPoint resolved;
  resolved.protocol = protocol;
  resolved.device = device;
  resolved.point = point.name;
  TopicVars vars{config.gateway.name, to_string(protocol), device, point.name};
  resolved.topic = render_topic(overrides.topic.value_or(mapping.topic), vars);
  resolved.qos = overrides.qos.value_or(mapping.qos);
  resolved.retain = overrides.retain.value_or(mapping.retain);
  resolved.payload = overrides.payload.value_or(mapping.payload);
  resolved.writable = point.writable;
  resolved.pos = point.pos;
  return resolved;
}

}  // namespace

std::vector<ResolvedPoint> resolved_points(const Config& config) {
  std::vector<ResolvedPoint> result;
  for (const ModbusDevice& device : config.modbus) {
    for (const ModbusPoint& point : device.points) {
      result.push_back(resolve(config, Protocol::Modbus, device.name, point));
      result.back().unit = point.unit;
    }
  }
  for (const CoapDevice& device : config.coap) {
    for (const CoapPoint& point : device.points) {
      result.push_back(resolve(config, Protocol::Coap, device.name, point));
      result.back().unit = point.unit;
    }
  }
  for (const GpioChip& chip : config.gpio) {
    for (const GpioPoint& point : chip.points) {
      result.push_back(resolve(config, Protocol::Gpio, chip.name, point));
    }
  }
  return result;
}

}  // namespace fieldgate::config
