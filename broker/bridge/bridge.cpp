// The bridge: see bridge.h for what it promises.
//
// Threads: the broker's thread calls on_local() for every local message an out route matches
// (it queues and, when it must, writes the row in the broker's open batch); Paho's threads call
// the callbacks below (they record events and acknowledgements); the bridge's own thread does
// everything else: connects, hands queued messages to Paho within the in-flight window, deletes
// acknowledged rows, publishes the status. mutex_ guards the shared state and is never held
// while calling into Paho, whose callbacks take it.
#include "broker/bridge/bridge.h"

#include <MQTTAsync.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "common/log.h"

namespace fieldgate::bridge {
namespace {

constexpr const char* kLog = "bridge";
// Messages handed to Paho and not yet acknowledged (Paho's own limit is set a little above
// it). Measured with bench/bridge: 20 leaves the link idle between round trips; 300 and 1000
// drain no faster (Paho looks acknowledgements up in lists) and would put more QoS 2 messages
// at risk of a second delivery after a kill -9 (see README.md).
constexpr size_t kWindow = 100;
constexpr size_t kSendBatch = 256;  // handed to Paho per turn of the bridge's thread
constexpr auto kStatusInterval = std::chrono::seconds(1);
constexpr auto kDropLogInterval = std::chrono::seconds(10);
constexpr auto kStopGrace = std::chrono::seconds(2);
constexpr int kConnectTimeoutS = 10;
// When Paho refuses a message for now, the next try waits this long.
constexpr auto kSendRetry = std::chrono::milliseconds(100);
// A window with no acknowledgement for this long is checked against what Paho still holds.
constexpr auto kStallCheck = std::chrono::seconds(10);

std::string connack_text(int code) {
  switch (code) {
    case 1:
      return "unacceptable protocol version (CONNACK 1): the cloud broker does not speak MQTT "
             "3.1.1";
    case 2:
      return "identifier rejected (CONNACK 2): choose another client_id";
    case 3:
      return "server unavailable (CONNACK 3)";
    case 4:
      return "bad user name or password (CONNACK 4): check username and password / "
             "password_env";
    case 5:
      return "not authorized (CONNACK 5): check username, password and the cloud's ACL";
    default:
      return "refused with CONNACK " + std::to_string(code);
  }
}

void paho_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // OpenSSL (1.1 and later) initializes itself; the broker uses it too.
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 0;
    MQTTAsync_global_init(&init);
  });
}

}  // namespace

std::string url_of(const Options& o) {
  bool v6 = o.host.find(':') != std::string::npos;
  return std::string(o.tls ? "mqtts://" : "mqtt://") + (v6 ? "[" + o.host + "]" : o.host) + ":" +
         std::to_string(o.port);
}

// Paho's C callbacks: `context` is the Bridge.
struct Bridge::Callbacks {
  static void connection_lost(void* context, char* cause) {
    auto* b = static_cast<Bridge*>(context);
    std::lock_guard lock(b->mutex_);
    b->lost_ =
        cause != nullptr && *cause != '\0' ? std::string(cause) : std::string("connection closed");
    b->wake_.notify_one();
  }

