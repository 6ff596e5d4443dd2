// The broker's insides, shared by its implementation files: one file per concern, as in
// Mosquitto (connect, publish and delivery, subscribe, $SYS, the loop).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/auth/acl.h"
#include "broker/auth/passwords.h"
#include "broker/broker.h"
#include "broker/codec/codec.h"
#include "broker/net/socket.h"
#include "broker/net/transport.h"
#include "broker/retained.h"
#include "broker/session.h"
#include "broker/store/store.h"
#include "broker/topic_tree.h"

namespace fieldgate::broker {

using Clock = std::chrono::steady_clock;

// Topic aliases an MQTT 5 client may use towards the broker (CONNACK Topic Alias Maximum).
inline constexpr uint16_t kTopicAliasMaximum = 10;

// $SYS belongs to the broker: clients can neither publish there nor leave wills there.
inline bool is_sys_topic(std::string_view topic) {
  return topic.starts_with("$SYS/") || topic == "$SYS";
}

class Connection {
 public:
  enum class State : uint8_t { AwaitConnect, Connected, Closed };

  net::Fd fd;
  uint64_t id = 0;
  State state = State::AwaitConnect;
  mqtt::Version version = mqtt::Version::v311;
  uint16_t keep_alive_s = 0;
  Clock::time_point last_received;
  Clock::time_point timer_due;  // of this connection's one live entry in Core::timers_
  Session* session = nullptr;
  std::unique_ptr<WillMessage> will;  // (a pointer: most connections have none)

  // MQTT 5 (the defaults hold for MQTT 3): what the client told us in CONNECT.
  uint32_t max_packet_size = 0;      // the largest packet it accepts; 0: no limit
  uint16_t topic_alias_maximum = 0;  // how many topic aliases we may use towards it
  bool session_expiry_zero = true;   // its CONNECT asked for session expiry 0
  // Topic aliases in both directions; null until the connection uses one.
  struct Aliases {
    std::vector<std::string> inbound;  // alias - 1 -> topic (from the client)
    std::unordered_map<std::string, uint16_t, StringHash, std::equal_to<>> outbound;  // to it
  };
  std::unique_ptr<Aliases> aliases;
  // TLS and WebSocket state; null on plain MQTT listeners (transport.cpp).
  std::unique_ptr<net::Transport> transport;

  std::string input;   // the start of a packet not yet complete
  std::string output;  // encoded packets, written up to output_sent
  size_t output_sent = 0;
  // Replies that confirm work the store has not committed yet, and those queued behind them:
  // (batch, end offset in `bytes`) marks the end of the replies waiting for that batch. Null
  // while nothing waits, which is most of the time for most connections.
  struct Deferred {
    std::string bytes;
    std::vector<std::pair<uint64_t, size_t>> marks;
  };
  std::unique_ptr<Deferred> deferred;
  bool flush_pending = false;   // listed in Core::to_flush_
  bool writable_armed = false;  // EPOLLOUT requested after a short write
  bool close_after_flush = false;

  size_t pending_output() const { return output.size() - output_sent; }
  const std::string& client_id() const;
  // The peer's "HOST:PORT", for log lines (looked up when needed: most are never logged).
  std::string address() const { return fd ? net::peer_address(fd.get()) : "(closed)"; }
};

struct Stats {
  uint64_t packets_received = 0;
  uint64_t packets_sent = 0;
  uint64_t publish_received = 0;
  uint64_t publish_sent = 0;
  uint64_t publish_dropped = 0;  // QoS 0 over a slow client's bound, or a session queue full
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t connections_total = 0;  // sockets accepted
  uint64_t connects_accepted = 0;  // CONNECTs answered with CONNACK 0
  size_t clients_maximum = 0;
  uint64_t store_batches = 0;
  uint64_t store_failures = 0;
};

class Core {
 public:
  explicit Core(Options options);

  std::vector<uint16_t> bound_ports() const;
  void run();
  void request_stop();
  void request_auth_reload();

