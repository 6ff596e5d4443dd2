#include "gateway/devices.h"

#include <malloc.h>

#include <chrono>
#include <optional>
#include <utility>

#include "adapters/coap/adapter.h"
#include "adapters/gpio/adapter.h"
#include "adapters/modbus/adapter.h"
#include "common/log.h"

namespace fieldgate::gateway {

// The mapping's messages go into the broker like any client's publishes.
class Devices::BrokerOutbox final : public mapping::Outbox {
 public:
  explicit BrokerOutbox(broker::Broker& broker) : broker_(broker) {}
  void publish(std::string topic, std::string payload, uint8_t qos, bool retain) override {
    broker_.publish(std::move(topic), std::move(payload), qos, retain);
  }
  void publish_reply(std::string topic, std::string payload, uint8_t qos,
                     std::optional<std::string> correlation_data) override {
    broker::PublishProperties properties;
    properties.correlation_data = std::move(correlation_data);
    broker_.publish(std::move(topic), std::move(payload), qos, false, std::move(properties));
  }

 private:
  broker::Broker& broker_;
};

// The adapters, engine and command router of one config.
// Takes the config's devices over (moved, not copied: with 10,000 points they are megabytes).
struct Devices::Plane final : adapters::ReadingSink {
  Plane(std::vector<mapping::PointSettings> points, config::Config config, mapping::Outbox& outbox)
      : router(
            points,
            [this](std::string_view device, std::string_view point, const mapping::Value& value,
                   std::function<void(const mapping::WriteOutcome&)> done) {
              write(device, point, value, std::move(done));
            },
            outbox),
        engine(config.gateway.name, std::move(points), outbox) {
    if (!config.modbus.empty()) {
      std::vector<std::string> names;
      for (const config::ModbusDevice& d : config.modbus)
        names.push_back(d.name);
      auto modbus = std::make_unique<modbus::ModbusAdapter>(std::move(config.modbus));
      for (std::string& name : names)
        adapter_of[std::move(name)] = modbus.get();
      adapters.push_back(std::move(modbus));
    }
    if (!config.gpio.empty()) {
      auto gpio = std::make_unique<gpio::GpioAdapter>(config.gpio);
      for (const config::GpioChip& c : config.gpio)
        adapter_of[c.name] = gpio.get();
      adapters.push_back(std::move(gpio));
    }
    if (!config.coap.empty()) {
      auto coap = std::make_unique<coap::CoapAdapter>(config.coap);
      for (const config::CoapDevice& d : config.coap)
        adapter_of[d.name] = coap.get();
      adapters.push_back(std::move(coap));
    }
  }

  // Every point's topic.
  std::set<std::string> topics() const {
    std::set<std::string> topics;
    for (std::string& command : router.command_topics())
      topics.insert(command.substr(0, command.size() - std::string_view("/set").size()));
    return topics;
  }
  ~Plane() override { stop(); }

  void on_reading(std::string_view device, std::string_view point,
                  const mapping::Reading& reading) override {
    engine.on_reading(device, point, reading);
  }
  void on_availability(std::string_view device, bool online) override {
    engine.on_availability(device, online);
  }

  void write(std::string_view device, std::string_view point, const mapping::Value& value,
             std::function<void(const mapping::WriteOutcome&)> done) {
    auto found = adapter_of.find(device);
    if (found == adapter_of.end()) {
      done({false, "device '" + std::string(device) + "' is not served by any adapter"});
      return;
    }
    found->second->write(device, point, value,
                         [done = std::move(done)](const adapters::WriteResult& result) {
                           done({result.ok, result.error});
                         });
  }

  void stop() {
    for (auto& adapter : adapters)
      adapter->stop();
  }