  static int message_arrived(void* context, char* topic_name, int topic_len,
                             MQTTAsync_message* message) {
    auto* b = static_cast<Bridge*>(context);
    std::string topic = topic_len > 0 ? std::string(topic_name, static_cast<size_t>(topic_len))
                                      : std::string(topic_name);
    std::string payload(static_cast<const char*>(message->payload),
                        static_cast<size_t>(message->payloadlen));
    uint8_t qos = static_cast<uint8_t>(message->qos);
    bool retain = message->retained != 0;
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic_name);
    // Every in route that takes this topic; two routes giving the same local topic deliver once.
    std::vector<std::string> delivered;
    for (const Route& route : b->options_.routes) {
      if (!comes_in(route)) continue;
      std::optional<std::string> local = local_topic(route, topic);
      if (!local || std::find(delivered.begin(), delivered.end(), *local) != delivered.end()) {
        continue;
      }
      log::trace(kLog, b->options_.name, ": in ", topic, " -> ", *local);
      b->broker_.publish(*local, payload, qos, retain, b->origin_);
      delivered.push_back(std::move(*local));
    }
    if (delivered.empty()) {
      log::debug(kLog, b->options_.name, ": message on ", topic, " matches no in route; ignored");
    }
    return 1;  // taken: Paho acknowledges it upstream
  }

  static void delivery_complete(void* context, MQTTAsync_token token) {
    auto* b = static_cast<Bridge*>(context);
    std::lock_guard lock(b->mutex_);
    if (b->queue_.ack(token, b->removed_)) {
      b->last_progress_ = Clock::now();
    } else if (b->sending_) {
      b->early_acks_.push_back(token);
    }
    // Every acknowledgement frees a slot to refill at once. (Refilling only once half the
    // window was free drained a backlog 3-5 times slower in bench/bridge.)
    b->wake_.notify_one();
  }

  static void connect_success(void* context, MQTTAsync_successData* data) {
    auto* b = static_cast<Bridge*>(context);
    std::lock_guard lock(b->mutex_);
    b->connected_ = data != nullptr && data->alt.connect.sessionPresent != 0;
    b->wake_.notify_one();
  }

  static void connect_failure(void* context, MQTTAsync_failureData* data) {
    auto* b = static_cast<Bridge*>(context);
    std::lock_guard lock(b->mutex_);
    int code = data != nullptr ? data->code : MQTTASYNC_FAILURE;
    std::string reason;
    if (code >= 1 && code <= 5) {
      reason = "the cloud broker refused the connection: " + connack_text(code);
    } else if (!b->tls_error_.empty()) {
      reason = "TLS handshake failed: " + b->tls_error_ +
               " (check tls_ca, tls_cert and tls_key, and that the server's certificate names " +
               b->options_.host + ")";
    } else {
      reason = "cannot connect";
      if (data != nullptr && data->message != nullptr) {
        reason += std::string(": ") + data->message;
      } else {
        reason += ": " + std::string(MQTTAsync_strerror(code));
      }
      reason += " (is the cloud broker up and reachable at " + b->url_ + "?)";
    }
    b->failed_ = reason;
    b->wake_.notify_one();
  }

  static int tls_error(const char* text, size_t length, void* context) {
    auto* b = static_cast<Bridge*>(context);
    std::lock_guard lock(b->mutex_);
    std::string line(text, length);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.pop_back();
    if (!line.empty()) b->tls_error_ = line;
    return 0;
  }

  static void subscribe_failure(void* context, MQTTAsync_failureData* data) {
    auto* b = static_cast<Bridge*>(context);
    log::error(kLog, b->options_.name, ": the cloud broker refused the subscriptions of the in ",
               "routes (code ", data != nullptr ? data->code : 0,
               "): commands from the cloud will not arrive; check the cloud's ACL for ",
               b->options_.username.value_or("(no user name)"));
  }
};

Bridge::Bridge(broker::Broker& broker, Options options, uint32_t origin)
    : broker_(broker),
      options_(std::move(options)),
      origin_(origin),
      url_(url_of(options_)),
      sys_prefix_("$SYS/broker/bridge/" + options_.name + "/"),
      queue_(options_.queue_max_messages, options_.queue_max_bytes),
      backoff_(options_.backoff_initial, options_.backoff_cap) {
  paho_init_once();
  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = MQTTVERSION_3_1_1;
  std::string uri =
      std::string(options_.tls ? "ssl://" : "tcp://") +
      (options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host) +
      ":" + std::to_string(options_.port);
  MQTTAsync client = nullptr;
  // No Paho persistence: the queue and its rows in the state database are the record.
  int rc = MQTTAsync_createWithOptions(&client, uri.c_str(), options_.client_id.c_str(),
                                       MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS) {
    throw std::runtime_error("bridge " + options_.name + ": cannot create the MQTT client for " +
                             url_ + ": " + MQTTAsync_strerror(rc) +
                             "; check the url and client_id");
  }
  client_ = client;
  MQTTAsync_setCallbacks(client, this, &Callbacks::connection_lost, &Callbacks::message_arrived,
                         &Callbacks::delivery_complete);

  // What the previous run left queued goes first, in its order.
  std::vector<broker::Broker::OutboxRow> rows = broker_.outbox_load(options_.name);
  std::vector<uint64_t> dropped;
  for (broker::Broker::OutboxRow& row : rows) {
    next_seq_ = std::max(next_seq_, row.seq + 1);
    queue_.push(Entry{.seq = row.seq,
                      .topic = std::move(row.topic),
                      .payload = std::move(row.payload),
                      .qos = row.qos,
                      .retain = row.retain,
                      .stored = true},
                dropped);
  }
  if (!dropped.empty()) {
    // The bounds were lowered since: the oldest go now.
    log::warn(kLog, options_.name, ": ", dropped.size(),
              " stored messages dropped at start: over queue_max_messages ",
              options_.queue_max_messages, " or queue_max_bytes ", options_.queue_max_bytes);
    broker_.outbox_remove(options_.name, std::move(dropped));
  }
  if (!rows.empty()) {
    log::info(kLog, options_.name, ": ", queue_.size(), " messages queued by the last run (",
              queue_.bytes(), " bytes) will be sent to ", url_);
  }
  broker_.outbox_on_durable([this](uint64_t batch) {
    std::lock_guard lock(mutex_);
    durable_batch_ = batch;
    wake_.notify_one();
  });
  for (const Route& route : options_.routes) {
    if (!goes_out(route)) continue;
    broker_.subscribe_deliveries(
        route.local, [this, &route](const broker::Broker::Delivery& d) { on_local(route, d); });
  }
}