  // --- the in-process client (inprocess.cpp) ---
  struct InboxItem {
    std::string topic;  // or the filter of a subscription
    std::string payload;
    uint8_t qos = 0;
    bool retain = false;
    Broker::MessageHandler handler;                       // set: a subscription
    Broker::PropertiesHandler properties_handler;         // set: a subscription wanting properties
    std::shared_ptr<const PublishProperties> properties;  // of a publish
    uint32_t origin = 0;                                  // of a publish: Broker::Delivery::origin
    Broker::DeliveryHandler delivery_handler;             // set: a subscription to whole deliveries
    std::function<void()> task;                           // set: work to run on the loop thread
  };
  void post(InboxItem item);
  void drain_inbox();
  void deliver_internal(std::string_view topic, std::string_view payload, uint8_t qos, bool retain,
                        const PublishProperties* properties);
  // --- the bridges' out-queues (outbox.cpp) ---
  uint64_t outbox_put(const std::string& outbox, const Broker::OutboxRow& row);
  void outbox_remove(const std::string& outbox, const std::vector<uint64_t>& seqs);
  void outbox_committed();  // after durable_through_ moved
  void reload_auth();

  struct Listener {
    net::Fd fd;
    uint16_t port = 0;
    // TLS and WebSocket listeners (transport.cpp); a plain MQTT listener has neither.
    std::unique_ptr<net::TlsContext> tls;
    bool websocket = false;
    bool use_identity_as_username = false;
  };

  // --- the loop (core.cpp) ---
  void accept_all(Listener& listener);
  void on_readable(Connection& c);
  // Hands bytes read to the MQTT parser; false when the connection was closed meanwhile.
  bool feed_mqtt(Connection& c, std::string_view data);
  void on_writable(Connection& c);
  bool handle_packet(Connection& c, const mqtt::Frame& frame);  // false: connection closed
  void queue_flush(Connection& c);
  void flush(Connection& c);
  void close(Connection& c, std::string_view reason, bool publish_will);
  // Closes c for `why`: an MQTT 5 client first gets a DISCONNECT with `reason_code` (and `why` as
  // its reason string); an MQTT 3 one is just closed. The will is published.
  void disconnect(Connection& c, uint8_t reason_code, std::string_view why);
  // The same for a packet the codec rejected with `error`.
  void reject(Connection& c, mqtt::PacketType type, mqtt::Error error);
  bool handle_disconnect(Connection& c, const mqtt::Frame& frame);
  bool handle_auth(Connection& c, const mqtt::Frame& frame);
  void check_timers();
  int next_timer_ms() const;
  void schedule_timer(Connection& c, Clock::time_point due);
  // Call after appending one packet to c.output.
  void sent_packet(Connection& c) {
    ++stats_.packets_sent;
    queue_flush(c);
  }

  // --- TLS and WebSocket connections (transport.cpp) ---
  void open_listener_transport(Listener& listener, const ListenerOptions& options);
  void attach_transport(Connection& c, const Listener& listener);
  void on_transport_readable(Connection& c);
  bool feed_transport(Connection& c, std::string_view data);  // false: connection closed
  bool flush_transport(Connection& c);                        // false: connection closed
  bool write_transport(Connection& c);                        // false: connection closed
  void write_and_close(Connection& c, std::string_view reason, bool publish_will);
  void close_transport(Connection& c);

  // --- CONNECT, DISCONNECT, PINGREQ (handle_connect.cpp) ---
  bool handle_connect(Connection& c, const mqtt::Frame& frame);
  bool authenticate(const mqtt::Connect& connect) const;
  void apply_acl(Session& s);
  // return_code: the MQTT 3 CONNACK code; reason_code: the MQTT 5 one.
  void refuse_connect(Connection& c, uint8_t return_code, std::string_view why,
                      uint8_t reason_code = mqtt::reason::kUnspecifiedError);
  Session& attach_session(Connection& c, std::string client_id, bool clean_start,
                          bool ends_with_connection, bool& present);
  void end_session(Session& s);
  void publish_will(WillMessage& will);
  void resume_delivery(Session& s);

