// SUBSCRIBE and UNSUBSCRIBE, and the retained messages a new subscription receives.
#include "broker/core.h"
#include "common/log.h"

namespace fieldgate::broker {

bool Core::handle_subscribe(Connection& c, const mqtt::Frame& frame) {
  mqtt::Subscribe subscribe;
  if (mqtt::Error e = mqtt::decode_subscribe(frame, c.version, subscribe); e != mqtt::Error::None) {
    close(c, std::string("invalid SUBSCRIBE: ") + mqtt::describe(e), true);
    return false;
  }
  Session& s = *c.session;
  mqtt::Suback suback{subscribe.packet_id, {}};
  suback.return_codes.reserve(subscribe.subscriptions.size());
  for (const mqtt::Subscription& sub : subscribe.subscriptions) {
    subscriptions_.add(sub.filter, &s, sub.qos);
    s.subscriptions[std::string(sub.filter)] = sub.qos;
    suback.return_codes.push_back(sub.qos);
    log::debug("broker", "client ", s.client_id, " subscribed to ", sub.filter, " (QoS ",
               static_cast<int>(sub.qos), ")");
  }
  mqtt::encode_suback(c.output, suback);
  sent_packet(c);

  // Retained messages follow the SUBACK, with RETAIN set, at min(their QoS, the granted QoS).
  // A repeated SUBSCRIBE to the same filter sends them again, as the specification requires.
  for (const mqtt::Subscription& sub : subscribe.subscriptions) {
    retained_.match(sub.filter, [&](const MessagePtr& m) {
      uint8_t qos = std::min(m->qos, sub.qos);
      if (qos == 0) {
        if (s.connection) deliver_qos0(c, m->topic, m->payload, /*retain=*/true);
      } else {
        deliver(s, Outgoing{m, qos, /*retain=*/true});
      }
    });
  }
  return true;
}

bool Core::handle_unsubscribe(Connection& c, const mqtt::Frame& frame) {
  mqtt::Unsubscribe unsubscribe;
  if (mqtt::Error e = mqtt::decode_unsubscribe(frame, c.version, unsubscribe);
      e != mqtt::Error::None) {
    close(c, std::string("invalid UNSUBSCRIBE: ") + mqtt::describe(e), true);
    return false;
  }
  Session& s = *c.session;
  for (std::string_view filter : unsubscribe.filters) {
    // Unknown filters are fine: UNSUBACK is sent either way.
    if (auto it = s.subscriptions.find(std::string(filter)); it != s.subscriptions.end()) {
      subscriptions_.remove(filter, &s);
      s.subscriptions.erase(it);
    }
  }
  mqtt::encode_ack(c.output, mqtt::PacketType::Unsuback, unsubscribe.packet_id);
  sent_packet(c);
  return true;
}

}  // namespace fieldgate::broker
