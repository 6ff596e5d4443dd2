// The event loop: accepting, reading, dispatching packets, flushing output, timers.
#include "broker/core.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/log.h"

namespace fieldgate::broker {
namespace {

constexpr size_t kReadSize = 64 * 1024;
// A connection must send CONNECT this soon after it is accepted.
constexpr auto kConnectTimeout = std::chrono::seconds(10);
// Output buffers larger than this are released once empty, so idle connections stay small.
constexpr size_t kKeptBufferCapacity = 64 * 1024;

const std::string kNoClientId = "(no client id yet)";

}  // namespace

const std::string& Connection::client_id() const {
  return session ? session->client_id : kNoClientId;
}

// --- Broker: the public face ---

Broker::Broker(Options options) : core_(std::make_unique<Core>(std::move(options))) {}
Broker::~Broker() = default;
std::vector<uint16_t> Broker::bound_ports() const {
  return core_->bound_ports();
}
void Broker::run() {
  core_->run();
}
void Broker::request_auth_reload() {
  core_->request_auth_reload();
}
void Broker::publish(std::string topic, std::string payload, uint8_t qos, bool retain,
                     uint32_t origin) {
  Core::InboxItem item{std::move(topic), std::move(payload), qos, retain};
  item.origin = origin;
  core_->post(std::move(item));
}
void Broker::publish(std::string topic, std::string payload, uint8_t qos, bool retain,
                     PublishProperties properties) {
  Core::InboxItem item{std::move(topic), std::move(payload), qos, retain};
  item.properties = std::make_shared<const PublishProperties>(std::move(properties));
  core_->post(std::move(item));
}
void Broker::subscribe(std::string filter, MessageHandler handler) {
  core_->post({std::move(filter), {}, 0, false, std::move(handler), nullptr, nullptr});
}
void Broker::subscribe(std::string filter, PropertiesHandler handler) {
  core_->post({std::move(filter), {}, 0, false, nullptr, std::move(handler), nullptr});
}
void Broker::request_stop() {
  core_->request_stop();
}

// --- Core ---

Core::Core(Options options)
    : options_(std::move(options)), wakeup_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!wakeup_) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  poller_.add(wakeup_.get(), EPOLLIN, &wakeup_);
  if (!options_.password_file.empty()) {
    passwords_ = std::make_unique<auth::PasswordFile>();
    passwords_->load(options_.password_file);
  }
  if (!options_.acl_file.empty()) {
    acl_ = std::make_unique<auth::Acl>();
    acl_->load(options_.acl_file);
  }
  open_store();
  listeners_.reserve(options_.listeners.size());
  for (const ListenerOptions& l : options_.listeners) {
    Listener listener;
    open_listener_transport(listener, l);  // certificates are checked before any port is bound
    listener.fd = net::listen_tcp(l.host, l.port);
    listener.port = net::local_port(listener.fd.get());
    listeners_.push_back(std::move(listener));
  }
  for (Listener& l : listeners_)
    poller_.add(l.fd.get(), EPOLLIN, &l);
  read_buffer_.resize(kReadSize);
}

std::vector<uint16_t> Core::bound_ports() const {
  std::vector<uint16_t> ports;
  for (const Listener& l : listeners_)
    ports.push_back(l.port);
  return ports;
}

void Core::request_stop() {
  stop_requested_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t ignored = ::write(wakeup_.get(), &one, sizeof one);
}

void Core::request_auth_reload() {
  auth_reload_requested_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t ignored = ::write(wakeup_.get(), &one, sizeof one);
}

// Re-reads the password and ACL files in the loop thread; a file with errors is refused and the
// rules in force stay. Connected clients stay; their subscriptions are granted anew.
void Core::reload_auth() {
  try {
    if (passwords_) {
      passwords_->load(options_.password_file);
      log::info("broker", "password file ", options_.password_file,
                " reloaded: ", passwords_->size(), " users");
    }
  } catch (const std::exception& e) {
    log::error("broker", "password file not reloaded, the previous users stay: ", e.what());
  }
  try {
    if (acl_) {
      acl_->load(options_.acl_file);
      for (auto& [id, s] : sessions_)
        apply_acl(*s);
      log::info("broker", "ACL file ", options_.acl_file, " reloaded");
    }
  } catch (const std::exception& e) {
    log::error("broker", "ACL file not reloaded, the previous rules stay: ", e.what());
  }
}

