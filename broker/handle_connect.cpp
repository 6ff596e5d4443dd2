// CONNECT: protocol checks, authentication, client ids, session takeover and resumption.
#include <random>

#include "broker/core.h"
#include "common/log.h"

namespace fieldgate::broker {
namespace {

std::string generated_client_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string id = "auto-";
  uint64_t bits = rng();
  for (int i = 0; i < 16; ++i, bits >>= 4)
    id += kHex[bits & 0xf];
  return id;
}

const char* version_name(mqtt::Version v) {
  switch (v) {
    case mqtt::Version::v31:
      return "3.1";
    case mqtt::Version::v311:
      return "3.1.1";
    case mqtt::Version::v5:
      return "5.0";
  }
  return "?";
}

}  // namespace

// Mosquitto's rules: with a password file, a user name must come with its password; without
// one, anyone may connect when allow_anonymous is true. No user name needs allow_anonymous.
bool Core::authenticate(const mqtt::Connect& connect) const {
  if (!connect.username) return options_.allow_anonymous;
  if (!passwords_) return options_.allow_anonymous;
  return passwords_->verify(*connect.username, connect.password.value_or(std::string_view{}));
}

// The ACL grants a session's subscriptions by the user it logs in as: re-decided at each login.
void Core::apply_acl(Session& s) {
  if (!acl_) return;
  for (const auto& [filter, qos] : s.subscriptions) {
    auto access = acl_->may_subscribe(s.client_id, s.username, filter);
    subscriptions_.add(filter, &s, qos, /*check_read=*/access != auth::SubscribeAccess::All);
  }
}

void Core::refuse_connect(Connection& c, uint8_t return_code, std::string_view why) {
  log::warn("broker", "refused connection from ", c.address(), ": ", why, " (CONNACK ",
            static_cast<int>(return_code), ")");
  mqtt::encode_connack(c.output, mqtt::Connack{false, return_code});
  sent_packet(c);
  c.close_after_flush = true;
}

bool Core::handle_connect(Connection& c, const mqtt::Frame& frame) {
  mqtt::Connect connect;
  mqtt::Error error = mqtt::decode_connect(frame, connect);
  if (error == mqtt::Error::UnsupportedProtocolLevel) {
    refuse_connect(c, mqtt::connack::kUnacceptableProtocolVersion,
                   std::string("protocol ") + std::string(connect.protocol_name) + " level " +
                       std::to_string(static_cast<int>(connect.version)) +
                       " is not supported (fieldgate speaks MQTT 3.1 and 3.1.1)");
    return false;
  }
  if (error != mqtt::Error::None) {
    close(c, std::string("invalid CONNECT: ") + mqtt::describe(error), false);
    return false;
  }
  if (connect.version == mqtt::Version::v5) {
    // Until the broker speaks MQTT 5, its clients hear so in their own format (reason 0x84).
    log::warn("broker", "refused connection from ", c.address(), ": client ", connect.client_id,
              " asks for MQTT 5.0, which fieldgate does not support yet; ",
              "configure the client for MQTT 3.1.1");
    mqtt::encode_connack(c.output,
                         mqtt::Connack{.return_code = mqtt::reason::kUnsupportedProtocolVersion},
                         mqtt::Version::v5);
    sent_packet(c);
    c.close_after_flush = true;
    return false;
  }
  c.version = connect.version;

  std::string client_id(connect.client_id);
  if (client_id.empty()) {
    if (connect.version == mqtt::Version::v31) {
      refuse_connect(c, mqtt::connack::kIdentifierRejected,
                     "MQTT 3.1 requires a client id; give the client one");
      return false;
    }
    if (!connect.clean_session) {
      refuse_connect(c, mqtt::connack::kIdentifierRejected,
                     "an empty client id needs clean session; give the client an id");
      return false;
    }
    client_id = generated_client_id();
  }
  // MQTT 3.1 limits client ids to 23 characters; like Mosquitto, longer ones are accepted.

  // use_identity_as_username (TLS listeners), as Mosquitto does it: the client certificate's
  // CN is the user name; the CONNECT's user name and password are ignored and the password file
  // is not consulted; the ACL applies to the CN.
  const bool by_identity = c.transport && c.transport->use_identity_as_username;
  if (by_identity && !c.transport->identity) {
    refuse_connect(c, mqtt::connack::kBadUsernameOrPassword,
                   "client " + client_id +
                       " has no certificate with a common name (CN), which "
                       "use_identity_as_username needs");
    return false;
  }
  if (!by_identity && !authenticate(connect)) {
    // One line, the same whether the user or the password was wrong.
    refuse_connect(c, mqtt::connack::kNotAuthorized, "client " + client_id + " not authorized");
    return false;
  }

  if (connect.keep_alive > options_.max_keepalive_s) {
    refuse_connect(c, mqtt::connack::kIdentifierRejected,
                   "client " + client_id + " asks for keep-alive " +
                       std::to_string(connect.keep_alive) + " s, more than max_keepalive_s (" +
                       std::to_string(options_.max_keepalive_s) + ")");
    return false;
  }

  bool session_present = false;
  size_t mark = store_mark();
  Session& session = attach_session(c, client_id, connect.clean_session, session_present);
  std::optional<std::string> username;
  if (by_identity) {
    username = c.transport->identity;
  } else if (connect.username) {
    username = std::string(*connect.username);
  }
  if (session.protocol != static_cast<uint8_t>(c.version) || !session_present ||
      session.username != username) {
    session.protocol = static_cast<uint8_t>(c.version);
    session.username = std::move(username);
    store_session(session);
  }
  if (session_present) apply_acl(session);
  c.state = Connection::State::Connected;
  c.keep_alive_s = connect.keep_alive;
  if (connect.will && is_sys_topic(connect.will->topic)) {
    log::warn("broker", "client ", session.client_id, " left a will on ", connect.will->topic,
              ": $SYS belongs to the broker, the will is ignored");
  } else if (connect.will && acl_ &&
             !acl_->may_publish(session.client_id, session.username, connect.will->topic)) {
    log::warn("broker", "client ", session.client_id, " left a will on ", connect.will->topic,
              ", which the ACL does not let it publish to: the will is ignored");
  } else if (connect.will) {
    c.will = std::make_unique<WillMessage>(WillMessage{std::string(connect.will->topic),
                                                       std::string(connect.will->payload),
                                                       connect.will->qos, connect.will->retain});
  }
  // Keep-alive is enforced at 1.5 times the interval; 0 turns it off (and drops the connect
  // deadline, whose entry no longer matches timer_due).
  if (connect.keep_alive == 0) {
    c.timer_due = Clock::time_point::max();
  } else {
    schedule_timer(c, c.last_received + std::chrono::milliseconds(connect.keep_alive * 1500));
  }

  // MQTT 3.1 has no session-present flag: its CONNACK byte is reserved.
  bool present_flag = session_present && c.version != mqtt::Version::v31;
  ++stats_.connects_accepted;
  // The session present flag must hold after a crash too: a discarded or new session is on disk
  // before the client hears of it.
  reply(c, store_wrote_since(mark), [&](std::string& out) {
    mqtt::encode_connack(out, mqtt::Connack{present_flag, mqtt::connack::kAccepted});
  });
  log::info("broker", "client ", session.client_id, " connected from ", c.address(), " (MQTT ",
            version_name(c.version), ", clean ", connect.clean_session, ", keep-alive ",
            connect.keep_alive, " s", session_present ? ", session resumed" : "", ")");
  if (session_present) resume_delivery(session);
  return true;
}