  // --- PUBLISH in and out, acknowledgements, routing (handle_publish.cpp) ---
  bool handle_publish(Connection& c, const mqtt::Frame& frame);
  bool handle_ack(Connection& c, const mqtt::Frame& frame);
  // A message to route: a PUBLISH, a will or an in-process publish.
  struct Publication {
    std::string_view topic;
    std::string_view payload;
    uint8_t qos = 0;
    bool retain = false;
    std::shared_ptr<const PublishProperties> properties;  // MQTT 5; null: none
    int64_t expires_at_ms = 0;                            // Unix ms; 0: never
    const Session* from = nullptr;  // the publisher's session (for no local); null: none
  };
  // Returns the number of subscriptions that matched (after the ACL's read check).
  size_t route(const Publication& p);
  void route(std::string_view topic, std::string_view payload, uint8_t qos, bool retain) {
    route(Publication{.topic = topic, .payload = payload, .qos = qos, .retain = retain});
  }
  void deliver(Session& s, Outgoing outgoing);
  // Fills the reused outgoing PUBLISH (with MQTT 5 properties it is large) for c; false when it
  // would exceed the client's maximum packet size, so must not be sent [MQTT-3.1.2-24].
  bool prepare_publish(const Connection& c, std::string_view topic, std::string_view payload,
                       uint8_t qos, bool retain, const PublishProperties* properties,
                       int64_t expires_at_ms, const std::vector<uint32_t>* subscription_ids);
  // Appends the prepared PUBLISH (topic alias applied) and resets it.
  void write_publish(Connection& c, std::string& out, bool dup, uint16_t packet_id);
  // The fast path of the two above, for a plain PUBLISH: no properties, no client limits to
  // check. That is all MQTT 3 traffic, and MQTT 5 traffic without properties to clients that
  // set no maximum packet size and no topic alias maximum.
  static bool plain_publish(const Connection& c, const PublishProperties* properties,
                            int64_t expires_at_ms, const std::vector<uint32_t>* subscription_ids) {
    return c.version != mqtt::Version::v5 ||
           (!properties && expires_at_ms == 0 && !subscription_ids && c.max_packet_size == 0 &&
            c.topic_alias_maximum == 0);
  }
  void encode_publish(std::string& out, mqtt::Version version, std::string_view topic,
                      std::string_view payload, uint8_t qos, bool retain, bool dup,
                      uint16_t packet_id) {
    mqtt::encode_publish_bare(out, topic, payload, qos, retain, dup, packet_id, version);
  }
  void deliver_qos0(Connection& c, std::string_view topic, std::string_view payload, bool retain,
                    const PublishProperties* properties = nullptr, int64_t expires_at_ms = 0,
                    const std::vector<uint32_t>* subscription_ids = nullptr);
  void send_inflight(Session& s, Outgoing outgoing);
  void pump_queue(Session& s);
  size_t inflight_window(const Session& s) const {
    return std::min<size_t>(options_.max_inflight_messages, s.receive_maximum);
  }
  // A member of a shared subscription leaves: its messages not yet acknowledged go to another.
  void hand_over_shared(Session& s);

  // --- SUBSCRIBE, UNSUBSCRIBE (handle_subscribe.cpp) ---
  bool handle_subscribe(Connection& c, const mqtt::Frame& frame);
  bool handle_unsubscribe(Connection& c, const mqtt::Frame& frame);

  // --- $SYS (sys_topics.cpp) ---
  void publish_sys();
  void update_load(std::vector<std::pair<std::string, std::string>>& out, double elapsed_s);

  // --- durable state (persist.cpp); every store_* call is a no-op for non-durable state ---
  void open_store();
  void load_store();
  // Appends one reply to c, written by encode(std::string&). A reply confirming work that the
  // open batch holds (durable) waits until that batch commits, and so do the replies after it.
  template <typename Encode>
  void reply(Connection& c, bool durable, Encode&& encode) {
    if (!writer_ || (!durable && !c.deferred)) {
      encode(c.output);
      sent_packet(c);
      return;
    }
    if (!c.deferred) {
      c.deferred = std::make_unique<Connection::Deferred>();
      deferred_connections_.push_back(c.id);
    }
    encode(c.deferred->bytes);
    c.deferred->marks.emplace_back(open_number_, c.deferred->bytes.size());
    ++stats_.packets_sent;
  }
  size_t store_mark() const { return open_batch_.ops.size(); }
  bool store_wrote_since(size_t mark) const { return open_batch_.ops.size() != mark; }
  void store_session(Session& s);
  void store_session_gone(Session& s);
  void store_subscription(Session& s, std::string_view filter, const SubscriptionOptions& options,
                          bool add);
  void store_inbound(Session& s, uint16_t packet_id, bool add);
  void store_delivery(Session& s, Outgoing& o, uint16_t packet_id, store::DeliveryState state);
  void store_delivery_done(Session& s, Outgoing& o);
  void store_retained(const std::string& topic, const MessagePtr& now, const MessagePtr& before);
  void ref_message(const MessagePtr& m);
  void unref_message(const Message& m);
  store::Op& put_op(PendingWrite& w, store::Op op);
  void delete_op(PendingWrite& w, store::Op op);
  void commit_turn();
  void on_store_completion();
  void release_deferred();
  void drain_store();
  void purge_expired_sessions();
  static int64_t now_ms();