Bridge::~Bridge() {
  stop();
  MQTTAsync client = client_;
  if (client != nullptr) MQTTAsync_destroy(&client);
}

void Bridge::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  next_attempt_ = Clock::now();
  thread_ = std::thread([this] { run(); });
}

void Bridge::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

// On the broker's thread: must not block.
void Bridge::on_local(const Route& route, const broker::Broker::Delivery& d) {
  if (d.origin == origin_) return;  // it came in over this bridge: never back out
  std::optional<std::string> remote = remote_topic(route, d.topic);
  if (!remote) return;
  uint8_t qos = std::min(d.qos, route.qos);
  std::unique_lock lock(mutex_);
  Entry e{.seq = next_seq_++,
          .topic = std::move(*remote),
          .payload = std::string(d.payload),
          .qos = qos,
          .retain = d.retain};
  // QoS 0 is kept on disk only while it has to wait for the link.
  e.stored = broker_.persistent() && (qos > 0 || link_ != Link::Up);
  if (e.stored) {
    // It leaves for the cloud once this batch has committed (outbox_on_durable).
    e.batch = broker_.outbox_put(
        options_.name, broker::Broker::OutboxRow{e.seq, e.topic, e.payload, e.qos, e.retain});
  }
  bool wake = link_ == Link::Up && queue_.inflight() < kWindow && e.batch == 0;
  if (queue_.push(std::move(e), removed_) > 0) {
    log_drops(Clock::now());
    wake = true;
  }
  lock.unlock();
  if (wake) wake_.notify_one();
}

void Bridge::log_drops(Clock::time_point now) {
  if (queue_.dropped() == dropped_logged_ || now < next_drop_log_) return;
  log::warn(kLog, options_.name, ": queue full (queue_max_messages ", options_.queue_max_messages,
            ", queue_max_bytes ", options_.queue_max_bytes, "): dropped ",
            queue_.dropped() - dropped_logged_, " of the oldest messages (", queue_.dropped(),
            " dropped since start, ", queue_.size(), " queued); the link to ", url_, " is ",
            link_ == Link::Up ? "up but slower than the messages" : "down");
  dropped_logged_ = queue_.dropped();
  next_drop_log_ = now + kDropLogInterval;
}

bool Bridge::has_work() const {
  return stopping_ || connected_ || failed_ || lost_ || !removed_.empty() || may_send();
}

bool Bridge::may_send() const {
  return link_ == Link::Up && queue_.inflight() < kWindow && queue_.ready(durable_batch_) &&
         Clock::now() >= send_paused_until_;
}

void Bridge::run() {
  pthread_setname_np(pthread_self(), "fg-bridge");
  std::unique_lock lock(mutex_);
  publish_status(lock, /*force=*/true);
  while (!stopping_) {
    handle_events(lock);
    if (stopping_) break;
    Clock::time_point now = Clock::now();
    if (link_ == Link::Down && now >= next_attempt_) connect(lock);
    if (may_send()) send_some(lock);
    if (link_ == Link::Up) check_stalled(lock, now);
    flush_removed(lock);
    publish_status(lock, false);
    log_drops(Clock::now());
    Clock::time_point until = std::min(Clock::now() + kStatusInterval, next_status_);
    if (link_ == Link::Down) until = std::min(until, next_attempt_);
    if (link_ == Link::Up && send_paused_until_ > Clock::now()) {
      until = std::min(until, send_paused_until_);
    }
    wake_.wait_until(lock, until, [&] { return has_work(); });
  }
  shutdown(lock);
}

