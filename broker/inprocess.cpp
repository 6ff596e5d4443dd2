// The in-process client "fieldgate": adapters and the mapping publish and subscribe through the
// broker's inbox, so their messages are routed, retained and persisted like any client's.
#include <unistd.h>

#include "broker/auth/acl.h"
#include "broker/core.h"
#include "common/log.h"

namespace fieldgate::broker {

void Core::post(InboxItem item) {
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(item));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t ignored = ::write(wakeup_.get(), &one, sizeof one);
}

void Core::drain_inbox() {
  std::vector<InboxItem> items;
  {
    std::lock_guard lock(inbox_mutex_);
    items.swap(inbox_);
  }
  for (InboxItem& item : items) {
    if (item.task) {
      item.task();
      continue;
    }
    if (item.delivery_handler) {
      if (!mqtt::valid_topic_filter(item.topic)) {
        log::error("broker", "in-process subscription to an invalid filter ignored: ", item.topic);
        continue;
      }
      subscriptions_.add(item.topic, &internal_session_, 0);
      internal_session_.subscriptions[item.topic] = SubscriptionOptions{};
      internal_delivery_handlers_.emplace_back(std::move(item.topic),
                                               std::move(item.delivery_handler));
      continue;
    }
    if (item.handler || item.properties_handler) {
      if (!mqtt::valid_topic_filter(item.topic)) {
        log::error("broker", "in-process subscription to an invalid filter ignored: ", item.topic);
        continue;
      }
      subscriptions_.add(item.topic, &internal_session_, 0);
      internal_session_.subscriptions[item.topic] = SubscriptionOptions{};
      Broker::PropertiesHandler handler = std::move(item.properties_handler);
      if (!handler) {
        handler = [plain = std::move(item.handler)](
                      std::string_view topic, std::string_view payload, const PublishProperties*) {
          plain(topic, payload);
        };
      }
      internal_handlers_.emplace_back(std::move(item.topic), std::move(handler));
      continue;
    }
    if (!mqtt::valid_topic_name(item.topic) || item.qos > 2) {
      log::error("broker", "in-process publish to an invalid topic ignored: ", item.topic);
      continue;
    }
    ++stats_.publish_received;
    Publication p{.topic = item.topic,
                  .payload = item.payload,
                  .qos = item.qos,
                  .retain = item.retain,
                  .properties = std::move(item.properties)};
    if (p.properties && p.properties->message_expiry_interval) {
      p.expires_at_ms = now_ms() + int64_t{*p.properties->message_expiry_interval} * 1000;
    }
    if (p.properties && p.properties->payload_format_indicator == 1 &&
        !mqtt::valid_utf8_payload(p.payload)) {
      log::error("broker", "in-process publish to ", item.topic,
                 " ignored: payload format indicator 1 (UTF-8) but the payload is not UTF-8");
      continue;
    }
    routing_origin_ = item.origin;
    route(p);
    routing_origin_ = 0;
  }
}

// Every handler whose filter matches gets the message (the session's subscriptions collapse
// into one delivery, its handlers do not).
void Core::deliver_internal(std::string_view topic, std::string_view payload, uint8_t qos,
                            bool retain, const PublishProperties* properties) {
  for (const auto& [filter, handler] : internal_handlers_) {
    if (auth::Acl::filter_matches(filter, topic)) handler(topic, payload, properties);
  }
  if (internal_delivery_handlers_.empty()) return;
  const Broker::Delivery delivery{topic, payload, qos, retain, routing_origin_};
  for (const auto& [filter, handler] : internal_delivery_handlers_) {
    if (auth::Acl::filter_matches(filter, topic)) handler(delivery);
  }
}

}  // namespace fieldgate::broker