Session& Core::attach_session(Connection& c, std::string client_id, bool clean, bool& present) {
  auto it = sessions_.find(client_id);
  if (it != sessions_.end() && it->second->connection) {
    // Takeover: the newest connection wins. Closing the old one first ends its session if that
    // was a clean one.
    close(*it->second->connection, "taken over by a new connection with the same client id", true);
    it = sessions_.find(client_id);
  }
  if (it != sessions_.end() && clean) {
    end_session(*it->second);
    it = sessions_.end();
  }
  present = it != sessions_.end();
  if (!present) {
    auto session = std::make_unique<Session>(client_id, clean, /*durable=*/writer_ && !clean);
    it = sessions_.emplace(std::move(client_id), std::move(session)).first;
  }
  Session& s = *it->second;
  s.connection = &c;
  c.session = &s;
  return s;
}

void Core::end_session(Session& s) {
  store_session_gone(s);
  for (const auto& [filter, qos] : s.subscriptions)
    subscriptions_.remove(filter, &s);
  std::string id = s.client_id;  // s (and its id) go with the erase
  sessions_.erase(id);
}

// A persistent session's client is back: resend what it has not acknowledged, with DUP set on
// PUBLISH (as the specification requires on reconnect), then carry on with the queue.
void Core::resume_delivery(Session& s) {
  Connection& c = *s.connection;
  for (const Inflight& f : s.inflight) {
    if (f.state == Inflight::State::AwaitPubcomp) {
      reply(c, false, [&](std::string& out) {
        mqtt::encode_ack(out, mqtt::PacketType::Pubrel, f.packet_id);
      });
      continue;
    }
    const Message& m = *f.outgoing.message;
    reply(c, false, [&](std::string& out) {
      encode_publish(out, m.topic, m.payload, f.outgoing.qos, f.outgoing.retain, /*dup=*/true,
                     f.packet_id);
    });
    ++stats_.publish_sent;
  }
  pump_queue(s);
}

}  // namespace fieldgate::broker