void Core::run() {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    const Listener& l = listeners_[i];
    log::info("broker", "listening on ", options_.listeners[i].host, ":", l.port,
              l.websocket ? (l.tls ? " (MQTT over WebSocket over TLS)" : " (MQTT over WebSocket)")
                          : (l.tls ? " (MQTT over TLS)" : ""));
  }
  next_sys_ = Clock::now();
  std::array<epoll_event, 256> events;
  while (!stop_requested_) {
    int n = poller_.wait(events, next_timer_ms());
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &wakeup_) {
        uint64_t count;
        [[maybe_unused]] ssize_t ignored = ::read(wakeup_.get(), &count, sizeof count);
        if (auth_reload_requested_.exchange(false)) reload_auth();
        drain_inbox();
        continue;
      }
      if (writer_ && tag == writer_.get()) {
        on_store_completion();
        continue;
      }
      bool is_listener = false;
      for (Listener& l : listeners_) {
        if (tag == &l) {
          accept_all(l);
          is_listener = true;
        }
      }
      if (is_listener) continue;
      auto& c = *static_cast<Connection*>(tag);
      if (c.state != Connection::State::Closed &&
          (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        on_readable(c);
      }
      if (c.state != Connection::State::Closed && (events[i].events & EPOLLOUT)) on_writable(c);
    }
    check_timers();
    commit_turn();
    // Indexing, not iterators: flushing may close a connection, whose will queues more flushes.
    for (size_t i = 0; i < to_flush_.size(); ++i)
      flush(*to_flush_[i]);
    to_flush_.clear();
    closed_.clear();
  }

  log::info("broker", "stopping: closing ", connections_.size(), " connections");
  std::vector<Connection*> open;
  for (auto& [id, c] : connections_)
    open.push_back(c.get());
  for (Connection* c : open) {
    if (c->state == Connection::State::Connected && c->version == mqtt::Version::v5) {
      mqtt::encode_disconnect(c->output,
                              mqtt::Disconnect{.reason_code = mqtt::reason::kServerShuttingDown},
                              c->version);
    }
    flush(*c);
    close(*c, "broker stopping", /*publish_will=*/false);
  }
  closed_.clear();
  for (const auto& hook : stop_hooks_)
    hook();
  drain_inbox();  // what was posted before (or by) the stop hooks
  drain_store();
}

void Core::accept_all(Listener& listener) {
  while (true) {
    int fd = accept4(listener.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        log::error("broker", "cannot accept a connection: ", std::strerror(errno),
                   "; raise the open-file limit (LimitNOFILE=) or lower max_connections");
      }
      return;
    }
    if (connections_.size() >= options_.max_connections) {
      log::warn("broker", "refused a connection from ", net::peer_address(fd),
                ": max_connections (", options_.max_connections, ") reached");
      ::close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>();
    c->fd.reset(fd);
    c->id = next_connection_id_++;
    c->last_received = Clock::now();
    if (listener.tls || listener.websocket) attach_transport(*c, listener);
    poller_.add(fd, EPOLLIN, c.get());
    schedule_timer(*c, c->last_received + kConnectTimeout);
    ++stats_.connections_total;
    // address() is a getpeername: only when the line is logged.
    if (log::enabled(log::Level::Debug)) log::debug("broker", "new connection from ", c->address());
    connections_.emplace(c->id, std::move(c));
  }
}

void Core::on_readable(Connection& c) {
  if (c.transport) {
    on_transport_readable(c);
    return;
  }
  ssize_t n = ::read(c.fd.get(), read_buffer_.data(), read_buffer_.size());
  if (n == 0) {
    close(c, "connection closed by the client", /*publish_will=*/true);
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) close(c, std::strerror(errno), true);
    return;
  }
  stats_.bytes_received += static_cast<uint64_t>(n);
  feed_mqtt(c, std::string_view(read_buffer_.data(), static_cast<size_t>(n)));
}