void Bridge::handle_events(std::unique_lock<std::mutex>& lock) {
  Clock::time_point now = Clock::now();
  if (failed_) {
    std::string reason = std::move(*failed_);
    failed_.reset();
    link_ = Link::Down;
    ++episode_attempts_;
    std::chrono::milliseconds delay = backoff_.next();
    if (reason != episode_reason_) {
      log::warn(kLog, options_.name, ": cannot connect to ", url_, ": ", reason,
                "; retrying (with back-off up to ", options_.backoff_cap.count() / 1000,
                " s) and queuing meanwhile (", queue_.size(), " queued)");
      episode_reason_ = std::move(reason);
    } else {
      log::debug(kLog, options_.name, ": attempt ", episode_attempts_, " failed again: ", reason,
                 "; next in ", delay.count(), " ms");
    }
    next_attempt_ = now + delay;
  }
  if (connected_) {
    on_connected(lock);
  }
  if (lost_) {
    std::string cause = std::move(*lost_);
    lost_.reset();
    bool was_up = link_ == Link::Up;
    link_ = Link::Down;
    if (was_up) {
      log::warn(kLog, options_.name, ": connection to ", url_, " lost: ", cause,
                "; reconnecting and queuing meanwhile (", queue_.size(), " queued)");
      publish_status(lock, true);
    }
    episode_reason_.clear();
    episode_attempts_ = 0;
    next_attempt_ = now + backoff_.next();
  }
}

void Bridge::connect(std::unique_lock<std::mutex>& lock) {
  link_ = Link::Connecting;
  tls_error_.clear();
  lock.unlock();
  // Name resolution first, so that a DNS failure is reported as one (Paho does not say).
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int gai = getaddrinfo(options_.host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) freeaddrinfo(found);
  if (gai != 0) {
    lock.lock();
    failed_ = "cannot resolve host '" + options_.host + "': " + gai_strerror(gai) +
              " (check the url and the DNS)";
    return;
  }

  MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
  opts.keepAliveInterval = options_.keepalive_s;
  opts.cleansession = options_.clean_session ? 1 : 0;
  opts.maxInflight = static_cast<int>(kWindow + 16);
  opts.connectTimeout = kConnectTimeoutS;
  opts.retryInterval = 0;
  opts.MQTTVersion = MQTTVERSION_3_1_1;
  opts.automaticReconnect = 0;  // the bridge's own back-off, with jitter and logging
  opts.context = this;
  opts.onSuccess = &Callbacks::connect_success;
  opts.onFailure = &Callbacks::connect_failure;
  if (options_.username) opts.username = options_.username->c_str();
  if (options_.password) opts.password = options_.password->c_str();
  MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
  will.topicName = options_.availability_topic.c_str();
  will.message = "offline";
  will.retained = 1;
  will.qos = 1;
  opts.will = &will;
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  if (options_.tls) {
    if (!options_.tls_ca.empty()) ssl.trustStore = options_.tls_ca.c_str();
    if (!options_.tls_cert.empty()) ssl.keyStore = options_.tls_cert.c_str();
    if (!options_.tls_key.empty()) ssl.privateKey = options_.tls_key.c_str();
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1;  // the certificate must name the host
    ssl.ssl_error_cb = &Callbacks::tls_error;
    ssl.ssl_error_context = this;
    opts.ssl = &ssl;
  }
  int rc = MQTTAsync_connect(static_cast<MQTTAsync>(client_), &opts);
  lock.lock();
  if (rc != MQTTASYNC_SUCCESS) {
    failed_ = std::string("cannot start connecting: ") + MQTTAsync_strerror(rc);
  }
}

