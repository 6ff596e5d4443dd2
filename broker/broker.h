// The MQTT broker: MQTT 3.1, 3.1.1 and 5.0 over TCP, TLS and WebSocket (plain or over TLS), with
// durable state in SQLite (or in memory).
//
// One thread runs the broker (run()); it owns all broker state, so nothing on the hot path
// takes a lock. Other threads talk to it only through its inbox: request_stop(),
// request_auth_reload() and the in-process client's publish() and subscribe() (and the
// bridges' outbox_remove()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fieldgate::broker {

struct ListenerOptions {
  std::string host;  // "0.0.0.0", "::", "127.0.0.1", "[::1]", a host name
  uint16_t port = 1883;
  bool websockets = false;  // MQTT over WebSocket (RFC 6455, subprotocol "mqtt", any path)
  // TLS (1.2 and 1.3) when tls_cert is set: PEM files, checked at start.
  std::string tls_cert;                   // server certificate (optionally followed by its chain)
  std::string tls_key;                    // its private key, unencrypted
  std::string tls_ca;                     // CA(s) for client certificates; empty: none asked for
  bool require_client_cert = false;       // a client without a valid certificate is refused
  bool use_identity_as_username = false;  // the certificate's CN is the MQTT user name
};

struct Options {
  std::vector<ListenerOptions> listeners;
  bool allow_anonymous = false;
  uint32_t max_connections = 10000;
  uint32_t max_inflight_messages = 20;    // per session, QoS 1 and 2 together
  uint32_t max_queued_messages = 100000;  // per session, beyond the in-flight window
  uint32_t max_packet_size = 1048576;     // bytes, whole packet; larger ones close the connection
  uint32_t max_keepalive_s = 65535;
  uint32_t sys_interval_s = 10;       // 0: no $SYS topics
  std::string version = "fieldgate";  // $SYS/broker/version

  // Who may connect and what they may touch (Mosquitto's file formats); empty: none.
  std::string password_file;
  std::string acl_file;

  // Persistence: persistent sessions and retained messages in state_dir/fieldgate.db.
  bool persistence = false;
  std::string state_dir;
  bool durability_power = false;  // fsync every commit (survives power loss), not only kill -9
  uint32_t persistent_session_expiry_s = 0;  // purge sessions gone this long; 0: never
  uint32_t store_max_pages = 0;  // caps the database (SQLite pages), to test a full disk

  // Called from the loop thread every heartbeat_interval while the loop turns (for systemd's
  // watchdog: a hung loop stops calling it, and its status line), with the number of clients
  // connected. Not called when the interval is zero.
  std::chrono::milliseconds heartbeat_interval{0};
  std::function<void(size_t connected_clients)> heartbeat;
};

// The MQTT 5 properties a message carries from its publisher to its subscribers (MQTT 5
// subscribers receive them; MQTT 3.1.1 ones the topic and payload only).
struct PublishProperties {
  std::optional<uint8_t> payload_format_indicator;  // 1: the payload is UTF-8 text
  std::optional<uint32_t> message_expiry_interval;  // seconds; set on publish only
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;    // where a request's answer goes
  std::optional<std::string> correlation_data;  // binary; returned with the answer
  std::vector<std::pair<std::string, std::string>> user_properties;
  bool operator==(const PublishProperties&) const = default;
};

class Core;

class Broker {
 public:
  // Opens the state database and loads it (persistence on), then binds every listener. Throws
  // std::runtime_error naming the file or address when either fails, net::TlsConfigError (a
  // std::runtime_error; broker/net/tls.h) when a listener's certificate or key cannot be used,
  // auth::AuthFileError for a bad password or ACL file.
  explicit Broker(Options options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // The ports actually bound, in the order of Options::listeners (port 0 picks a free one).
  std::vector<uint16_t> bound_ports() const;

  // Serves clients until request_stop(); then closes every connection and returns.
  void run();

  // Makes run() return soon. Safe from any thread and from a signal handler.
  void request_stop();

  // --- The in-process client "fieldgate", for adapters and the mapping. ---
  // Its publishes are routed like any client's (retained, persisted, delivered at QoS) and the
  // ACL does not restrict it. Both calls are safe from any thread and return at once; the
  // broker's thread carries them out in the order they were made.
  // `origin` marks where the message came from (0: nowhere in particular); in-process
  // subscribers see it in Delivery::origin. A bridge marks what it brings in, so that it does not
  // send it back out (loop prevention).
  void publish(std::string topic, std::string payload, uint8_t qos, bool retain,
               uint32_t origin = 0);
  // The same with MQTT 5 properties (e.g. the correlation data of an answer to a request).
  void publish(std::string topic, std::string payload, uint8_t qos, bool retain,
               PublishProperties properties);
  // Messages published from now on to topics matching `filter` (a valid filter) are passed to
  // `handler`, on the broker's thread: it must not block (hand the work to another thread).
  // Retained messages are not replayed to it.
  using MessageHandler = std::function<void(std::string_view topic, std::string_view payload)>;
  void subscribe(std::string filter, MessageHandler handler);
  // The same, also passing the message's MQTT 5 properties (null when it has none), e.g. the
  // response topic and correlation data of a request.
  using PropertiesHandler = std::function<void(std::string_view topic, std::string_view payload,
                                               const PublishProperties* properties)>;
  void subscribe(std::string filter, PropertiesHandler handler);

  // The same with the whole message: its QoS and RETAIN flag as published, and its origin (what
  // publish() was given; 0 for network clients, wills and $SYS).
  struct Delivery {
    std::string_view topic;
    std::string_view payload;
    uint8_t qos = 0;
    bool retain = false;
    uint32_t origin = 0;
  };
  using DeliveryHandler = std::function<void(const Delivery&)>;
  void subscribe_deliveries(std::string filter, DeliveryHandler handler);

  // --- Durable out-queues for the bridges (broker/bridge/), in the broker's state database. ---
  // A row is written in the same transaction as the publish that routed it, so a QoS 1 or 2
  // publisher's acknowledgement waits until the row is on disk. With persistence off every
  // call below does nothing (and outbox_load returns nothing).
  struct OutboxRow {
    uint64_t seq = 0;
    std::string topic;
    std::string payload;
    uint8_t qos = 0;
    bool retain = false;
  };
  // Only on the broker's thread, from a DeliveryHandler. Returns the number of the store batch
  // the row joins (0 with persistence off): the row is on disk once outbox_durable() reaches it.
  uint64_t outbox_put(const std::string& outbox, const OutboxRow& row);
  // Calls `listener` on the broker's thread with the number of the last committed batch each
  // time a batch holding outbox rows has committed. Add listeners before run().
  void outbox_on_durable(std::function<void(uint64_t batch)> listener);
  // Safe from any thread; carried out on the broker's thread in the order of the calls.
  void outbox_remove(std::string outbox, std::vector<uint64_t> seqs);
  // The rows stored for `outbox` when the broker started, in seq order. Call before run().
  std::vector<OutboxRow> outbox_load(const std::string& outbox);
  bool persistent() const;

  // Calls `hook` on the broker's thread once run() has stopped serving clients and before it
  // writes the store for the last time; what the hook (or another thread meanwhile) posts to
  // the broker is still carried out and written. Hooks run in the order they were added; add
  // them before run().
  void at_stop(std::function<void()> hook);

  // Makes the broker re-read its password and ACL files soon, keeping every connection; a file
  // with errors is refused (logged) and the rules in force stay. Safe from any thread.
  void request_auth_reload();

 private:
  std::unique_ptr<Core> core_;
};

}  // namespace fieldgate::broker