bool Core::feed_mqtt(Connection& c, std::string_view data) {
  Clock::time_point now = Clock::now();
  // Parse straight from the read buffer unless a packet is already half-assembled.
  if (!c.input.empty()) {
    c.input.append(data);
    data = c.input;
  }
  size_t consumed = 0;
  while (consumed < data.size()) {
    mqtt::Frame frame;
    switch (mqtt::next_frame(data.substr(consumed), options_.max_packet_size, frame)) {
      case mqtt::FrameStatus::Incomplete:
        goto keep_rest;
      case mqtt::FrameStatus::Malformed:
        disconnect(c, mqtt::reason::kMalformedPacket, "malformed packet (fixed header)");
        return false;
      case mqtt::FrameStatus::TooLarge:
        disconnect(c, mqtt::reason::kPacketTooLarge,
                   "packet larger than max_packet_size (" +
                       std::to_string(options_.max_packet_size) + " bytes)");
        return false;
      case mqtt::FrameStatus::Complete:
        break;
    }
    // Keep-alive counts whole packets: dribbling bytes does not keep a connection alive.
    c.last_received = now;
    if (!handle_packet(c, frame)) return false;
    consumed += frame.size();
  }
keep_rest:
  if (c.input.empty()) {
    c.input.assign(data.substr(consumed));
  } else {
    c.input.erase(0, consumed);
    if (c.input.empty()) std::string().swap(c.input);
  }
  return true;
}

void Core::on_writable(Connection& c) {
  flush(c);
}

bool Core::handle_packet(Connection& c, const mqtt::Frame& frame) {
  ++stats_.packets_received;
  using mqtt::PacketType;
  PacketType type = frame.header.type;
  if (c.state == Connection::State::AwaitConnect) {
    if (type != PacketType::Connect) {
      close(c, std::string("first packet is ") + mqtt::packet_name(type) + ", not CONNECT", false);
      return false;
    }
    return handle_connect(c, frame);
  }
  switch (type) {
    case PacketType::Publish:
      return handle_publish(c, frame);
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return handle_ack(c, frame);
    case PacketType::Subscribe:
      return handle_subscribe(c, frame);
    case PacketType::Unsubscribe:
      return handle_unsubscribe(c, frame);
    case PacketType::Pingreq: {
      if (mqtt::Error e = mqtt::decode_empty(frame, c.version); e != mqtt::Error::None) {
        reject(c, type, e);
        return false;
      }
      mqtt::encode_empty(c.output, PacketType::Pingresp);
      sent_packet(c);
      return true;
    }
    case PacketType::Disconnect:
      return handle_disconnect(c, frame);
    case PacketType::Auth:
      return handle_auth(c, frame);
    case PacketType::Connect:
      disconnect(c, mqtt::reason::kProtocolError, "protocol violation: a second CONNECT");
      return false;
    default:
      disconnect(
          c, mqtt::reason::kProtocolError,
          std::string("protocol violation: a client may not send ") + mqtt::packet_name(type));
      return false;
  }
}

void Core::disconnect(Connection& c, uint8_t reason_code, std::string_view why) {
  if (c.state == Connection::State::Connected && c.version == mqtt::Version::v5) {
    mqtt::Disconnect packet{.reason_code = reason_code};
    // The reason string goes only where it fits the client's maximum packet size.
    if (c.max_packet_size == 0 || why.size() + 16 <= c.max_packet_size) {
      packet.properties.reason_string = why;
    }
    // Replies still waiting for the store are dropped with the connection: they confirm work
    // not yet on disk, so the client must not see them (it sends that work again).
    c.deferred.reset();
    mqtt::encode_disconnect(c.output, packet, c.version);
    ++stats_.packets_sent;
    flush(c);
  }
  close(c, why, /*publish_will=*/true);
}

void Core::reject(Connection& c, mqtt::PacketType type, mqtt::Error error) {
  disconnect(c, mqtt::reason_code_for(error),
             std::string("invalid ") + mqtt::packet_name(type) + ": " + mqtt::describe(error));
}

