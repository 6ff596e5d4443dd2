// The mapping engine: adapters' readings -> MQTT messages (SPEC.md, "Topics and payloads").
//
// The engine knows every point of the config (its topic, QoS, retain flag, payload format,
// unit, deadband, heartbeat). Adapters hand it readings and availability changes from their own
// threads; it decides what is worth publishing and hands finished messages to an Outbox:
//   - a good value when it changed by at least the point's deadband since the value last
//     published (any change when no deadband is set; for bool, text and null values any change
//     counts, deadband or not), or when the quality changed;
//   - a bad reading once, as value null, quality "bad" and its error; again only when the error
//     text changes (or after a good value);
//   - the latest value again when heartbeat_s passed since the point last published (tick());
//     a point in the bad state is not repeated by the heartbeat: its retained message stays;
//   - {gateway}/availability/{device} "online"/"offline" (retained, QoS 1) when a device's
//     availability changes, and {gateway}/availability "online" on publish_gateway_online().
//
// The engine does not include adapters/adapter.h (adapters depend on mapping, not the other
// way): the gateway forwards adapters::ReadingSink calls to on_reading() / on_availability(),
// which have the same signatures.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "mapping/value.h"

namespace fieldgate::mapping {

// Where the engine and the command router deliver their messages (in the gateway: the broker's
// in-process client). Called from adapter threads and from tick()'s caller, one call at a time
// per engine (the engine holds its lock while it calls); implementations must be thread-safe,
// must not block for long, and must not call back into the engine.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void publish(std::string topic, std::string payload, uint8_t qos, bool retain) = 0;
  // An answer to an MQTT 5 request: not retained, with the request's correlation data (when it
  // had any). Outboxes that cannot carry properties publish it plainly.
  virtual void publish_reply(std::string topic, std::string payload, uint8_t qos,
                             std::optional<std::string> correlation_data) {
    (void)correlation_data;
    publish(std::move(topic), std::move(payload), qos, false);
  }
};

// Everything the mapping needs to know about one point: [mapping] with the point's overrides
// applied, plus its deadband and the heartbeat.
struct PointSettings {
  std::string device;
  std::string point;
  std::string topic;  // rendered; commands arrive on topic + "/set"
  uint8_t qos = 0;
  bool retain = true;
  config::PayloadFormat payload = config::PayloadFormat::Json;
  std::string unit;                // empty: no "unit" in JSON payloads
  std::optional<double> deadband;  // unset: publish every change
  uint32_t heartbeat_s = 0;        // 0: publish on change only
  bool writable = false;
};

// Every point of `config`, in config::resolved_points() order, with deadband and heartbeat.
std::vector<PointSettings> point_settings(const config::Config& config);

// QoS of the availability messages (they are always retained).
inline constexpr uint8_t kAvailabilityQos = 1;

class Engine {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFunction = std::function<Clock::time_point()>;

  // `outbox` must outlive the engine. `now` tells when a message is published, for the
  // heartbeat; tests pass a fake clock (the same one they pass to tick()).
  Engine(std::string gateway, std::vector<PointSettings> points, Outbox& outbox,
         NowFunction now = Clock::now);
  Engine(const config::Config& config, Outbox& outbox, NowFunction now = Clock::now);

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A reading of one point, from an adapter thread. Readings of points the config does not
  // name are ignored (and counted: unknown_readings()). A bad reading is published with value
  // null whatever value it carries.
  void on_reading(std::string_view device, std::string_view point, const Reading& reading);

  // A device came back (true) or stopped answering (false), from an adapter thread. The first
  // call for a device always publishes; later ones only on a change.
  void on_availability(std::string_view device, bool online);

  // Publishes the latest value of every point whose heartbeat is due at `now`.
  void tick(Clock::time_point now);

  // Publishes {gateway}/availability "online", retained. Call once the broker runs.
  void publish_gateway_online();
  // {gateway}/availability: where the bridge's will says "offline".
  std::string gateway_availability_topic() const;

  uint64_t unknown_readings() const;
  // Devices whose last availability was online.
  size_t devices_online() const;

 private:
  struct PointState {
    PointSettings settings;
    std::optional<Reading> latest;     // the last reading received (heartbeat points only)
    std::optional<Reading> published;  // the last reading published
    Clock::time_point published_at{};
  };

  PointState* find(std::string_view device, std::string_view point);
  bool worth_publishing(const PointSettings& settings, const std::optional<Reading>& published,
                        const Reading& reading) const;
  void publish(PointState& state, const Reading& reading, Clock::time_point now);

  const std::string gateway_;
  Outbox& outbox_;
  const NowFunction now_;
  bool any_heartbeat_ = false;  // set in the constructor only

  mutable std::mutex mutex_;  // guards everything below
  std::vector<PointState> points_;
  std::map<std::string, std::map<std::string, size_t, std::less<>>, std::less<>> index_;
  std::map<std::string, bool, std::less<>> device_online_;
  uint64_t unknown_readings_ = 0;
};

// Whether `next` differs from `last` enough to publish under `deadband`: numbers (int64,
// uint64, double; exact for integers) by at least the deadband, or by anything when it is
// unset; values of other kinds, or of a different kind than before, on any change.
bool value_changed(const Value& last, const Value& next, std::optional<double> deadband);

}  // namespace fieldgate::mapping
