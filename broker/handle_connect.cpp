// CONNECT: protocol checks, authentication, client ids, session takeover and resumption.
#include <algorithm>
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
  for (const auto& [filter, options] : s.subscriptions) {
    std::string_view group, real = filter;
    split_shared(filter, group, real);
    auto access = acl_->may_subscribe(s.client_id, s.username, real);
    subscriptions_.add(filter, &s, options, /*check_read=*/access != auth::SubscribeAccess::All);
  }
}

void Core::refuse_connect(Connection& c, uint8_t return_code, std::string_view why,
                          uint8_t reason_code) {
  const bool v5 = c.version == mqtt::Version::v5;
  log::warn("broker", "refused connection from ", c.address(), ": ", why, " (CONNACK ",
            static_cast<int>(v5 ? reason_code : return_code), ")");
  if (v5) {
    mqtt::Connack connack{.return_code = reason_code};
    connack.properties.reason_string = why;
    mqtt::encode_connack(c.output, connack, mqtt::Version::v5);
  } else {
    mqtt::encode_connack(c.output, mqtt::Connack{false, return_code});
  }
  sent_packet(c);
  c.close_after_flush = true;
}

namespace {

// A will as the broker keeps it, with its MQTT 5 properties.
std::unique_ptr<WillMessage> make_will(const mqtt::Will& w) {
  auto will = std::make_unique<WillMessage>(
      WillMessage{std::string(w.topic), std::string(w.payload), w.qos, w.retain});
  const mqtt::Properties& p = w.properties;
  will->delay_s = p.will_delay_interval.value_or(0);
  if (p.payload_format_indicator || p.message_expiry_interval || p.content_type ||
      p.response_topic || p.correlation_data || !p.user_properties.empty()) {
    auto props = std::make_shared<PublishProperties>();
    props->payload_format_indicator = p.payload_format_indicator;
    props->message_expiry_interval = p.message_expiry_interval;
    if (p.content_type) props->content_type = std::string(*p.content_type);
    if (p.response_topic) props->response_topic = std::string(*p.response_topic);
    if (p.correlation_data) props->correlation_data = std::string(*p.correlation_data);
    for (const auto& [name, value] : p.user_properties)
      props->user_properties.emplace_back(name, value);
    will->properties = std::move(props);
  }
  return will;
}

}  // namespace