bool Core::handle_disconnect(Connection& c, const mqtt::Frame& frame) {
  mqtt::Disconnect packet;
  if (mqtt::Error e = mqtt::decode_disconnect(frame, c.version, packet); e != mqtt::Error::None) {
    reject(c, mqtt::PacketType::Disconnect, e);
    return false;
  }
  Session& s = *c.session;
  if (auto expiry = packet.properties.session_expiry_interval) {
    // A session that was to end with its connection may not be kept at the last moment
    // [MQTT-3.14.2-2].
    if (c.session_expiry_zero && *expiry != 0) {
      disconnect(c, mqtt::reason::kProtocolError,
                 "DISCONNECT sets a session expiry interval after CONNECT asked for 0");
      return false;
    }
    if (*expiry == 0) {
      s.clean = true;
    } else {
      s.expiry_s = *expiry == UINT32_MAX ? 0 : *expiry;
      if (options_.persistent_session_expiry_s != 0 &&
          (s.expiry_s == 0 || s.expiry_s > options_.persistent_session_expiry_s)) {
        s.expiry_s = options_.persistent_session_expiry_s;
      }
    }
  }
  // Only a normal disconnection (0x00) discards the will [MQTT-3.14.4-3]: 0x04 asks for it,
  // and an error reason is no normal end either [MQTT 5, 3.1.2.5].
  bool with_will = packet.reason_code != mqtt::reason::kNormalDisconnection;
  if (!with_will) c.will.reset();
  std::string why = "disconnected";
  if (packet.reason_code != mqtt::reason::kNormalDisconnection) {
    why += " (reason 0x" + std::string(1, "0123456789abcdef"[packet.reason_code >> 4]) +
           "0123456789abcdef"[packet.reason_code & 0xf] + ")";
  }
  if (packet.properties.reason_string) why += ": " + std::string(*packet.properties.reason_string);
  close(c, why, with_will);
  return false;
}

// fieldgate offers no extended authentication (CONNECT with an authentication method is
// refused with 0x8C), so an AUTH can only be a protocol error [MQTT-4.12.0-1].
bool Core::handle_auth(Connection& c, const mqtt::Frame& frame) {
  mqtt::Auth packet;
  if (mqtt::Error e = mqtt::decode_auth(frame, c.version, packet); e != mqtt::Error::None) {
    reject(c, mqtt::PacketType::Auth, e);
    return false;
  }
  disconnect(c, mqtt::reason::kProtocolError,
             "AUTH without an authentication method agreed in CONNECT (fieldgate supports none)");
  return false;
}

void Core::queue_flush(Connection& c) {
  if (c.flush_pending) return;
  c.flush_pending = true;
  to_flush_.push_back(&c);
}

void Core::flush(Connection& c) {
  c.flush_pending = false;
  if (c.state == Connection::State::Closed) return;
  if (c.transport) {
    if (!flush_transport(c)) return;
  } else if (c.pending_output() > 0) {
    ssize_t n =
        ::send(c.fd.get(), c.output.data() + c.output_sent, c.pending_output(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        close(c, std::strerror(errno), true);
        return;
      }
      n = 0;
    }
    stats_.bytes_sent += static_cast<uint64_t>(n);
    c.output_sent += static_cast<size_t>(n);
    if (c.pending_output() == 0) {
      c.output.clear();
      c.output_sent = 0;
    } else if (c.output_sent > c.output.size() / 2) {
      c.output.erase(0, c.output_sent);  // amortised: the buffer at least halves
      c.output_sent = 0;
    }
  }
  bool want_writable = c.transport ? c.transport->want_write : c.pending_output() > 0;
  if (want_writable != c.writable_armed) {
    c.writable_armed = want_writable;
    poller_.modify(c.fd.get(), want_writable ? EPOLLIN | EPOLLOUT : EPOLLIN, &c);
  }
  if (c.output.empty() && c.output.capacity() > kKeptBufferCapacity) {
    std::string().swap(c.output);
  }
  // A refusal closes at once, written or not: its client may not send anything more.
  if (c.close_after_flush) close(c, "closed after its last packet", false);
}

