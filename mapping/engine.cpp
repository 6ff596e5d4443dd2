#include "mapping/engine.h"

#include <cmath>
#include <utility>

namespace fieldgate::mapping {
namespace {

// |a - b| for two integers of one type, exact (as an unsigned number), then as a double.
template <typename Int>
double integer_distance(Int a, Int b) {
  auto ua = static_cast<uint64_t>(a);
  auto ub = static_cast<uint64_t>(b);
  uint64_t distance = a > b ? ua - ub : ub - ua;  // wraps correctly for int64_t too
  return static_cast<double>(distance);
}

bool same_double(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

bool numbers_changed(double distance, std::optional<double> deadband) {
  return !deadband || distance >= *deadband;
}

std::string payload_of(const PointSettings& settings, const Reading& reading) {
  if (settings.payload == config::PayloadFormat::Value) return value_payload(reading.value);
  return json_payload(reading, settings.unit);
}

// A bad reading as it is published: no value, whatever the adapter left in it.
Reading as_published(const Reading& reading) {
  if (reading.quality == Quality::Good) return reading;
  Reading bad = reading;
  bad.value = Value{};
  return bad;
}

std::optional<double> deadband_of(const config::Config& config, const config::ResolvedPoint& p) {
  auto find_in = [&](const auto& devices) -> std::optional<double> {
    for (const auto& device : devices) {
      if (device.name != p.device) continue;
      for (const auto& point : device.points) {
        if (point.name == p.point) return point.deadband;
      }
    }
    return std::nullopt;
  };
  switch (p.protocol) {
    case config::Protocol::Modbus:
      return find_in(config.modbus);
    case config::Protocol::Coap:
      return find_in(config.coap);
    case config::Protocol::Gpio:
      return std::nullopt;  // GPIO points are bools: every change counts
  }
  return std::nullopt;
}

}  // namespace

bool value_changed(const Value& last, const Value& next, std::optional<double> deadband) {
  if (last.index() != next.index()) return true;
  if (const auto* n = std::get_if<int64_t>(&next)) {
    int64_t l = std::get<int64_t>(last);
    return l != *n && numbers_changed(integer_distance(l, *n), deadband);
  }
  if (const auto* n = std::get_if<uint64_t>(&next)) {
    uint64_t l = std::get<uint64_t>(last);
    return l != *n && numbers_changed(integer_distance(l, *n), deadband);
  }
  if (const auto* n = std::get_if<double>(&next)) {
    double l = std::get<double>(last);
    if (same_double(l, *n)) return false;
    if (std::isnan(l) || std::isnan(*n)) return true;
    return numbers_changed(std::fabs(l - *n), deadband);
  }
  return last != next;  // null, bool, text: any change
}

std::vector<PointSettings> point_settings(const config::Config& config) {
  std::vector<PointSettings> result;
  for (const config::ResolvedPoint& p : config::resolved_points(config)) {
    result.push_back(PointSettings{.device = p.device,
                                   .point = p.point,
                                   .topic = p.topic,
                                   .qos = p.qos,
                                   .retain = p.retain,
                                   .payload = p.payload,
                                   .unit = p.unit,
                                   .deadband = deadband_of(config, p),
                                   .heartbeat_s = config.mapping.heartbeat_s,
                                   .writable = p.writable});
  }
  return result;
}

Engine::Engine(std::string gateway, std::vector<PointSettings> points, Outbox& outbox,
               NowFunction now)
    : gateway_(std::move(gateway)), outbox_(outbox), now_(std::move(now)) {
  points_.reserve(points.size());
  for (PointSettings& settings : points) {
    index_[settings.device][settings.point] = points_.size();
    any_heartbeat_ = any_heartbeat_ || settings.heartbeat_s > 0;
    points_.push_back(PointState{.settings = std::move(settings)});
  }
}

Engine::Engine(const config::Config& config, Outbox& outbox, NowFunction now)
    : Engine(config.gateway.name, point_settings(config), outbox, std::move(now)) {}

Engine::PointState* Engine::find(std::string_view device, std::string_view point) {
  auto by_device = index_.find(device);
  if (by_device == index_.end()) return nullptr;
  auto by_point = by_device->second.find(point);
  if (by_point == by_device->second.end()) return nullptr;
  return &points_[by_point->second];
}

bool Engine::worth_publishing(const PointSettings& settings,
                              const std::optional<Reading>& published,
                              const Reading& reading) const {
  if (!published) return true;
  if (published->quality != reading.quality) return true;
  if (reading.quality == Quality::Bad) return published->error != reading.error;
  return value_changed(published->value, reading.value, settings.deadband);
}

void Engine::publish(PointState& state, const Reading& reading, Clock::time_point now) {
  const PointSettings& settings = state.settings;
  outbox_.publish(settings.topic, payload_of(settings, reading), settings.qos, settings.retain);
  state.published = reading;
  state.published_at = now;
}

void Engine::on_reading(std::string_view device, std::string_view point, const Reading& reading) {
  Reading next = as_published(reading);
  std::lock_guard lock(mutex_);
  PointState* state = find(device, point);
  if (state == nullptr) {
    ++unknown_readings_;
    return;
  }
  bool publish_now = worth_publishing(state->settings, state->published, next);
  if (state->settings.heartbeat_s > 0) state->latest = next;  // only the heartbeat needs it
  if (publish_now) publish(*state, next, now_());
}

void Engine::on_availability(std::string_view device, bool online) {
  std::lock_guard lock(mutex_);
  auto known = device_online_.find(device);
  if (known != device_online_.end() && known->second == online) return;
  device_online_.insert_or_assign(std::string(device), online);
  outbox_.publish(gateway_ + "/availability/" + std::string(device), online ? "online" : "offline",
                  kAvailabilityQos, true);
}

void Engine::tick(Clock::time_point now) {
  if (!any_heartbeat_) return;
  std::lock_guard lock(mutex_);
  for (PointState& state : points_) {
    uint32_t heartbeat_s = state.settings.heartbeat_s;
    if (heartbeat_s == 0 || !state.latest || state.latest->quality == Quality::Bad) continue;
    if (now - state.published_at >= std::chrono::seconds(heartbeat_s)) {
      publish(state, *state.latest, now);
    }
  }
}

void Engine::publish_gateway_online() {
  std::lock_guard lock(mutex_);
  outbox_.publish(gateway_availability_topic(), "online", kAvailabilityQos, true);
}

std::string Engine::gateway_availability_topic() const {
  return gateway_ + "/availability";
}

size_t Engine::devices_online() const {
  std::lock_guard lock(mutex_);
  size_t online = 0;
  for (const auto& [device, is_online] : device_online_)
    online += is_online;
  return online;
}

uint64_t Engine::unknown_readings() const {
  std::lock_guard lock(mutex_);
  return unknown_readings_;
}

}  // namespace fieldgate::mapping
