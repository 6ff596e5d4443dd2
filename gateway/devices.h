// Everything `fieldgate run` starts beside the broker: the adapters of the config's devices,
// the mapping engine between them and the broker's in-process client, and the command path
// back (SPEC.md, "Topics and payloads").
//
//   adapter threads --readings--> mapping::Engine --Outbox--> broker (in-process client)
//   broker --"<topic>/set"--> mapping::CommandRouter --> Adapter::write --> ".../set/result"
//
// reload() swaps all of it for a new config's while the broker keeps serving its clients.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
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
  Devices(config::Config config, broker::Broker& broker);
  ~Devices();
  Devices(const Devices&) = delete;
  Devices& operator=(const Devices&) = delete;

  // Publishes {gateway}/availability "online" (when there are devices), subscribes to the
  // command topics and starts the adapters and the heartbeat timer. The broker may start
  // running before or after.
  void start();
  // Replaces the devices, points and mapping with those of `config` (already validated): the
  // old adapters stop, the new ones start, and the retained values of points that are gone are
  // cleared. Not from the broker's thread (it waits for adapter threads).
  void reload(config::Config config);
  // Stops the adapters (joining their threads) and the timer.
  void stop();

  // "2 of 3 devices online", for systemd's status line. Any thread.
  std::string status() const;

 private:
  class BrokerOutbox;
  struct Plane;

  std::shared_ptr<Plane> make_plane(config::Config config);
  std::shared_ptr<Plane> plane() const;
  void start_plane(Plane& plane);
  void tick_heartbeats();

  broker::Broker& broker_;
  std::unique_ptr<BrokerOutbox> outbox_;

  mutable std::mutex plane_mutex_;  // guards plane_ (the pointer; a Plane is thread-safe)
  std::shared_ptr<Plane> plane_;

  std::mutex reload_mutex_;           // one start/reload/stop at a time
  std::set<std::string> subscribed_;  // filters of command topics the broker passes to us

  std::thread timer_;
  std::mutex timer_mutex_;
  std::condition_variable timer_wake_;
  bool stopping_ = false;
};

}  // namespace fieldgate::gateway