void Core::close(Connection& c, std::string_view reason, bool publish_will) {
  if (c.state == Connection::State::Closed) return;
  bool was_connected = c.state == Connection::State::Connected;
  c.state = Connection::State::Closed;
  if (was_connected) {
    log::info("broker", "client ", c.client_id(), " (", c.address(), ") disconnected: ", reason);
  } else {
    log::debug("broker", "connection from ", c.address(), " closed: ", reason);
  }
  if (c.transport) close_transport(c);
  poller_.remove(c.fd.get());
  c.fd.reset();
  if (Session* s = c.session) {
    c.session = nullptr;
    s->connection = nullptr;
    hand_over_shared(*s);
    if (publish_will && c.will && c.will->delay_s > 0 && !s->clean) {
      // MQTT 5 will delay: published when the delay is over or the session ends, whichever
      // comes first, and not at all if its client is back before [MQTT-3.1.3-9].
      s->pending_will = std::move(c.will);
      s->pending_will->due_ms = now_ms() + int64_t{s->pending_will->delay_s} * 1000;
    }
    if (s->clean) {
      end_session(*s);
    } else {
      s->last_seen_ms = now_ms();  // the session expiry counts from here
      store_session(*s);
    }
  }
  if (publish_will && c.will) {
    WillMessage will = std::move(*c.will);
    c.will.reset();
    this->publish_will(will);
  }
  auto node = connections_.extract(c.id);
  if (!node.empty()) closed_.push_back(std::move(node.mapped()));
}

void Core::schedule_timer(Connection& c, Clock::time_point due) {
  c.timer_due = due;
  timers_.push({due, c.id});
}

void Core::check_timers() {
  Clock::time_point now = Clock::now();
  while (!timers_.empty() && timers_.top().due <= now) {
    TimerEntry entry = timers_.top();
    timers_.pop();
    auto it = connections_.find(entry.connection_id);
    if (it == connections_.end() || it->second->timer_due != entry.due) continue;
    Connection& c = *it->second;
    if (c.state == Connection::State::AwaitConnect) {
      const char* handshake = c.transport ? c.transport->handshake_pending() : nullptr;
      if (handshake) {
        log::info("broker", "dropped the connection from ", c.address(), ": ", handshake,
                  " not completed within 10 seconds");
      }
      close(c, handshake ? "handshake timeout" : "no CONNECT within 10 seconds", false);
      continue;
    }
    if (c.keep_alive_s == 0) continue;
    // Keep-alive is checked lazily: the deadline moves with every packet received.
    auto deadline = c.last_received + std::chrono::milliseconds(c.keep_alive_s * 1500);
    if (deadline <= now) {
      disconnect(
          c, mqtt::reason::kKeepAliveTimeout,
          "keep-alive timeout (no packet for 1.5 x " + std::to_string(c.keep_alive_s) + " s)");
    } else {
      schedule_timer(c, deadline);
    }
  }
  if (options_.sys_interval_s > 0 && now >= next_sys_) {
    publish_sys();
    next_sys_ = now + std::chrono::seconds(options_.sys_interval_s);
  }
  if (now >= next_expiry_check_) {
    purge_expired_sessions();
    next_expiry_check_ = now + std::chrono::seconds(1);
  }
  if (options_.heartbeat && now >= next_heartbeat_) {
    size_t connected = 0;
    for (const auto& [id, c] : connections_)
      connected += c->state == Connection::State::Connected;
    options_.heartbeat(connected);
    next_heartbeat_ = now + options_.heartbeat_interval;
  }
}

int Core::next_timer_ms() const {
  Clock::time_point now = Clock::now();
  Clock::time_point next = now + std::chrono::seconds(1);
  if (!timers_.empty() && timers_.top().due < next) next = timers_.top().due;
  if (options_.sys_interval_s > 0 && next_sys_ < next) next = next_sys_;
  if (failed_batch_ && store_retry_at_ < next) next = store_retry_at_;
  if (options_.heartbeat && next_heartbeat_ < next) next = next_heartbeat_;
  if (!to_flush_.empty() || next <= now) return 0;
  // Round up so that the timer is due when the wait ends.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
  return static_cast<int>(ms);
}

}  // namespace fieldgate::broker