void Bridge::on_connected(std::unique_lock<std::mutex>& lock) {
  bool session_present = *connected_;
  connected_.reset();
  link_ = Link::Up;
  backoff_.reset();
  // A new session upstream knows nothing of what was in flight: it all goes again, in order.
  if (options_.clean_session || !session_present) queue_.reset_handed();
  log::info(kLog, options_.name, ": connected to ", url_, " as ", options_.client_id,
            episode_attempts_ > 0
                ? " after " + std::to_string(episode_attempts_) + " failed attempts"
                : std::string(),
            session_present ? " (session resumed)" : "", "; ", queue_.size(),
            " queued messages to send, ", queue_.dropped(), " dropped since start");
  episode_reason_.clear();
  episode_attempts_ = 0;
  backlog_ = queue_.size();
  backlog_since_ = Clock::now();
  last_progress_ = backlog_since_;
  lock.unlock();

  MQTTAsync client = static_cast<MQTTAsync>(client_);
  // "online" goes before the backlog: Paho sends in the order it is given.
  MQTTAsync_responseOptions none = MQTTAsync_responseOptions_initializer;
  MQTTAsync_send(client, options_.availability_topic.c_str(), 6, "online", 1, 1, &none);
  std::vector<std::string> filters;
  std::vector<int> qos;
  for (const Route& route : options_.routes) {
    if (!comes_in(route)) continue;
    filters.push_back(remote_filter(route));
    qos.push_back(route.qos);
  }
  if (!filters.empty()) {
    std::vector<char*> names;
    for (std::string& f : filters)
      names.push_back(f.data());
    MQTTAsync_responseOptions sub = MQTTAsync_responseOptions_initializer;
    sub.onFailure = &Callbacks::subscribe_failure;
    sub.context = this;
    int rc = MQTTAsync_subscribeMany(client, static_cast<int>(names.size()), names.data(),
                                     qos.data(), &sub);
    if (rc != MQTTASYNC_SUCCESS) {
      log::error(kLog, options_.name,
                 ": cannot subscribe upstream for the in routes: ", MQTTAsync_strerror(rc),
                 "; reconnecting");
    }
  }
  lock.lock();
  publish_status(lock, true);
}

void Bridge::send_some(std::unique_lock<std::mutex>& lock) {
  size_t room = kWindow - std::min<size_t>(kWindow, queue_.inflight());
  std::vector<Entry> batch = queue_.take_unsent(std::min(room, kSendBatch), durable_batch_);
  if (batch.empty()) return;
  sending_ = true;
  early_acks_.clear();
  lock.unlock();
  struct Sent {
    uint64_t seq;
    int token;
    uint8_t qos;
  };
  std::vector<Sent> sent;
  sent.reserve(batch.size());
  std::optional<uint64_t> refused;
  int refused_rc = 0;
  std::vector<uint64_t> rejected;  // messages Paho will never take
  MQTTAsync client = static_cast<MQTTAsync>(client_);
  for (const Entry& e : batch) {
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = const_cast<char*>(e.payload.data());
    m.payloadlen = static_cast<int>(e.payload.size());
    m.qos = e.qos;
    m.retained = e.retain ? 1 : 0;
    MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_sendMessage(client, e.topic.c_str(), &m, &response);
    if (rc == MQTTASYNC_BAD_UTF8_STRING || rc == MQTTASYNC_TOPICNAME_TRUNCATED ||
        rc == MQTTASYNC_BAD_QOS || rc == MQTTASYNC_NULL_PARAMETER) {
      log::error(kLog, options_.name, ": message on ", e.topic,
                 " dropped: the MQTT client refuses it (", MQTTAsync_strerror(rc), ")");
      rejected.push_back(e.seq);
      continue;
    }
    if (rc != MQTTASYNC_SUCCESS) {
      refused = e.seq;
      refused_rc = rc;
      break;
    }
    sent.push_back({e.seq, response.token, e.qos});
  }
  lock.lock();
  sending_ = false;
  for (const Sent& s : sent) {
    auto early = std::find(early_acks_.begin(), early_acks_.end(), s.token);
    if (s.qos == 0 || early != early_acks_.end()) {
      if (early != early_acks_.end()) early_acks_.erase(early);
      queue_.complete(s.seq, removed_);
    } else {
      queue_.sent(s.seq, s.token);
    }
  }
  early_acks_.clear();
  for (uint64_t seq : rejected)
    queue_.complete(seq, removed_);
  if (refused) {
    // Paho is not taking messages now (usually: the connection just dropped and its callback
    // is on the way). Try again shortly rather than spin.
    queue_.unsend_from(*refused);
    send_paused_until_ = Clock::now() + kSendRetry;
    log::debug(kLog, options_.name, ": Paho refused a message (", MQTTAsync_strerror(refused_rc),
               "); sending again in ", kSendRetry.count(), " ms");
  }
  if (backlog_ > 0 && queue_.size() == 0) {
    double s = std::chrono::duration<double>(Clock::now() - backlog_since_).count();
    log::info(kLog, options_.name, ": backlog of ", backlog_, " messages sent in ", s, " s");
    backlog_ = 0;
  }
}

