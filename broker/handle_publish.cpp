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

bool Core::handle_publish(Connection& c, const mqtt::Frame& frame) {
  mqtt::Publish& publish = incoming_publish_;
  if (mqtt::Error e = mqtt::decode_publish(frame, c.version, publish); e != mqtt::Error::None) {
    close(c, std::string("invalid PUBLISH: ") + mqtt::describe(e), true);
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
  // $SYS belongs to the broker: publishes there are acknowledged and dropped, as Mosquitto does.
  // A publish the ACL does not allow is acknowledged as usual and delivered to no one.
  bool deliverable = !is_sys_topic(publish.topic) &&
                     (!acl_ || acl_->may_publish(s.client_id, s.username, publish.topic));
  size_t mark = store_mark();
  switch (publish.qos) {
    case 0:
      if (deliverable) route(publish.topic, publish.payload, 0, publish.retain);
      break;
    case 1:
      if (deliverable) route(publish.topic, publish.payload, 1, publish.retain);
      reply(c, store_wrote_since(mark), [&](std::string& out) {
        mqtt::encode_ack(out, mqtt::PacketType::Puback, publish.packet_id);
      });
      break;
    case 2:
      // Exactly once: a PUBLISH whose id still awaits PUBREL is a resend, already routed.
      if (s.awaiting_pubrel.insert(publish.packet_id).second) {
        store_inbound(s, publish.packet_id, true);
        if (deliverable) route(publish.topic, publish.payload, 2, publish.retain);
      }
      reply(c, store_wrote_since(mark), [&](std::string& out) {
        mqtt::encode_ack(out, mqtt::PacketType::Pubrec, publish.packet_id);
      });
      break;
  }
  return true;
}

bool Core::handle_ack(Connection& c, const mqtt::Frame& frame) {
  mqtt::PacketType type = frame.header.type;
  uint16_t id = 0;
  if (mqtt::Error e = mqtt::decode_ack(frame, c.version, id); e != mqtt::Error::None) {
    close(c, std::string("invalid ") + mqtt::packet_name(type) + ": " + mqtt::describe(e), true);
    return false;
  }
  Session& s = *c.session;
  if (type == mqtt::PacketType::Pubrel) {
    // PUBCOMP frees the id for the client's next message: the store must have let go of it.
    size_t mark = store_mark();
    if (s.awaiting_pubrel.erase(id) > 0) store_inbound(s, id, false);
    reply(c, store_wrote_since(mark),
          [&](std::string& out) { mqtt::encode_ack(out, mqtt::PacketType::Pubcomp, id); });
    return true;
  }
  auto it = std::find_if(s.inflight.begin(), s.inflight.end(),
                         [id](const Inflight& f) { return f.packet_id == id; });
  if (it == s.inflight.end()) {
    log::debug("broker", "client ", s.client_id, " acknowledged unknown packet id ", id, " with ",
               mqtt::packet_name(type));
    // A PUBREC we have no record of still gets its PUBREL, so the client can let go of the id.
    if (type == mqtt::PacketType::Pubrec) {
      reply(c, false,
            [&](std::string& out) { mqtt::encode_ack(out, mqtt::PacketType::Pubrel, id); });
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
      it->state = State::AwaitPubcomp;
      // Once the client has PUBREL it may complete and reuse the id: the store must know the
      // message was received, or a restart would send it again as a new delivery.
      store_delivery(s, it->outgoing, id, store::DeliveryState::Released);
      it->outgoing.message.reset();  // delivered: only the packet id remains to release
      reply(c, s.durable,
            [&](std::string& out) { mqtt::encode_ack(out, mqtt::PacketType::Pubrel, id); });
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

void Core::route(std::string_view topic, std::string_view payload, uint8_t qos, bool retain) {
  MessagePtr message;  // built only when something must keep it
  auto keep = [&]() -> const MessagePtr& {
    if (!message) {
      message = std::make_shared<const Message>(
          Message{.topic = std::string(topic), .payload = std::string(payload), .qos = qos});
    }
    return message;
  };
  if (retain) {
    if (payload.empty()) {
      MessagePtr before = retained_.clear(topic);
      if (before) store_retained(before->topic, nullptr, before);
    } else {
      MessagePtr before = retained_.set(keep());
      store_retained(message->topic, message, before);
    }
  }

  // Overlapping subscriptions of one session collapse into one delivery at the highest QoS.
  ++route_stamp_;
  route_matches_.clear();
  subscriptions_.match(topic, [&](Session* s, uint8_t granted, bool check_read) {
    // A subscription the ACL grants in part receives only the topics its user may read.
    if (check_read && !acl_->may_read(s->client_id, s->username, topic)) return;
    if (s->route_stamp != route_stamp_) {
      s->route_stamp = route_stamp_;
      s->route_qos = granted;
      route_matches_.push_back(s);
    } else {
      s->route_qos = std::max(s->route_qos, granted);
    }
  });
  for (Session* s : route_matches_) {
    if (s == &internal_session_) {
      deliver_internal(topic, payload, qos, retain);
      continue;
    }
    uint8_t delivery_qos = std::min(qos, s->route_qos);
    if (delivery_qos == 0) {
      if (s->connection) deliver_qos0(*s->connection, topic, payload, /*retain=*/false);
    } else {
      deliver(*s, Outgoing{.message = keep(), .qos = delivery_qos});
    }
  }
}

void Core::deliver_qos0(Connection& c, std::string_view topic, std::string_view payload,
                        bool retain) {
  if (c.pending_output() > (retain ? kMaxPendingOutputRetained : kMaxPendingOutputQos0)) {
    ++stats_.publish_dropped;
    return;
  }
  reply(c, false,
        [&](std::string& out) { encode_publish(out, topic, payload, 0, retain, false, 0); });
  ++stats_.publish_sent;
}

// A QoS 1 or 2 message for session s: sent now if its client is connected and has a free
// in-flight slot, queued otherwise (and dropped, counted, when the queue is full).
void Core::deliver(Session& s, Outgoing outgoing) {
  bool send_now =
      s.connection && s.queue.empty() && s.inflight.size() < options_.max_inflight_messages;
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
  uint16_t id = s.next_packet_id();
  // The sent state is recorded so that a restart resends in order with DUP set (usually in the
  // same batch as the delivery itself). A QoS 2 packet id must be on disk before the PUBLISH
  // leaves: after a crash the message goes again under the same id, which the client knows as
  // a duplicate. A QoS 1 PUBLISH need not wait: a second copy is a duplicate QoS 1 allows.
  bool durable = outgoing.qos == 2 && s.durable;
  store_delivery(s, outgoing, id, store::DeliveryState::Sent);
  const Message& m = *outgoing.message;
  reply(c, durable, [&](std::string& out) {
    encode_publish(out, m.topic, m.payload, outgoing.qos, outgoing.retain, false, id);
  });
  ++stats_.publish_sent;
  Inflight::State state =
      outgoing.qos == 1 ? Inflight::State::AwaitPuback : Inflight::State::AwaitPubrec;
  s.inflight.push_back(Inflight{id, state, std::move(outgoing)});
}

// Moves queued messages into the in-flight window as acknowledgements free it.
void Core::pump_queue(Session& s) {
  while (s.connection && !s.queue.empty() && s.inflight.size() < options_.max_inflight_messages) {
    Outgoing next = std::move(s.queue.front());
    s.queue.pop_front();
    send_inflight(s, std::move(next));
  }
}

}  // namespace fieldgate::broker