  mapping::CommandRouter router;  // before the engine, which takes the point settings over
  mapping::Engine engine;
  std::vector<std::unique_ptr<adapters::Adapter>> adapters;
  std::map<std::string, adapters::Adapter*, std::less<>> adapter_of;  // by device name
};

Devices::Devices(config::Config config, broker::Broker& broker)
    : broker_(broker), outbox_(std::make_unique<BrokerOutbox>(broker)) {
  plane_ = make_plane(std::move(config));
}

Devices::~Devices() {
  stop();
}

std::shared_ptr<Devices::Plane> Devices::make_plane(config::Config config) {
  std::vector<mapping::PointSettings> points = mapping::point_settings(config);
  return std::make_shared<Plane>(std::move(points), std::move(config), *outbox_);
}

std::shared_ptr<Devices::Plane> Devices::plane() const {
  std::lock_guard lock(plane_mutex_);
  return plane_;
}

void Devices::start() {
  std::lock_guard lock(reload_mutex_);
  std::shared_ptr<Plane> current = plane();
  // A config without devices runs a plain broker: no gateway topics in its clients' way.
  if (!current->adapter_of.empty()) current->engine.publish_gateway_online();
  start_plane(*current);
  timer_ = std::thread([this] { tick_heartbeats(); });
}

namespace {

// The filters that take every command topic: one "+/.../+/set" per depth. A subscription per
// point would cost the broker ~700 bytes each (7 MB for 10,000 points); a message these match
// that is not a command topic is looked up by the router and ignored.
std::set<std::string> command_filters(const std::vector<std::string>& topics) {
  std::set<std::string> filters;
  for (const std::string& topic : topics) {
    std::string filter;
    for (char c : topic)
      if (c == '/') filter += "+/";
    filters.insert(filter + "set");
  }
  return filters;
}

}  // namespace

// Subscribes to the plane's command topics (with filters not subscribed before: the handler
// always asks the current plane, so a filter once subscribed stays valid), and starts its
// adapters.
void Devices::start_plane(Plane& plane) {
  for (const std::string& filter : command_filters(plane.router.command_topics())) {
    if (!subscribed_.insert(filter).second) continue;
    broker_.subscribe(filter, [this](std::string_view topic, std::string_view payload,
                                     const broker::PublishProperties* properties) {
      // An MQTT 5 command with a response topic gets its result there (SPEC.md).
      std::optional<mapping::ReplyTo> reply_to;
      if (properties && properties->response_topic) {
        reply_to = mapping::ReplyTo{*properties->response_topic, properties->correlation_data};
      }
      this->plane()->router.handle(topic, payload, std::move(reply_to));
    });
  }
  for (auto& adapter : plane.adapters)
    adapter->start(plane);
  if (!plane.adapter_of.empty())
    log::info("gateway", "polling ", plane.adapter_of.size(), " device(s)");
}

void Devices::reload(config::Config config) {
  std::lock_guard lock(reload_mutex_);
  std::shared_ptr<Plane> next = make_plane(std::move(config));
  std::shared_ptr<Plane> previous;
  {
    std::lock_guard plane_lock(plane_mutex_);
    previous = std::exchange(plane_, next);
  }
  previous->stop();
  // The retained values of points that are gone would otherwise stay forever.
  std::set<std::string> kept = next->topics();
  for (const std::string& topic : previous->topics()) {
    if (!kept.count(topic)) broker_.publish(topic, "", 0, true);
  }
  if (!next->adapter_of.empty()) next->engine.publish_gateway_online();
  start_plane(*next);
}

void Devices::stop() {
  std::lock_guard lock(reload_mutex_);
  if (!timer_.joinable()) return;
  {
    std::lock_guard timer_lock(timer_mutex_);
    stopping_ = true;
  }
  timer_wake_.notify_all();
  timer_.join();
  plane()->stop();
}

std::string Devices::status() const {
  std::shared_ptr<Plane> current = plane();
  size_t count = current->adapter_of.size();
  return std::to_string(current->engine.devices_online()) + " of " + std::to_string(count) +
         " device" + (count == 1 ? "" : "s") + " online";
}

// heartbeat_s counts in seconds; a quarter second keeps repeats within that of their due time.
// Every 10 s the heap freed meanwhile (a burst of readings at start, a reload) goes back to the
// system: glibc keeps it otherwise, and RSS on a small board is what users watch.
void Devices::tick_heartbeats() {
  constexpr auto kTick = std::chrono::milliseconds(250);
  constexpr int kTicksPerTrim = 40;
  int ticks = 0;
  std::unique_lock lock(timer_mutex_);
  while (!timer_wake_.wait_for(lock, kTick, [this] { return stopping_; })) {
    lock.unlock();
    plane()->engine.tick(mapping::Engine::Clock::now());
    if (++ticks % kTicksPerTrim == 0) malloc_trim(0);
    lock.lock();
  }
}

}  // namespace fieldgate::gateway
