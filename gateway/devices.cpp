#include "gateway/devices.h"

#include <chrono>

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

class Devices::EngineSink final : public adapters::ReadingSink {
 public:
  explicit EngineSink(mapping::Engine& engine) : engine_(engine) {}
  void on_reading(std::string_view device, std::string_view point,
                  const mapping::Reading& reading) override {
    engine_.on_reading(device, point, reading);
  }
  void on_availability(std::string_view device, bool online) override {
    engine_.on_availability(device, online);
  }

 private:
  mapping::Engine& engine_;
};

Devices::Devices(const config::Config& config, broker::Broker& broker)
    : broker_(broker), outbox_(std::make_unique<BrokerOutbox>(broker)) {
  engine_ = std::make_unique<mapping::Engine>(config, *outbox_);
  sink_ = std::make_unique<EngineSink>(*engine_);
  router_ = std::make_unique<mapping::CommandRouter>(
      mapping::point_settings(config),
      [this](std::string_view device, std::string_view point, const mapping::Value& value,
             std::function<void(const mapping::WriteOutcome&)> done) {
        write(device, point, value, std::move(done));
      },
      *outbox_);
  if (!config.modbus.empty()) {
    auto modbus = std::make_unique<modbus::ModbusAdapter>(config.modbus);
    for (const config::ModbusDevice& d : config.modbus)
      adapter_of_[d.name] = modbus.get();
    adapters_.push_back(std::move(modbus));
  }
  device_count_ = adapter_of_.size();
}

Devices::~Devices() {
  stop();
}

void Devices::start() {
  // A config without devices runs a plain broker: no gateway topics in its clients' way.
  if (device_count_ > 0) engine_->publish_gateway_online();
  for (std::string& topic : router_->command_topics()) {
    broker_.subscribe(std::move(topic), [this](std::string_view topic, std::string_view payload) {
      router_->handle(topic, payload);
    });
  }
  for (auto& adapter : adapters_)
    adapter->start(*sink_);
  timer_ = std::thread([this] { tick_heartbeats(); });
  if (device_count_ > 0) log::info("gateway", "polling ", device_count_, " device(s)");
}

void Devices::stop() {
  if (!timer_.joinable()) return;
  {
    std::lock_guard lock(timer_mutex_);
    stopping_ = true;
  }
  timer_wake_.notify_all();
  timer_.join();
  for (auto& adapter : adapters_)
    adapter->stop();
}

size_t Devices::device_count() const {
  return device_count_;
}

std::string Devices::status() const {
  return std::to_string(engine_->devices_online()) + " of " + std::to_string(device_count_) +
         " device" + (device_count_ == 1 ? "" : "s") + " online";
}

void Devices::write(std::string_view device, std::string_view point, const mapping::Value& value,
                    std::function<void(const mapping::WriteOutcome&)> done) {
  auto found = adapter_of_.find(device);
  if (found == adapter_of_.end()) {
    done({false, "device '" + std::string(device) + "' is not served by any adapter"});
    return;
  }
  found->second->write(device, point, value,
                       [done = std::move(done)](const adapters::WriteResult& result) {
                         done({result.ok, result.error});
                       });
}

// heartbeat_s counts in seconds; a quarter second keeps repeats within that of their due time.
void Devices::tick_heartbeats() {
  std::unique_lock lock(timer_mutex_);
  while (
      !timer_wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; })) {
    lock.unlock();
    engine_->tick(mapping::Engine::Clock::now());
    lock.lock();
  }
}

}  // namespace fieldgate::gateway
