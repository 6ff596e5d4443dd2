// PUBLISH in both directions, the acknowledgement flows, and routing to subscribers.
#include <algorithm>

#include "broker/core.h"
#include "common/log.h"

namespace fieldgate::broker {
namespace {

// A client whose unsent output exceeds this loses further QoS 0 messages until it catches up
// (counted in $SYS/broker/publish/messages/dropped); QoS 1 and 2 wait in its session queue.
constexpr size_t kMaxPendingOutputQos0 = 1024 * 1024;
// Retained messages sent on subscribe may fill more, but not without bound: a client that
// subscribes again and again without reading must not make the broker hold every copy.
constexpr size_t kMaxPendingOutputRetained = 32 * 1024 * 1024;

}  // namespace

namespace {

// The properties of an MQTT 5 PUBLISH that travel with the message; null when it has none.
std::shared_ptr<const PublishProperties> kept_properties(const mqtt::Properties& p) {
  if (!p.payload_format_indicator && !p.content_type && !p.response_topic && !p.correlation_data &&
      p.user_properties.empty()) {
    return nullptr;
  }
  auto kept = std::make_shared<PublishProperties>();
  kept->payload_format_indicator = p.payload_format_indicator;
  if (p.content_type) kept->content_type = std::string(*p.content_type);
  if (p.response_topic) kept->response_topic = std::string(*p.response_topic);
  if (p.correlation_data) kept->correlation_data = std::string(*p.correlation_data);
  kept->user_properties.reserve(p.user_properties.size());
  for (const auto& [name, value] : p.user_properties)
    kept->user_properties.emplace_back(name, value);
  return kept;
}

}  // namespace

bool Core::handle_publish(Connection& c, const mqtt::Frame& frame) {
  mqtt::Publish& publish = incoming_publish_;
  if (mqtt::Error e = mqtt::decode_publish(frame, c.version, publish); e != mqtt::Error::None) {
    reject(c, mqtt::PacketType::Publish, e);
    return false;
  }
  ++stats_.publish_received;
  if (publish.qos > 0 && !store_error_.empty()) {
    // Never acknowledge what cannot be stored: the client keeps the message and sends it again.
    close(c,
          "QoS " + std::to_string(publish.qos) + " message refused: the state database " +
              "cannot store it (" + store_error_ + ")",
          false);
    return false;
  }
  Session& s = *c.session;
  const bool v5 = c.version == mqtt::Version::v5;
  Publication p{.topic = publish.topic,
                .payload = publish.payload,
                .qos = publish.qos,
                .retain = publish.retain,
                .from = &s};
  uint8_t reason = mqtt::reason::kSuccess;  // MQTT 5 PUBACK / PUBREC
  // Whether the PUBLISH has properties: its property length, after the topic and packet id, is
  // not zero. Most have none, and need none of the checks below.
  const bool has_properties =
      v5 && frame.body[2 + publish.topic.size() + (publish.qos > 0 ? 2 : 0)] != 0;
  if (has_properties) {
    const mqtt::Properties& props = publish.properties;
    if (!props.subscription_identifiers.empty()) {
      disconnect(c, mqtt::reason::kProtocolError,
                 "PUBLISH from a client carries a subscription identifier [MQTT-3.3.4-6]");
      return false;
    }
    if (props.topic_alias) {
      const uint16_t alias = *props.topic_alias;
      if (alias > kTopicAliasMaximum) {
        disconnect(c, mqtt::reason::kTopicAliasInvalid,
                   "topic alias " + std::to_string(alias) + " is above the topic alias maximum " +
                       std::to_string(kTopicAliasMaximum) + " given in CONNACK");
        return false;
      }
      if (!c.aliases) c.aliases = std::make_unique<Connection::Aliases>();
      std::vector<std::string>& inbound = c.aliases->inbound;
      if (publish.topic.empty()) {
        if (alias > inbound.size() || inbound[alias - 1].empty()) {
          disconnect(c, mqtt::reason::kProtocolError,
                     "PUBLISH with topic alias " + std::to_string(alias) +
                         " and no topic, but the alias was never set");
          return false;
        }
        p.topic = inbound[alias - 1];
      } else {
        if (inbound.size() < alias) inbound.resize(alias);
        inbound[alias - 1].assign(publish.topic);
      }
    }
    if (props.payload_format_indicator == 1 && !mqtt::valid_utf8_payload(publish.payload)) {
      if (publish.qos == 0) {
        disconnect(c, mqtt::reason::kPayloadFormatInvalid,
                   "PUBLISH on " + std::string(p.topic) +
                       " says its payload is UTF-8 (payload format indicator 1), but it is not");
        return false;
      }
      reason = mqtt::reason::kPayloadFormatInvalid;
    }
    if (props.message_expiry_interval) {
      p.expires_at_ms = now_ms() + int64_t{*props.message_expiry_interval} * 1000;
    }
  }
  if (v5) {
    // Our receive maximum bounds the QoS 2 messages the client may have in flight (QoS 1 are
    // acknowledged at once) [MQTT-3.3.4-9].
    if (publish.qos == 2 && !s.awaiting_pubrel.contains(publish.packet_id) &&
        s.awaiting_pubrel.size() >=
            std::clamp<uint32_t>(options_.max_inflight_messages, 1, 65535)) {
      disconnect(c, mqtt::reason::kReceiveMaximumExceeded,
                 "more QoS 2 messages in flight than the receive maximum " +
                     std::to_string(options_.max_inflight_messages) + " given in CONNACK");
      return false;
    }
  }
  // $SYS belongs to the broker: publishes there are acknowledged and dropped, as Mosquitto does.
  // A publish the ACL does not allow is acknowledged as usual and delivered to no one; MQTT 5
  // clients hear why (0x87), MQTT 3 ones cannot.
  bool deliverable = reason == mqtt::reason::kSuccess && !is_sys_topic(p.topic);
  if (deliverable && acl_ && !acl_->may_publish(s.client_id, s.username, p.topic)) {
    deliverable = false;
    reason = mqtt::reason::kNotAuthorized;
  }
  if (deliverable && has_properties) p.properties = kept_properties(publish.properties);
  auto ack = [&](mqtt::PacketType type, size_t mark) {
    reply(c, store_wrote_since(mark), [&](std::string& out) {
      // Success is the same four bytes in MQTT 3 and 5 (MQTT 5's short form).
      if (v5 && reason != mqtt::reason::kSuccess) {
        mqtt::encode_ack(
            out, type, mqtt::Ack{.packet_id = publish.packet_id, .reason_code = reason}, c.version);
      } else {
        mqtt::encode_ack(out, type, publish.packet_id);
      }
    });
  };
  size_t mark = store_mark();
  switch (publish.qos) {
    case 0:
      if (deliverable) route(p);
      break;
    case 1:
      if (deliverable && route(p) == 0 && reason == mqtt::reason::kSuccess) {
        reason = mqtt::reason::kNoMatchingSubscribers;
      }
      ack(mqtt::PacketType::Puback, mark);
      break;
    case 2:
      // Exactly once: a PUBLISH whose id still awaits PUBREL is a resend, already routed. A
      // refused one (reason >= 0x80) ends its flow with the PUBREC [MQTT-4.3.3-4].
      if (reason >= 0x80) {
        ack(mqtt::PacketType::Pubrec, mark);
        break;
      }
      if (s.awaiting_pubrel.insert(publish.packet_id).second) {
        store_inbound(s, publish.packet_id, true);
        if (deliverable && route(p) == 0 && reason == mqtt::reason::kSuccess) {
          reason = mqtt::reason::kNoMatchingSubscribers;
        }
      }
      ack(mqtt::PacketType::Pubrec, mark);
      break;
  }
  return true;
}

bool Core::handle_ack(Connection& c, const mqtt::Frame& frame) {
  mqtt::PacketType type = frame.header.type;
  const bool v5 = c.version == mqtt::Version::v5;
  mqtt::Ack& packet = incoming_ack_;
  // MQTT 3 acknowledgements carry the packet identifier alone: the lighter decoder will do.
  mqtt::Error e = v5 ? mqtt::decode_ack(frame, c.version, packet)
                     : mqtt::decode_ack(frame, c.version, packet.packet_id);
  if (!v5) packet.reason_code = mqtt::reason::kSuccess;
  if (e != mqtt::Error::None) {
    reject(c, type, e);
    return false;
  }
  const uint16_t id = packet.packet_id;
  Session& s = *c.session;
  // MQTT 5 replies to an unknown packet id with 0x92 [MQTT-4.3.3-?]; MQTT 3 with success.
  auto send_ack = [&](mqtt::PacketType reply_type, bool durable, bool known) {
    reply(c, durable, [&](std::string& out) {
      if (v5 && !known) {
        mqtt::Ack a{.packet_id = id,
                    .reason_code =
                        known ? mqtt::reason::kSuccess : mqtt::reason::kPacketIdentifierNotFound};
        mqtt::encode_ack(out, reply_type, a, c.version);
      } else {
        mqtt::encode_ack(out, reply_type, id);
      }
    });
  };
  if (type == mqtt::PacketType::Pubrel) {
    // PUBCOMP frees the id for the client's next message: the store must have let go of it.
    size_t mark = store_mark();
    bool known = s.awaiting_pubrel.erase(id) > 0;
    if (known) store_inbound(s, id, false);
    send_ack(mqtt::PacketType::Pubcomp, store_wrote_since(mark), known);
    return true;
  }
  auto it = std::find_if(s.inflight.begin(), s.inflight.end(),
                         [id](const Inflight& f) { return f.packet_id == id; });
  if (it == s.inflight.end()) {
    log::debug("broker", "client ", s.client_id, " acknowledged unknown packet id ", id, " with ",
               mqtt::packet_name(type));
    // A PUBREC we have no record of still gets its PUBREL, so the client can let go of the id.
    if (type == mqtt::PacketType::Pubrec && packet.reason_code < 0x80) {
      send_ack(mqtt::PacketType::Pubrel, false, false);
    }
    return true;
  }
  using State = Inflight::State;
  switch (type) {
    case mqtt::PacketType::Puback:
      if (it->state != State::AwaitPuback) return true;
      store_delivery_done(s, it->outgoing);
      s.inflight.erase(it);
      break;
    case mqtt::PacketType::Pubrec:
      if (it->state == State::AwaitPuback) return true;
      if (packet.reason_code >= 0x80) {
        // MQTT 5: the subscriber refused the message; its flow ends here [MQTT-4.3.3-4].
        store_delivery_done(s, it->outgoing);
        s.inflight.erase(it);
        break;
      }
      it->state = State::AwaitPubcomp;
      // Once the client has PUBREL it may complete and reuse the id: the store must know the
      // message was received, or a restart would send it again as a new delivery.
      store_delivery(s, it->outgoing, id, store::DeliveryState::Released);
      it->outgoing.message.reset();  // delivered: only the packet id remains to release
      send_ack(mqtt::PacketType::Pubrel, s.durable, true);
      return true;
    case mqtt::PacketType::Pubcomp:
      if (it->state != State::AwaitPubcomp) return true;
      store_delivery_done(s, it->outgoing);
      s.inflight.erase(it);
      break;
    default:
      return true;
  }
  pump_queue(s);
  return true;
}

size_t Core::route(const Publication& p) {
  MessagePtr message;  // built only when something must keep it
  auto keep = [&]() -> const MessagePtr& {
    if (!message) {
      message = std::make_shared<const Message>(Message{.topic = std::string(p.topic),
                                                        .payload = std::string(p.payload),
                                                        .qos = p.qos,
                                                        .properties = p.properties,
                                                        .expires_at_ms = p.expires_at_ms});
    }
    return message;
  };
  if (p.retain) {
    if (p.payload.empty()) {
      MessagePtr before = retained_.clear(p.topic);
      if (before) store_retained(before->topic, nullptr, before);
    } else {
      MessagePtr before = retained_.set(keep());
      store_retained(message->topic, message, before);
    }
  }

  // Overlapping subscriptions of one session collapse into one delivery at the highest QoS,
  // carrying every matching subscription's identifier. Each shared subscription that matches
  // gives one delivery to one of its members, in turn, preferring connected ones.
  ++route_stamp_;
  route_matches_.clear();
  route_shared_.clear();
  size_t matched = 0;
  auto readable = [&](const TopicTree::Subscriber& sub) {
    // A subscription the ACL grants in part receives only the topics its user may read.
    return !sub.check_read ||
           acl_->may_read(sub.session->client_id, sub.session->username, p.topic);
  };
  subscriptions_.match(
      p.topic,
      [&](const TopicTree::Subscriber& sub) {
        Session* s = sub.session;
        if (sub.options.no_local && s == p.from) return;
        if (!readable(sub)) return;
        ++matched;
        if (s->route_stamp != route_stamp_) {
          s->route_stamp = route_stamp_;
          s->route_qos = sub.options.qos;
          s->route_retain = sub.options.retain_as_published;
          if (!s->route_ids.empty()) s->route_ids.clear();
          route_matches_.push_back(s);
        } else {
          s->route_qos = std::max(s->route_qos, sub.options.qos);
          s->route_retain |= sub.options.retain_as_published;
        }
        if (sub.options.identifier != 0) s->route_ids.push_back(sub.options.identifier);
      },
      [&](const TopicTree::SharedGroup& group) {
        const size_t n = group.members.size();
        const TopicTree::Subscriber* chosen = nullptr;
        for (int pass = 0; pass < 2 && !chosen; ++pass) {
          for (size_t k = 0; k < n; ++k) {
            const TopicTree::Subscriber& m = group.members[(group.next + k) % n];
            if ((pass == 1 || m.session->connection) && readable(m)) {
              chosen = &m;
              group.next = (group.next + k + 1) % n;
              break;
            }
          }
        }
        if (!chosen) return;
        ++matched;
        route_shared_.push_back({chosen->session, chosen, &group});
      });
  for (Session* s : route_matches_) {
    if (s == &internal_session_) {
      deliver_internal(p.topic, p.payload, p.qos, p.retain, p.properties.get());
      continue;
    }
    const uint8_t delivery_qos = std::min(p.qos, s->route_qos);
    // RETAIN is cleared on the way to subscribers, unless one asked for it as published.
    const bool retain = p.retain && s->route_retain;
    if (delivery_qos == 0) {
      if (s->connection) {
        deliver_qos0(*s->connection, p.topic, p.payload, retain, p.properties.get(),
                     p.expires_at_ms, s->route_ids.empty() ? nullptr : &s->route_ids);
      }
    } else {
      deliver(*s,
              Outgoing{.message = keep(),
                       .qos = delivery_qos,
                       .retain = retain,
                       .via = s->route_ids.empty() ? nullptr : Outgoing::make_via(s->route_ids)});
    }
  }
  for (const SharedMatch& m : route_shared_) {
    const SubscriptionOptions& o = m.member->options;
    const uint8_t delivery_qos = std::min(p.qos, o.qos);
    const bool retain = p.retain && o.retain_as_published;
    std::vector<uint32_t> ids;
    if (o.identifier != 0) ids.push_back(o.identifier);
    if (delivery_qos == 0) {
      if (m.session->connection) {
        deliver_qos0(*m.session->connection, p.topic, p.payload, retain, p.properties.get(),
                     p.expires_at_ms, ids.empty() ? nullptr : &ids);
      }
    } else {
      deliver(*m.session, Outgoing{.message = keep(),
                                   .qos = delivery_qos,
                                   .retain = retain,
                                   .via = Outgoing::make_via(std::move(ids), m.group->filter)});
    }
  }
  return matched;
}

bool Core::prepare_publish(const Connection& c, std::string_view topic, std::string_view payload,
                           uint8_t qos, bool retain, const PublishProperties* properties,
                           int64_t expires_at_ms, const std::vector<uint32_t>* subscription_ids) {
  mqtt::Publish& out = outgoing_publish_;
  out.topic = topic;
  out.payload = payload;
  out.qos = qos;
  out.retain = retain;
  if (c.version != mqtt::Version::v5) return true;
  if (properties || expires_at_ms != 0 || subscription_ids) {
    mqtt::Properties& p = out.properties;
    outgoing_has_properties_ = true;
    if (properties) {
      p.payload_format_indicator = properties->payload_format_indicator;
      p.content_type = properties->content_type;
      p.response_topic = properties->response_topic;
      p.correlation_data = properties->correlation_data;
      for (const auto& [name, value] : properties->user_properties)
        p.user_properties.emplace_back(name, value);
    }
    if (expires_at_ms != 0) {
      // What is left of the interval, rounded up: the subscriber's copy expires no earlier.
      int64_t left_ms = std::max<int64_t>(0, expires_at_ms - now_ms());
      p.message_expiry_interval = static_cast<uint32_t>((left_ms + 999) / 1000);
    }
    if (subscription_ids) p.subscription_identifiers = *subscription_ids;
  }
  if (c.max_packet_size != 0) {
    // A topic alias may add three bytes (it replaces the topic only once it is known).
    size_t size = mqtt::publish_size(out, c.version) + (c.topic_alias_maximum > 0 ? 3 : 0);
    if (size > c.max_packet_size) {
      if (outgoing_has_properties_) out.properties.clear();
      outgoing_has_properties_ = false;
      return false;
    }
  }
  return true;
}

void Core::write_publish(Connection& c, std::string& out, bool dup, uint16_t packet_id) {
  mqtt::Publish& p = outgoing_publish_;
  p.dup = dup;
  p.packet_id = packet_id;
  if (c.version != mqtt::Version::v5) {
    mqtt::encode_publish(out, p);
    return;
  }
  if (c.topic_alias_maximum > 0) {
    // Topic aliases towards the client: the first PUBLISH on a topic sets one (while the
    // client's maximum allows), the later ones send the alias alone.
    if (!c.aliases) c.aliases = std::make_unique<Connection::Aliases>();
    auto& outbound = c.aliases->outbound;
    if (auto it = outbound.find(p.topic); it != outbound.end()) {
      p.properties.topic_alias = it->second;
      p.topic = {};
      outgoing_has_properties_ = true;
    } else if (outbound.size() < c.topic_alias_maximum) {
      auto alias = static_cast<uint16_t>(outbound.size() + 1);
      outbound.emplace(std::string(p.topic), alias);
      p.properties.topic_alias = alias;
      outgoing_has_properties_ = true;
    }
  }
  mqtt::encode_publish(out, p, c.version);
  if (outgoing_has_properties_) {
    p.properties.clear();
    outgoing_has_properties_ = false;
  }
}

void Core::deliver_qos0(Connection& c, std::string_view topic, std::string_view payload,
                        bool retain, const PublishProperties* properties, int64_t expires_at_ms,
                        const std::vector<uint32_t>* subscription_ids) {
  if (c.pending_output() > (retain ? kMaxPendingOutputRetained : kMaxPendingOutputQos0)) {
    ++stats_.publish_dropped;
    return;
  }
  if (plain_publish(c, properties, expires_at_ms, subscription_ids)) {
    reply(c, false, [&](std::string& out) {
      encode_publish(out, c.version, topic, payload, 0, retain, false, 0);
    });
  } else {
    if (!prepare_publish(c, topic, payload, 0, retain, properties, expires_at_ms,
                         subscription_ids)) {
      ++stats_.publish_dropped;  // larger than the client accepts
      return;
    }
    reply(c, false, [&](std::string& out) { write_publish(c, out, false, 0); });
  }
  ++stats_.publish_sent;
}

// A QoS 1 or 2 message for session s: sent now if its client is connected and has a free
// in-flight slot, queued otherwise (and dropped, counted, when the queue is full).
void Core::deliver(Session& s, Outgoing outgoing) {
  bool send_now = s.connection && s.queue.empty() && s.inflight.size() < inflight_window(s);
  if (!send_now && s.queue.size() >= options_.max_queued_messages) {
    ++stats_.publish_dropped;
    log::debug("broker", "queue of client ", s.client_id, " full (max_queued_messages ",
               options_.max_queued_messages, "): message on ", outgoing.message->topic, " dropped");
    return;
  }
  store_delivery(s, outgoing, 0, store::DeliveryState::Queued);
  if (send_now) {
    send_inflight(s, std::move(outgoing));
  } else {
    s.queue.push_back(std::move(outgoing));
  }
}

void Core::send_inflight(Session& s, Outgoing outgoing) {
  Connection& c = *s.connection;
  const Message& m = *outgoing.message;
  // An expired message is not sent [MQTT-3.3.2-5]; nor one larger than the client accepts
  // [MQTT-3.1.2-25]: both are done with as if delivered.
  if (m.expires_at_ms != 0 && m.expires_at_ms <= now_ms()) {
    store_delivery_done(s, outgoing);
    return;
  }
  const bool plain = plain_publish(c, m.properties.get(), m.expires_at_ms, outgoing.ids());
  if (!plain && !prepare_publish(c, m.topic, m.payload, outgoing.qos, outgoing.retain,
                                 m.properties.get(), m.expires_at_ms, outgoing.ids())) {
    log::debug("broker", "message on ", m.topic, " not sent to client ", s.client_id,
               ": larger than its maximum packet size ", c.max_packet_size);
    ++stats_.publish_dropped;
    store_delivery_done(s, outgoing);
    return;
  }
  uint16_t id = s.next_packet_id();
  // The sent state is recorded so that a restart resends in order with DUP set (usually in the
  // same batch as the delivery itself). A QoS 2 packet id must be on disk before the PUBLISH
  // leaves: after a crash the message goes again under the same id, which the client knows as
  // a duplicate. A QoS 1 PUBLISH need not wait: a second copy is a duplicate QoS 1 allows.
  bool durable = outgoing.qos == 2 && s.durable;
  store_delivery(s, outgoing, id, store::DeliveryState::Sent);
  reply(c, durable, [&](std::string& out) {
    if (plain) {
      encode_publish(out, c.version, m.topic, m.payload, outgoing.qos, outgoing.retain, false, id);
    } else {
      write_publish(c, out, false, id);
    }
  });
  ++stats_.publish_sent;
  Inflight::State state =
      outgoing.qos == 1 ? Inflight::State::AwaitPuback : Inflight::State::AwaitPubrec;
  s.inflight.push_back(Inflight{id, state, std::move(outgoing)});
}

// Moves queued messages into the in-flight window as acknowledgements free it.
void Core::pump_queue(Session& s) {
  while (s.connection && !s.queue.empty() && s.inflight.size() < inflight_window(s)) {
    Outgoing next = std::move(s.queue.front());
    s.queue.pop_front();
    send_inflight(s, std::move(next));
  }
}

// MQTT 5, 4.8.2: when a member of a shared subscription goes away, the messages it has not
// acknowledged go to another member that is connected; without one they stay where they are.
void Core::hand_over_shared(Session& s) {
  auto pick = [&](const std::string& shared) -> const TopicTree::Subscriber* {
    const TopicTree::SharedGroup* group = subscriptions_.find_shared(shared);
    if (!group) return nullptr;
    const size_t n = group->members.size();
    for (size_t k = 0; k < n; ++k) {
      const TopicTree::Subscriber& m = group->members[(group->next + k) % n];
      if (m.session != &s && m.session->connection) {
        group->next = (group->next + k + 1) % n;
        return &m;
      }
    }
    return nullptr;
  };
  auto hand_over = [&](Outgoing& o, const TopicTree::Subscriber& member) {
    MessagePtr message = o.message;
    std::string shared = std::move(o.via->shared);
    store_delivery_done(s, o);
    const uint8_t qos = std::min(message->qos, member.options.qos);
    std::vector<uint32_t> ids;
    if (member.options.identifier != 0) ids.push_back(member.options.identifier);
    log::debug("broker", "message on ", message->topic, " handed from ", s.client_id, " to ",
               member.session->client_id, " (", shared, ")");
    if (qos == 0) {
      deliver_qos0(*member.session->connection, message->topic, message->payload, o.retain,
                   message->properties.get(), message->expires_at_ms, ids.empty() ? nullptr : &ids);
      return;
    }
    deliver(*member.session,
            Outgoing{.message = std::move(message),
                     .qos = qos,
                     .retain = o.retain,
                     .via = Outgoing::make_via(std::move(ids), std::move(shared))});
  };
  for (size_t i = 0; i < s.inflight.size();) {
    Inflight& f = s.inflight[i];
    const TopicTree::Subscriber* member = nullptr;
    if (f.outgoing.shared() && f.state != Inflight::State::AwaitPubcomp) {
      member = pick(*f.outgoing.shared());
    }
    if (!member) {
      ++i;
      continue;
    }
    Outgoing o = std::move(f.outgoing);
    s.inflight.erase(s.inflight.begin() + static_cast<std::ptrdiff_t>(i));
    hand_over(o, *member);
  }
  std::vector<std::pair<Outgoing, const TopicTree::Subscriber*>> moving;
  s.queue.remove_if([&](Outgoing& o) {
    if (!o.shared()) return false;
    const TopicTree::Subscriber* member = pick(*o.shared());
    if (!member) return false;
    moving.emplace_back(std::move(o), member);
    return true;
  });
  for (auto& [o, member] : moving)
    hand_over(o, *member);
}

}  // namespace fieldgate::broker
