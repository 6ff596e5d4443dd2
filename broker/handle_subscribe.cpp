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
  // What the ACL grants each filter: nothing (0x80), all of it, or the part its user may read.
  std::vector<auth::SubscribeAccess> access(subscribe.subscriptions.size(),
                                            auth::SubscribeAccess::All);
  for (size_t i = 0; i < subscribe.subscriptions.size(); ++i) {
    const mqtt::Subscription& sub = subscribe.subscriptions[i];
    if (acl_) access[i] = acl_->may_subscribe(s.client_id, s.username, sub.filter);
    if (access[i] == auth::SubscribeAccess::None) {
      suback.return_codes.push_back(mqtt::kSubackFailure);
      log::info("broker", "client ", s.client_id, " may not subscribe to ", sub.filter,
                " (acl_file): refused");
      continue;
    }
    subscriptions_.add(sub.filter, &s, sub.qos, access[i] == auth::SubscribeAccess::Partial);
    s.subscriptions[std::string(sub.filter)] = sub.qos;
    store_subscription(s, sub.filter, sub.qos, true);
    suback.return_codes.push_back(sub.qos);
    log::debug("broker", "client ", s.client_id, " subscribed to ", sub.filter, " (QoS ",
               static_cast<int>(sub.qos), ")");
  }
  // A persistent session's SUBACK promises the subscription survives a restart.
  reply(c, s.durable, [&](std::string& out) { mqtt::encode_suback(out, suback); });

  // Retained messages follow the SUBACK, with RETAIN set, at min(their QoS, the granted QoS).
  // A repeated SUBSCRIBE to the same filter sends them again, as the specification requires.
  for (size_t i = 0; i < subscribe.subscriptions.size(); ++i) {
    const mqtt::Subscription& sub = subscribe.subscriptions[i];
    if (access[i] == auth::SubscribeAccess::None) continue;
    bool check_read = access[i] == auth::SubscribeAccess::Partial;
    retained_.match(sub.filter, [&](const MessagePtr& m) {
      if (check_read && !acl_->may_read(s.client_id, s.username, m->topic)) return;
      uint8_t qos = std::min(m->qos, sub.qos);
      if (qos == 0) {
        if (s.connection) deliver_qos0(c, m->topic, m->payload, /*retain=*/true);
      } else {
        deliver(s, Outgoing{.message = m, .qos = qos, .retain = true});
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
      store_subscription(s, filter, 0, false);
    }
  }
  reply(c, s.durable, [&](std::string& out) {
    mqtt::encode_ack(out, mqtt::PacketType::Unsuback, unsubscribe.packet_id);
  });
  return true;
}

}  // namespace fieldgate::broker
