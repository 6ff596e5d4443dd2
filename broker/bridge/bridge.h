// The bridge to a cloud broker (SPEC.md, "Bridge"): one upstream MQTT 3.1.1 connection per
// [[bridge]] over Paho C (MQTTAsync), with store-and-forward.
//
// What it promises:
// - Out routes: every local message matching an out route's filter (except those this bridge
//   brought in itself) is queued, in routing order, and sent upstream at min(its QoS, the
//   route's QoS). A queued message stays until the cloud acknowledged it (PUBACK; PUBCOMP at
//   QoS 2); QoS 0 messages are done once handed to the connection. With persistence on, every
//   QoS 1/2 message, and QoS 0 messages routed while the link is down, are also rows in the
//   broker's state database (Broker::outbox_*), written before the local publisher's
//   acknowledgement: after a restart or kill -9 they are sent again, in order.
// - Bounds: past queue_max_messages or queue_max_bytes the oldest messages are dropped, counted
//   ($SYS/broker/bridge/<name>/dropped) and logged.
// - In routes: the bridge subscribes upstream and publishes what arrives into the local broker
//   in-process, marked with its origin so that its own out routes do not send it back.
// - The link: connects on its own thread and reconnects forever with capped exponential
//   back-off and jitter; a failure (DNS, TCP, TLS, CONNACK refusal) is logged once per episode
//   with its reason. The will sets availability_topic to "offline" (retained); on connect it
//   publishes "online" (retained); a clean stop publishes "offline" before disconnecting.
// - Status: $SYS/broker/bridge/<name>/state ("connected" / "disconnected"), .../queued and
//   .../dropped, retained, and the same in the log.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "broker/bridge/backoff.h"
#include "broker/bridge/queue.h"
#include "broker/bridge/routes.h"
#include "broker/broker.h"

namespace fieldgate::bridge {

struct Options {
  std::string name;  // [[bridge]] name: names its queue rows, $SYS topics and log lines
  std::string host;  // without IPv6 brackets
  uint16_t port = 1883;
  bool tls = false;
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;  // password_env already resolved
  std::string tls_ca;                   // PEM files; tls_ca empty: the system's CAs
  std::string tls_cert;                 // client certificate (with tls_key); empty: none
  std::string tls_key;
  uint16_t keepalive_s = 60;
  bool clean_session = false;
  uint64_t queue_max_messages = 1000000;
  uint64_t queue_max_bytes = 268435456;
  std::string availability_topic;  // remote topic of "online" / "offline"
  std::vector<Route> routes;
  bool sys_status = true;  // publish $SYS/broker/bridge/<name>/... (off with sys_interval_s = 0)
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_cap{30000};
};

// "mqtt://host:port" or "mqtts://host:port", for log lines.
std::string url_of(const Options& options);

class Bridge {
 public:
  // Subscribes in-process to the out routes' filters and takes the queue rows the previous
  // run left; call before broker.run(). `origin` (nonzero, unique per bridge) marks the
  // messages it brings in. Throws std::runtime_error when Paho refuses the client.
  Bridge(broker::Broker& broker, Options options, uint32_t origin);
  ~Bridge();  // stop()
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Starts connecting, on the bridge's own thread.
  void start();
  // Waits up to 2 s for the messages in flight to be acknowledged, publishes "offline",
  // disconnects and joins the thread. What is still queued stays in the store for the next run.
  void stop();

 private:
  struct Callbacks;  // Paho's C callbacks (bridge.cpp)
  using Clock = std::chrono::steady_clock;
  enum class Link : uint8_t { Down, Connecting, Up };

  void on_local(const Route& route, const broker::Broker::Delivery& d);
  void run();
  void handle_events(std::unique_lock<std::mutex>& lock);
  void connect(std::unique_lock<std::mutex>& lock);
  void on_connected(std::unique_lock<std::mutex>& lock);
  void send_some(std::unique_lock<std::mutex>& lock);
  void flush_removed(std::unique_lock<std::mutex>& lock);
  void publish_status(std::unique_lock<std::mutex>& lock, bool force);
  void log_drops(Clock::time_point now);
  void check_stalled(std::unique_lock<std::mutex>& lock, Clock::time_point now);
  void shutdown(std::unique_lock<std::mutex>& lock);
  bool has_work() const;
  bool may_send() const;

  broker::Broker& broker_;
  const Options options_;
  const uint32_t origin_;
  const std::string url_;
  const std::string sys_prefix_;  // "$SYS/broker/bridge/<name>/"
  void* client_ = nullptr;        // MQTTAsync
  std::thread thread_;

  std::mutex mutex_;  // guards everything below; never held while calling into Paho
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  OutQueue queue_;
  uint64_t next_seq_ = 1;
  uint64_t durable_batch_ = 0;     // the broker's last committed store batch with queue rows
  std::vector<uint64_t> removed_;  // stored rows to delete
  Link link_ = Link::Down;
  Backoff backoff_;
  Clock::time_point next_attempt_;
  Clock::time_point send_paused_until_;  // after Paho refused a message
  // Events from Paho's threads, handled on the bridge's thread.
  std::optional<bool> connected_;  // CONNACK accepted: session present?
  std::optional<std::string> failed_;
  std::optional<std::string> lost_;
  std::string tls_error_;  // OpenSSL's last words during a handshake
  // Acknowledgements that overtook the recording of their token (only while sending).
  bool sending_ = false;
  std::vector<int> early_acks_;
  // Failure episodes: logged once, again only when the reason changes.
  std::string episode_reason_;
  uint32_t episode_attempts_ = 0;
  // Status as last published.
  std::string published_state_;
  uint64_t published_queued_ = UINT64_MAX;
  uint64_t published_dropped_ = UINT64_MAX;
  Clock::time_point next_status_;
  uint64_t dropped_logged_ = 0;
  Clock::time_point next_drop_log_;
  // The last acknowledgement (or hand-over with nothing in flight), to notice a stalled window.
  Clock::time_point last_progress_;
  // The backlog a connection started with, to log when it has drained.
  uint64_t backlog_ = 0;
  Clock::time_point backlog_since_;
};

// Every [[bridge]] of a config: started together, and stopped by the broker as it stops (before
// its last write of the store, so that the last acknowledgements are kept).
class Bridges {
 public:
  Bridges(broker::Broker& broker, std::vector<Options> options);
  void start();
  void stop();

 private:
  std::vector<std::unique_ptr<Bridge>> bridges_;
};

}  // namespace fieldgate::bridge
