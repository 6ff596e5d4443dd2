#include "gateway/devices.h"

#include <chrono>
#include <utility>

#include "adapters/coap/adapter.h"
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

 private:
  broker::Broker& broker_;
};

// The adapters, engine and command router of one config.
struct Devices::Plane final : adapters::ReadingSink {
  Plane(const config::Config& config, mapping::Outbox& outbox)
      : engine(config, outbox),
        router(
            mapping::point_settings(config),
            [this](std::string_view device, std::string_view point, const mapping::Value& value,
                   std::function<void(const mapping::WriteOutcome&)> done) {
              write(device, point, value, std::move(done));
            },
            outbox) {
    for (const config::ResolvedPoint& p : config::resolved_points(config))
      topics.insert(p.topic);
    if (!config.modbus.empty()) {
      auto modbus = std::make_unique<modbus::ModbusAdapter>(config.modbus);
      for (const config::ModbusDevice& d : config.modbus)
        adapter_of[d.name] = modbus.get();
      adapters.push_back(std::move(modbus));
    }
    if (!config.coap.empty()) {
      auto coap = std::make_unique<coap::CoapAdapter>(config.coap);
      for (const config::CoapDevice& d : config.coap)
        adapter_of[d.name] = coap.get();
      adapters.push_back(std::move(coap));
    }
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

  mapping::Engine engine;
  mapping::CommandRouter router;
  std::vector<std::unique_ptr<adapters::Adapter>> adapters;
  std::map<std::string, adapters::Adapter*, std::less<>> adapter_of;  // by device name
  std::set<std::string> topics;                                       // every point's topic
};

Devices::Devices(const config::Config& config, broker::Broker& broker)
    : broker_(broker), outbox_(std::make_unique<BrokerOutbox>(broker)) {
  plane_ = make_plane(config);
}

Devices::~Devices() {
  stop();
}

std::shared_ptr<Devices::Plane> Devices::make_plane(const config::Config& config) {
  return std::make_shared<Plane>(config, *outbox_);
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

// Subscribes to the plane's command topics (those not subscribed before: the handler always
// asks the current plane, so a topic once subscribed stays valid), and starts its adapters.
void Devices::start_plane(Plane& plane) {
  for (std::string& topic : plane.router.command_topics()) {
    if (!subscribed_.insert(topic).second) continue;
    broker_.subscribe(std::move(topic), [this](std::string_view topic, std::string_view payload) {
      this->plane()->router.handle(topic, payload);
    });
  }
  for (auto& adapter : plane.adapters)
    adapter->start(plane);
  if (!plane.adapter_of.empty())
    log::info("gateway", "polling ", plane.adapter_of.size(), " device(s)");
}

void Devices::reload(const config::Config& config) {
  std::lock_guard lock(reload_mutex_);
  std::shared_ptr<Plane> next = make_plane(config);
  std::shared_ptr<Plane> previous;
  {
    std::lock_guard plane_lock(plane_mutex_);
    previous = std::exchange(plane_, next);
  }
  previous->stop();
  // The retained values of points that are gone would otherwise stay forever.
  for (const std::string& topic : previous->topics) {
    if (!next->topics.count(topic)) broker_.publish(topic, "", 0, true);
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
void Devices::tick_heartbeats() {
  std::unique_lock lock(timer_mutex_);
  while (
      !timer_wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; })) {
    lock.unlock();
    plane()->engine.tick(mapping::Engine::Clock::now());
    lock.lock();
  }
}

}  // namespace fieldgate::gateway
