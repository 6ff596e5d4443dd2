// TLS and WebSocket connections: the handshakes, decrypting and de-framing what is read into
// the MQTT parser, framing and encrypting the output once per flush. Plain MQTT connections
// never come here (their Connection::transport is null).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "broker/core.h"
#include "common/log.h"

namespace fieldgate::broker {
namespace {

using Status = net::TlsSession::Status;

// A TLS read loop stops at a record boundary after this much plaintext, so that one busy
// client does not keep the loop to itself; level-triggered epoll brings it back.
constexpr size_t kMaxReadPerTurn = 256 * 1024;
// MQTT bytes are framed into the wire buffer while it holds less than this; the rest waits in
// the connection's output, where the slow-client bounds see it.
constexpr size_t kMaxWirePending = 64 * 1024;
// A WebSocket frame may carry one packet of max_packet_size and some more.
constexpr uint64_t kFrameSlack = 64 * 1024;

}  // namespace

void Core::open_listener_transport(Listener& listener, const ListenerOptions& o) {
  listener.websocket = o.websockets;
  listener.use_identity_as_username = o.use_identity_as_username;
  if (o.tls_cert.empty()) return;
  net::TlsSettings settings{o.tls_cert, o.tls_key, o.tls_ca, o.require_client_cert};
  try {
    listener.tls = std::make_unique<net::TlsContext>(settings);
  } catch (const net::TlsConfigError& e) {
    throw net::TlsConfigError("[[broker.listener]] " + o.host + ":" + std::to_string(o.port) +
                              ": " + e.what());
  }
}

void Core::attach_transport(Connection& c, const Listener& listener) {
  auto t = std::make_unique<net::Transport>();
  if (listener.tls) t->tls = std::make_unique<net::TlsSession>(*listener.tls, c.fd.get());
  t->websocket = listener.websocket;
  t->use_identity_as_username = listener.use_identity_as_username;
  c.transport = std::move(t);
}

void Core::on_transport_readable(Connection& c) {
  net::Transport& t = *c.transport;
  t.read_wants_write = false;
  if (t.tls && !t.tls->handshake_done()) {
    Status s = t.tls->handshake();
    if (s == Status::Failed) {
      log::warn("broker", "TLS handshake with ", c.address(), " failed: ", t.tls->error());
      close(c, "TLS handshake failed", false);
      return;
    }
    if (s == Status::Closed) {
      close(c, "closed by the client during the TLS handshake", false);
      return;
    }
    if (s != Status::Done) {
      if (t.want_write != (s == Status::WantWrite)) {
        t.want_write = s == Status::WantWrite;
        queue_flush(c);  // arms or disarms EPOLLOUT
      }
      return;
    }
    t.want_write = false;
    if (t.use_identity_as_username) t.identity = t.tls->peer_common_name();
    log::debug("broker", "TLS handshake with ", c.address(), " done (", t.tls->version(), ")");
    queue_flush(c);
  }
  size_t total = 0;
  while (true) {
    size_t n = 0;
    Status status = Status::Done;
    if (t.tls) {
      n = t.tls->read(read_buffer_.data(), read_buffer_.size(), status);
    } else {
      ssize_t r = ::read(c.fd.get(), read_buffer_.data(), read_buffer_.size());
      if (r > 0) {
        n = static_cast<size_t>(r);
      } else if (r == 0) {
        status = Status::Closed;
      } else if (errno == EAGAIN || errno == EINTR) {
        status = Status::WantRead;
      } else {
        close(c, std::strerror(errno), true);
        return;
      }
    }
    if (n == 0) {
      switch (status) {
        case Status::Closed:
          close(c, "connection closed by the client", true);
          return;
        case Status::Failed:
          close(c, "TLS error: " + t.tls->error(), true);
          return;
        case Status::WantWrite:
          t.read_wants_write = true;
          t.want_write = true;
          queue_flush(c);
          break;
        default:
          break;
      }
      break;
    }
    stats_.bytes_received += n;
    if (!feed_transport(c, std::string_view(read_buffer_.data(), n))) return;
    if (t.closing) return;
    total += n;
    // Plain sockets: one read per readiness, as for plain MQTT. TLS: on to the end of the
    // record, or of what the socket holds, within the turn's budget.
    if (!t.tls || (total >= kMaxReadPerTurn && !t.tls->pending())) break;
  }
}

bool Core::feed_transport(Connection& c, std::string_view data) {
  net::Transport& t = *c.transport;
  if (!t.websocket) return feed_mqtt(c, data);

  std::string rest;  // frames the client sent right behind its handshake (rare)
  if (!t.upgraded()) {
    t.request.append(data);
    net::ws::Upgrade u = net::ws::parse_upgrade(t.request);
    if (u.status == net::ws::Upgrade::Status::Incomplete) return true;
    t.wire.append(u.response);
    if (u.status == net::ws::Upgrade::Status::Refused) {
      log::warn("broker", "refused a WebSocket handshake from ", c.address(), ": ", u.reason);
      write_and_close(c, "bad WebSocket handshake", false);
      return false;
    }
    rest = t.request.substr(u.consumed);
    std::string().swap(t.request);
    t.decoder = std::make_unique<net::ws::Decoder>(options_.max_packet_size + kFrameSlack);
    log::debug("broker", "WebSocket handshake with ", c.address(), " done",
               u.protocol.empty() ? "" : " (subprotocol ", u.protocol,
               u.protocol.empty() ? "" : ")");
    queue_flush(c);
    data = rest;
    if (data.empty()) return true;
  }

  ws_payload_.clear();
  size_t wire_before = t.wire.size();
  net::ws::Decoder::Status status = t.decoder->feed(data, ws_payload_, t.wire);
  if (t.wire.size() != wire_before) queue_flush(c);  // pong or close
  if (!ws_payload_.empty()) {
    // The bytes go through a buffer of their own: handling a packet never reads more frames.
    if (!feed_mqtt(c, ws_payload_)) return false;
  }
  switch (status) {
    case net::ws::Decoder::Status::Ok:
      return true;
    case net::ws::Decoder::Status::Closed:
      write_and_close(c, "WebSocket closed by the client", true);
      return false;
    case net::ws::Decoder::Status::Error:
      log::warn("broker", "WebSocket protocol error from ", c.address(), " (", c.client_id(),
                "): ", t.decoder->reason());
      write_and_close(c, "WebSocket protocol error: " + t.decoder->reason(), true);
      return false;
  }
  return true;
}

// Frames the pending MQTT output (WebSocket) and writes as much as the socket takes.
bool Core::flush_transport(Connection& c) {
  net::Transport& t = *c.transport;
  if (t.tls && !t.tls->handshake_done()) {
    on_transport_readable(c);  // the handshake goes on when the socket is writable
    return c.state != Connection::State::Closed;
  }
  if (t.read_wants_write) {
    on_transport_readable(c);
    if (c.state == Connection::State::Closed) return false;
  }
  return write_transport(c);
}

bool Core::write_transport(Connection& c) {
  net::Transport& t = *c.transport;
  t.want_write = false;
  while (true) {
    if (t.upgraded() && c.pending_output() > 0 && t.wire_pending() < kMaxWirePending) {
      // One binary frame for everything pending: MQTT packets may cross frame boundaries.
      net::ws::append_frame_header(t.wire, net::ws::Opcode::Binary, c.pending_output());
      t.wire.append(c.output, c.output_sent);
      c.output.clear();
      c.output_sent = 0;
    }
    std::string& buffer = t.websocket ? t.wire : c.output;
    size_t& sent = t.websocket ? t.wire_sent : c.output_sent;
    bool blocked = false;
    while (sent < buffer.size()) {
      size_t remaining = buffer.size() - sent;
      size_t n = 0;
      Status status = Status::Done;
      if (t.tls) {
        n = t.tls->write(buffer.data() + sent, remaining, status);
      } else {
        ssize_t r = ::send(c.fd.get(), buffer.data() + sent, remaining, MSG_NOSIGNAL);
        if (r >= 0) {
          n = static_cast<size_t>(r);
        } else if (errno == EAGAIN || errno == EINTR) {
          status = Status::WantWrite;
        } else {
          close(c, std::strerror(errno), true);
          return false;
        }
      }
      if (n == 0) {
        if (status == Status::Failed) {
          close(c, "TLS error: " + t.tls->error(), true);
          return false;
        }
        // WantRead (TLS): the next read event flushes again.
        t.want_write = status == Status::WantWrite;
        blocked = true;
        break;
      }
      sent += n;
      stats_.bytes_sent += n;
      if (!t.tls && n < remaining) {
        t.want_write = true;  // a short write: the socket is full
        blocked = true;
        break;
      }
    }
    if (sent == buffer.size()) {
      buffer.clear();
      sent = 0;
    } else if (sent > buffer.size() / 2) {
      buffer.erase(0, sent);  // amortised; TLS retries with the same bytes at the front
      sent = 0;
    }
    if (blocked || !t.upgraded() || c.pending_output() == 0) break;
  }
  if (t.wire.empty() && t.wire.capacity() > kMaxWirePending) std::string().swap(t.wire);
  return true;
}

// Sends what can be sent at once (a refusal, a close frame), then closes.
void Core::write_and_close(Connection& c, std::string_view reason, bool publish_will) {
  c.transport->closing = true;
  if (write_transport(c)) close(c, reason, publish_will);
}

// On close: a WebSocket close frame and a TLS close_notify, best effort (never waits).
void Core::close_transport(Connection& c) {
  net::Transport& t = *c.transport;
  if (t.upgraded() && !t.closing) {
    t.closing = true;
    net::ws::append_close(t.wire, net::ws::close_code::kNormal);
    // The last bytes, one try: the connection is going away.
    std::string& buffer = t.wire;
    if (t.tls) {
      Status status;
      if (t.wire_pending() > 0 && t.tls->handshake_done())
        t.tls->write(buffer.data() + t.wire_sent, t.wire_pending(), status);
    } else {
      [[maybe_unused]] ssize_t ignored =
          ::send(c.fd.get(), buffer.data() + t.wire_sent, t.wire_pending(), MSG_NOSIGNAL);
    }
  }
  if (t.tls) t.tls->shutdown();
}

}  // namespace fieldgate::broker
