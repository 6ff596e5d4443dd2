// Everything `fieldgate run` starts beside the broker: the adapters of the config's devices,
// the mapping engine between them and the broker's in-process client, and the command path
// back (SPEC.md, "Topics and payloads").
//
//   adapter threads --readings--> mapping::Engine --Outbox--> broker (in-process client)
//   broker --"<topic>/set"--> mapping::CommandRouter --> Adapter::write --> ".../set/result"
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/adapter.h"
#include "broker/broker.h"
#include "config/config.h"
#include "mapping/command.h"
#include "mapping/engine.h"

namespace fieldgate::gateway {

class Devices {
 public:
  // Builds the adapters for `config`; nothing runs until start(). `broker` must outlive this.
  Devices(const config::Config& config, broker::Broker& broker);
  ~Devices();
  Devices(const Devices&) = delete;
  Devices& operator=(const Devices&) = delete;

  // Publishes {gateway}/availability "online" (when there are devices), subscribes to the
  // command topics and starts the adapters and the heartbeat timer. The broker may start running
  // before or after.
  void start();
  // Stops the adapters (joining their threads) and the timer.
  void stop();

  size_t device_count() const;

 private:
  class BrokerOutbox;
  class EngineSink;

  void write(std::string_view device, std::string_view point, const mapping::Value& value,
             std::function<void(const mapping::WriteOutcome&)> done);
  void tick_heartbeats();

  broker::Broker& broker_;
  std::unique_ptr<BrokerOutbox> outbox_;
  std::unique_ptr<mapping::Engine> engine_;
  std::unique_ptr<EngineSink> sink_;
  std::unique_ptr<mapping::CommandRouter> router_;
  std::vector<std::unique_ptr<adapters::Adapter>> adapters_;
  // device name -> its adapter
  std::map<std::string, adapters::Adapter*, std::less<>> adapter_of_;
  size_t device_count_ = 0;

  std::thread timer_;
  std::mutex timer_mutex_;
  std::condition_variable timer_wake_;
  bool stopping_ = false;
};

}  // namespace fieldgate::gateway