 private:
  friend class Broker;

  // Connect and keep-alive deadlines. A connection has one live entry, the one whose time is its
  // timer_due; older entries of it are skipped when they come up.
  struct TimerEntry {
    Clock::time_point due;
    uint64_t connection_id;
    bool operator>(const TimerEntry& o) const { return due > o.due; }
  };

  Options options_;
  net::Poller poller_;
  net::Fd wakeup_;  // eventfd: request_stop() and, later, the in-process client's inbox
  std::vector<Listener> listeners_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> auth_reload_requested_{false};
  std::string read_buffer_;
  std::string ws_payload_;  // MQTT bytes de-framed from one WebSocket read (reused)

  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> closed_;  // freed after the current loop turn
  std::vector<Connection*> to_flush_;
  uint64_t next_connection_id_ = 1;
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;

  std::unordered_map<std::string, std::unique_ptr<Session>> sessions_;
  TopicTree subscriptions_;
  RetainedStore retained_;
  uint64_t route_stamp_ = 0;
  std::vector<Session*> route_matches_;
  struct SharedMatch {
    Session* session;
    const TopicTree::Subscriber* member;
    const TopicTree::SharedGroup* group;
  };
  std::vector<SharedMatch> route_shared_;

  // The in-process client: its inbox (filled by any thread) and its session, which lives
  // outside sessions_ so that no network client can take it over.
  std::mutex inbox_mutex_;
  std::vector<InboxItem> inbox_;
  Session internal_session_{"fieldgate", /*clean=*/true, /*durable=*/false};
  std::vector<std::pair<std::string, Broker::PropertiesHandler>> internal_handlers_;
  std::vector<std::pair<std::string, Broker::DeliveryHandler>> internal_delivery_handlers_;
  uint32_t routing_origin_ = 0;  // origin of the in-process publish being routed
  // The bridges' stored out-queue rows, by bridge name, until each bridge takes its own.
  std::unordered_map<std::string, std::vector<Broker::OutboxRow>> outbox_loaded_;
  std::vector<std::function<void()>> stop_hooks_;
  uint64_t outbox_waits_for_ = 0;  // the latest batch holding outbox rows, until it commits
  std::vector<std::function<void(uint64_t)>> outbox_listeners_;

  // Who may connect and what they may touch: null when not configured.
  std::unique_ptr<auth::PasswordFile> passwords_;
  std::unique_ptr<auth::Acl> acl_;

  // Durable state: null when persistence is off.
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<store::Writer> writer_;
  store::Batch open_batch_;       // the changes of the loop turns since the last hand-over
  uint64_t open_number_ = 1;      // the number open_batch_ will carry
  uint64_t durable_through_ = 0;  // every batch up to this one is committed
  uint64_t next_message_id_ = 1;
  std::optional<store::Batch> failed_batch_;  // to apply again once the disk takes it
  std::string store_error_;                   // empty while the store works
  Clock::time_point store_retry_at_;
  Clock::time_point next_maintenance_;
  std::vector<uint64_t> deferred_connections_;  // ids of connections with deferred replies

  // Packet structs reused on the hot path (decode and encode), to spare their construction.
  mqtt::Publish incoming_publish_;
  mqtt::Ack incoming_ack_;
  mqtt::Publish outgoing_publish_;
  bool outgoing_has_properties_ = false;

  Stats stats_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point next_sys_;
  Clock::time_point next_expiry_check_;
  Clock::time_point next_heartbeat_;
  std::unordered_map<std::string, std::string> sys_published_;  // topic -> last payload
  struct LoadAverage {
    uint64_t last_total = 0;
    double average[3] = {0, 0, 0};  // 1, 5 and 15 minutes
  };
  std::unordered_map<std::string, LoadAverage> load_;
  Clock::time_point last_sys_;
};

}  // namespace fieldgate::broker
