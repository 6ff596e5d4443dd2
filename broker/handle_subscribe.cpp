// SUBSCRIBE and UNSUBSCRIBE, and the retained messages a new subscription receives.
#include "broker/core.h"
#include "common/log.h"

namespace fieldgate::broker {
namespace {

// "$share/{group}/{filter}" with a group name free of wildcards and a filter after it. MQTT 5
// decoding checks this itself; MQTT 3.1.1 clients may use shared subscriptions too (as with
// Mosquitto), and a filter that does not have this form is an ordinary one for them.
bool shared_filter(std::string_view filter, std::string_view& real) {
  std::string_view group;
  return split_shared(filter, group, real) && mqtt::valid_topic_filter(real);
}

}  // namespace

bool Core::handle_subscribe(Connection& c, const mqtt::Frame& frame) {
  mqtt::Subscribe subscribe;
  if (mqtt::Error e = mqtt::decode_subscribe(frame, c.version, subscribe); e != mqtt::Error::None) {
    reject(c, mqtt::PacketType::Subscribe, e);
    return false;
  }
  Session& s = *c.session;
  const bool v5 = c.version == mqtt::Version::v5;
  const uint32_t identifier = subscribe.properties.subscription_identifiers.empty()
                                  ? 0
                                  : subscribe.properties.subscription_identifiers.front();
  mqtt::Suback suback{subscribe.packet_id, {}};
  suback.return_codes.reserve(subscribe.subscriptions.size());
  // What the ACL grants each filter: nothing (0x80 / 0x87), all of it, or the part its user may
  // read; and whether it is new (retain handling 1).
  std::vector<auth::SubscribeAccess> access(subscribe.subscriptions.size(),
                                            auth::SubscribeAccess::All);
  std::vector<bool> existed(subscribe.subscriptions.size(), false);
  std::vector<bool> shared(subscribe.subscriptions.size(), false);
  for (size_t i = 0; i < subscribe.subscriptions.size(); ++i) {
    const mqtt::Subscription& sub = subscribe.subscriptions[i];
    std::string_view real = sub.filter;
    shared[i] = shared_filter(sub.filter, real);
    if (acl_) access[i] = acl_->may_subscribe(s.client_id, s.username, real);
    if (access[i] == auth::SubscribeAccess::None) {
      suback.return_codes.push_back(v5 ? mqtt::reason::kNotAuthorized : mqtt::kSubackFailure);
      log::info("broker", "client ", s.client_id, " may not subscribe to ", sub.filter,
                " (acl_file): refused");
      continue;
    }
    SubscriptionOptions options{.qos = sub.qos,
                                .no_local = sub.no_local,
                                .retain_as_published = sub.retain_as_published,
                                .retain_handling = sub.retain_handling,
                                .identifier = identifier};
    auto [it, added] = s.subscriptions.try_emplace(std::string(sub.filter), options);
    existed[i] = !added;
    it->second = options;
    subscriptions_.add(sub.filter, &s, options, access[i] == auth::SubscribeAccess::Partial);
    store_subscription(s, sub.filter, options, true);
    suback.return_codes.push_back(sub.qos);
    log::debug("broker", "client ", s.client_id, " subscribed to ", sub.filter, " (QoS ",
               static_cast<int>(sub.qos), ")");
  }
  // A persistent session's SUBACK promises the subscription survives a restart.
  reply(c, s.durable, [&](std::string& out) { mqtt::encode_suback(out, suback, c.version); });

  // Retained messages follow the SUBACK, with RETAIN set, at min(their QoS, the granted QoS).
  // A repeated SUBSCRIBE to the same filter sends them again, as the specification requires,
  // unless retain handling says otherwise (1: only for a new subscription, 2: never). Shared
  // subscriptions get none [MQTT-4.8.2]. Expired ones are not sent.
  const int64_t now = now_ms();
  for (size_t i = 0; i < subscribe.subscriptions.size(); ++i) {
    const mqtt::Subscription& sub = subscribe.subscriptions[i];
    if (access[i] == auth::SubscribeAccess::None || shared[i]) continue;
    if (sub.retain_handling == 2 || (sub.retain_handling == 1 && existed[i])) continue;
    bool check_read = access[i] == auth::SubscribeAccess::Partial;
    std::vector<uint32_t> ids;
    if (identifier != 0) ids.push_back(identifier);
    retained_.match(sub.filter, [&](const MessagePtr& m) {
      if (check_read && !acl_->may_read(s.client_id, s.username, m->topic)) return;
      if (m->expires_at_ms != 0 && m->expires_at_ms <= now) return;
      uint8_t qos = std::min(m->qos, sub.qos);
      if (qos == 0) {
        if (s.connection) {
          deliver_qos0(c, m->topic, m->payload, /*retain=*/true, m->properties.get(),
                       m->expires_at_ms, ids.empty() ? nullptr : &ids);
        }
      } else {
        deliver(s,
                Outgoing{.message = m, .qos = qos, .retain = true, .via = Outgoing::make_via(ids)});
      }
    });
  }
  return true;
}

bool Core::handle_unsubscribe(Connection& c, const mqtt::Frame& frame) {
  mqtt::Unsubscribe unsubscribe;
  if (mqtt::Error e = mqtt::decode_unsubscribe(frame, c.version, unsubscribe);
      e != mqtt::Error::None) {
    reject(c, mqtt::PacketType::Unsubscribe, e);
    return false;
  }
  Session& s = *c.session;
  mqtt::Unsuback unsuback{.packet_id = unsubscribe.packet_id};
  for (std::string_view filter : unsubscribe.filters) {
    // Unknown filters are fine: UNSUBACK is sent either way (MQTT 5: with 0x11).
    if (auto it = s.subscriptions.find(std::string(filter)); it != s.subscriptions.end()) {
      subscriptions_.remove(filter, &s);
      store_subscription(s, filter, it->second, false);
      s.subscriptions.erase(it);
      unsuback.reason_codes.push_back(mqtt::reason::kSuccess);
    } else {
      unsuback.reason_codes.push_back(mqtt::reason::kNoSubscriptionExisted);
    }
  }
  reply(c, s.durable, [&](std::string& out) {
    if (c.version == mqtt::Version::v5) {
      mqtt::encode_unsuback(out, unsuback, c.version);
    } else {
      mqtt::encode_ack(out, mqtt::PacketType::Unsuback, unsubscribe.packet_id);
    }
  });
  return true;
}

}  // namespace fieldgate::broker