// Paho reports every QoS 1/2 message it completes; one it drops without a word (it should
// not, but a bridge that stops forwarding is the worst failure there is) would hold its place in
// the window forever. So a window that made no progress for a while is compared with the tokens
// Paho still holds, and what it no longer holds goes again.
void Bridge::check_stalled(std::unique_lock<std::mutex>& lock, Clock::time_point now) {
  if (queue_.inflight() == 0) {
    last_progress_ = now;
    return;
  }
  if (now - last_progress_ < kStallCheck) return;
  last_progress_ = now;
  Clock::time_point asked = last_progress_;
  lock.unlock();
  std::vector<int> pending;
  MQTTAsync_token* tokens = nullptr;
  if (MQTTAsync_getPendingTokens(static_cast<MQTTAsync>(client_), &tokens) == MQTTASYNC_SUCCESS &&
      tokens != nullptr) {
    for (MQTTAsync_token* t = tokens; *t != -1; ++t)
      pending.push_back(*t);
    MQTTAsync_free(tokens);
  }
  lock.lock();
  // An acknowledgement meanwhile: the window moves after all (and `pending` may be stale).
  if (link_ != Link::Up || last_progress_ != asked) return;
  if (size_t lost = queue_.reclaim(pending); lost > 0) {
    log::warn(kLog, options_.name, ": ", lost, " of ", lost + queue_.inflight(),
              " messages in flight were no longer held by the MQTT client; sending them again");
    wake_.notify_one();
  }
}

void Bridge::flush_removed(std::unique_lock<std::mutex>& lock) {
  if (removed_.empty()) return;
  std::vector<uint64_t> seqs;
  seqs.swap(removed_);
  lock.unlock();
  broker_.outbox_remove(options_.name, std::move(seqs));
  lock.lock();
}

void Bridge::publish_status(std::unique_lock<std::mutex>& lock, bool force) {
  Clock::time_point now = Clock::now();
  if (!force && now < next_status_) return;
  next_status_ = now + kStatusInterval;
  std::string state = link_ == Link::Up ? "connected" : "disconnected";
  uint64_t queued = queue_.size();
  uint64_t dropped = queue_.dropped();
  bool state_changed = state != published_state_;
  bool queued_changed = queued != published_queued_;
  bool dropped_changed = dropped != published_dropped_;
  published_state_ = state;
  published_queued_ = queued;
  published_dropped_ = dropped;
  if (!options_.sys_status) return;
  lock.unlock();
  if (state_changed) broker_.publish(sys_prefix_ + "state", state, 0, true);
  if (queued_changed) broker_.publish(sys_prefix_ + "queued", std::to_string(queued), 0, true);
  if (dropped_changed) broker_.publish(sys_prefix_ + "dropped", std::to_string(dropped), 0, true);
  lock.lock();
}

void Bridge::shutdown(std::unique_lock<std::mutex>& lock) {
  MQTTAsync client = static_cast<MQTTAsync>(client_);
  if (link_ == Link::Up) {
    // Let what is in flight be acknowledged, so that the next run does not send it again.
    Clock::time_point deadline = Clock::now() + kStopGrace;
    wake_.wait_until(lock, deadline, [&] { return queue_.inflight() == 0 || lost_; });
    uint64_t inflight = queue_.inflight();
    lock.unlock();
    MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
    if (MQTTAsync_send(client, options_.availability_topic.c_str(), 7, "offline", 1, 1,
                       &response) == MQTTASYNC_SUCCESS) {
      MQTTAsync_waitForCompletion(client, response.token, 1000);
    }
    MQTTAsync_disconnectOptions disconnect = MQTTAsync_disconnectOptions_initializer;
    disconnect.timeout = 1000;
    MQTTAsync_disconnect(client, &disconnect);
    for (int i = 0; i < 100 && MQTTAsync_isConnected(client); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lock.lock();
    log::info(kLog, options_.name, ": disconnected from ", url_, "; ", queue_.size(),
              " messages stay queued",
              inflight > 0 ? " (" + std::to_string(inflight) + " were still unacknowledged)"
                           : std::string());
  } else if (link_ == Link::Connecting) {
    lock.unlock();
    MQTTAsync_disconnectOptions disconnect = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnect(client, &disconnect);
    lock.lock();
  }
  link_ = Link::Down;
  flush_removed(lock);
}

// --- Bridges ---

Bridges::Bridges(broker::Broker& broker, std::vector<Options> options) {
  uint32_t origin = 1;
  for (Options& o : options)
    bridges_.push_back(std::make_unique<Bridge>(broker, std::move(o), origin++));
  if (!bridges_.empty()) broker.at_stop([this] { stop(); });
}

void Bridges::start() {
  for (auto& b : bridges_)
    b->start();
}

void Bridges::stop() {
  for (auto& b : bridges_)
    b->stop();
}

}  // namespace fieldgate::bridge