bool Core::handle_connect(Connection& c, const mqtt::Frame& frame) {
  mqtt::Connect connect;
  mqtt::Error error = mqtt::decode_connect(frame, connect);
  if (error == mqtt::Error::UnsupportedProtocolLevel) {
    refuse_connect(c, mqtt::connack::kUnacceptableProtocolVersion,
                   std::string("protocol ") + std::string(connect.protocol_name) + " level " +
                       std::to_string(static_cast<int>(connect.version)) +
                       " is not supported (fieldgate speaks MQTT 3.1, 3.1.1 and 5.0)");
    return false;
  }
  if (error != mqtt::Error::None) {
    if (connect.version == mqtt::Version::v5) {
      // An MQTT 5 client hears why [MQTT-3.1.4-1], with the reason code the rule names.
      c.version = mqtt::Version::v5;
      refuse_connect(c, 0, std::string("invalid CONNECT: ") + mqtt::describe(error),
                     mqtt::reason_code_for(error));
      return false;
    }
    close(c, std::string("invalid CONNECT: ") + mqtt::describe(error), false);
    return false;
  }
  c.version = connect.version;
  const bool v5 = c.version == mqtt::Version::v5;
  const mqtt::Properties& props = connect.properties;

  if (props.authentication_method) {
    refuse_connect(c, mqtt::connack::kNotAuthorized,
                   "authentication method " + std::string(*props.authentication_method) +
                       " is not supported (fieldgate authenticates by user name and password or "
                       "client certificate); connect without an authentication method",
                   mqtt::reason::kBadAuthenticationMethod);
    return false;
  }

  std::string client_id(connect.client_id);
  bool assigned_id = false;
  if (client_id.empty()) {
    if (connect.version == mqtt::Version::v31) {
      refuse_connect(c, mqtt::connack::kIdentifierRejected,
                     "MQTT 3.1 requires a client id; give the client one");
      return false;
    }
    // MQTT 5 lets the server assign an id whatever Clean Start says [MQTT-3.1.3-6]; 3.1.1 only
    // with a clean session [MQTT-3.1.3-7].
    if (!connect.clean_session && !v5) {
      refuse_connect(c, mqtt::connack::kIdentifierRejected,
                     "an empty client id needs clean session; give the client an id");
      return false;
    }
    client_id = generated_client_id();
    assigned_id = v5;
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
                       "use_identity_as_username needs",
                   mqtt::reason::kBadUserNameOrPassword);
    return false;
  }
  if (!by_identity && !authenticate(connect)) {
    // One line, the same whether the user or the password was wrong.
    refuse_connect(
        c, mqtt::connack::kNotAuthorized, "client " + client_id + " not authorized",
        connect.username ? mqtt::reason::kBadUserNameOrPassword : mqtt::reason::kNotAuthorized);
    return false;
  }

  // MQTT 5 lets the server impose its keep-alive (Server Keep Alive); MQTT 3 can only refuse.
  uint16_t keep_alive = connect.keep_alive;
  std::optional<uint16_t> server_keep_alive;
  if (keep_alive > options_.max_keepalive_s) {
    if (!v5) {
      refuse_connect(c, mqtt::connack::kIdentifierRejected,
                     "client " + client_id + " asks for keep-alive " +
                         std::to_string(connect.keep_alive) + " s, more than max_keepalive_s (" +
                         std::to_string(options_.max_keepalive_s) + ")");
      return false;
    }
    keep_alive = static_cast<uint16_t>(options_.max_keepalive_s);
    server_keep_alive = keep_alive;
  }

  if (connect.will && connect.will->properties.payload_format_indicator == 1 &&
      !mqtt::valid_utf8(connect.will->payload)) {
    refuse_connect(c, 0,
                   "client " + client_id +
                       " left a will whose payload format indicator says UTF-8, but the payload "
                       "is not valid UTF-8",
                   mqtt::reason::kPayloadFormatInvalid);
    return false;
  }

  // Session expiry: MQTT 3.1.1 clean session 1 is expiry 0 (the session ends with the
  // connection), clean session 0 is "never" [MQTT 5, 3.1.2.11.2]; persistent_session_expiry_s
  // caps both MQTT 3 and MQTT 5 sessions when set.
  uint32_t requested_expiry =
      v5 ? props.session_expiry_interval.value_or(0) : (connect.clean_session ? 0 : UINT32_MAX);
  uint32_t expiry_s = requested_expiry == UINT32_MAX ? 0 : requested_expiry;  // 0: never
  std::optional<uint32_t> server_expiry;
  if (requested_expiry != 0 && options_.persistent_session_expiry_s != 0 &&
      (expiry_s == 0 || expiry_s > options_.persistent_session_expiry_s)) {
    expiry_s = options_.persistent_session_expiry_s;
    server_expiry = expiry_s;
  }
  const bool ends_with_connection = requested_expiry == 0;

  bool session_present = false;
  size_t mark = store_mark();
  Session& session =
      attach_session(c, client_id, connect.clean_session, ends_with_connection, session_present);
  session.clean = ends_with_connection;
  std::optional<std::string> username;
  if (by_identity) {
    username = c.transport->identity;
  } else if (connect.username) {
    username = std::string(*connect.username);
  }
  if (session.protocol != static_cast<uint8_t>(c.version) || !session_present ||
      session.username != username || session.expiry_s != expiry_s) {
    session.protocol = static_cast<uint8_t>(c.version);
    session.username = std::move(username);
    session.expiry_s = expiry_s;
    store_session(session);
  }
  // Back within its will delay: the will of its last connection is not published.
  session.pending_will.reset();
  session.receive_maximum = props.receive_maximum.value_or(65535);
  if (session_present) apply_acl(session);
  c.state = Connection::State::Connected;
  c.keep_alive_s = keep_alive;
  c.max_packet_size = props.maximum_packet_size.value_or(0);
  c.topic_alias_maximum = props.topic_alias_maximum.value_or(0);
  c.session_expiry_zero = requested_expiry == 0;
  if (connect.will && is_sys_topic(connect.will->topic)) {
    log::warn("broker", "client ", session.client_id, " left a will on ", connect.will->topic,
              ": $SYS belongs to the broker, the will is ignored");
  } else if (connect.will && acl_ &&
             !acl_->may_publish(session.client_id, session.username, connect.will->topic)) {
    log::warn("broker", "client ", session.client_id, " left a will on ", connect.will->topic,
              ", which the ACL does not let it publish to: the will is ignored");
  } else if (connect.will) {
    c.will = make_will(*connect.will);
  }
  // Keep-alive is enforced at 1.5 times the interval; 0 turns it off (and drops the connect
  // deadline, whose entry no longer matches timer_due).
  if (keep_alive == 0) {
    c.timer_due = Clock::time_point::max();
  } else {
    schedule_timer(c, c.last_received + std::chrono::milliseconds(keep_alive * 1500));
  }

  // MQTT 3.1 has no session-present flag: its CONNACK byte is reserved.
  bool present_flag = session_present && c.version != mqtt::Version::v31;
  ++stats_.connects_accepted;
  // The session present flag must hold after a crash too: a discarded or new session is on disk
  // before the client hears of it.
  reply(c, store_wrote_since(mark), [&](std::string& out) {
    if (!v5) {
      mqtt::encode_connack(out, mqtt::Connack{present_flag, mqtt::connack::kAccepted});
      return;
    }
    // What the broker supports, so that the client need not find out by being disconnected.
    mqtt::Connack connack{.session_present = present_flag};
    mqtt::Properties& p = connack.properties;
    p.receive_maximum =
        static_cast<uint16_t>(std::clamp<uint32_t>(options_.max_inflight_messages, 1, 65535));
    p.topic_alias_maximum = kTopicAliasMaximum;
    p.retain_available = true;
    p.maximum_packet_size = options_.max_packet_size;
    p.wildcard_subscription_available = true;
    p.subscription_identifiers_available = true;
    p.shared_subscription_available = true;
    p.session_expiry_interval = server_expiry;
    p.server_keep_alive = server_keep_alive;
    if (assigned_id) p.assigned_client_identifier = session.client_id;
    mqtt::encode_connack(out, connack, mqtt::Version::v5);
  });
  log::info("broker", "client ", session.client_id, " connected from ", c.address(), " (MQTT ",
            version_name(c.version), ", clean ", connect.clean_session, ", keep-alive ", keep_alive,
            " s", session_present ? ", session resumed" : "", ")");
  if (session_present) resume_delivery(session);
  return true;
}

Session& Core::attach_session(Connection& c, std::string client_id, bool clean_start,
                              bool ends_with_connection, bool& present) {
  auto it = sessions_.find(client_id);
  if (it != sessions_.end() && it->second->connection) {
    // Takeover: the newest connection wins. Closing the old one first ends its session if that
    // was a clean one.
    disconnect(*it->second->connection, mqtt::reason::kSessionTakenOver,
               "taken over by a new connection with the same client id");
    it = sessions_.find(client_id);
  }
  if (it != sessions_.end() && !it->second->clean && it->second->expiry_s != 0 &&
      it->second->last_seen_ms + int64_t{it->second->expiry_s} * 1000 < now_ms()) {
    end_session(*it->second);  // expired between two checks
    it = sessions_.end();
  }
  if (it != sessions_.end() && clean_start) {
    end_session(*it->second);
    it = sessions_.end();
  }
  present = it != sessions_.end();
  if (!present) {
    bool clean = ends_with_connection;
    auto session = std::make_unique<Session>(client_id, clean, /*durable=*/writer_ && !clean);
    it = sessions_.emplace(std::move(client_id), std::move(session)).first;
  }
  Session& s = *it->second;
  s.connection = &c;
  c.session = &s;
  return s;
}

void Core::end_session(Session& s) {
  if (s.pending_will) {
    // The session ends before the will delay is over: the will goes now [MQTT-3.1.2-8].
    std::unique_ptr<WillMessage> will = std::move(s.pending_will);
    publish_will(*will);
  }
  store_session_gone(s);
  for (const auto& [filter, options] : s.subscriptions)
    subscriptions_.remove(filter, &s);
  std::string id = s.client_id;  // s (and its id) go with the erase
  sessions_.erase(id);
}

// A persistent session's client is back: resend what it has not acknowledged, with DUP set on
// PUBLISH (as the specification requires on reconnect), then carry on with the queue.
void Core::resume_delivery(Session& s) {
  Connection& c = *s.connection;
  for (size_t i = 0; i < s.inflight.size();) {
    Inflight& f = s.inflight[i];
    if (f.state == Inflight::State::AwaitPubcomp) {
      reply(c, false, [&](std::string& out) {
        mqtt::encode_ack(out, mqtt::PacketType::Pubrel, f.packet_id);
      });
      ++i;
      continue;
    }
    const Message& m = *f.outgoing.message;
    if (!prepare_publish(c, m.topic, m.payload, f.outgoing.qos, f.outgoing.retain,
                         m.properties.get(), m.expires_at_ms, f.outgoing.ids())) {
      // Larger than the new connection accepts: done with, as if delivered [MQTT-3.1.2-25].
      ++stats_.publish_dropped;
      store_delivery_done(s, f.outgoing);
      s.inflight.erase(s.inflight.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    uint16_t id = f.packet_id;
    reply(c, false, [&](std::string& out) { write_publish(c, out, /*dup=*/true, id); });
    ++stats_.publish_sent;
    ++i;
  }
  pump_queue(s);
}

}  // namespace fieldgate::broker

namespace fieldgate::broker {

void Core::publish_will(WillMessage& will) {
  Publication p{.topic = will.topic,
                .payload = will.payload,
                .qos = will.qos,
                .retain = will.retain,
                .properties = will.properties};
  if (will.properties && will.properties->message_expiry_interval) {
    p.expires_at_ms = now_ms() + int64_t{*will.properties->message_expiry_interval} * 1000;
  }
  route(p);
}

}  // namespace fieldgate::broker
