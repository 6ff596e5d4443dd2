// $SYS/broker/...: the statistics Mosquitto publishes, under the same topics, retained, every
// sys_interval_s. A value is published again only when it changed (uptime always changes).
#include "broker/core.h"

namespace fieldgate::broker {

void Core::publish_sys() {
  size_t connected = 0;
  for (const auto& [id, c] : connections_)
    connected += c->state == Connection::State::Connected;
  stats_.clients_maximum = std::max(stats_.clients_maximum, connected);
  size_t disconnected = sessions_.size() - std::min(sessions_.size(), connected);
  size_t stored = retained_.size();
  for (const auto& [id, s] : sessions_)
    stored += s->queue.size() + s->inflight.size();
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();

  const std::pair<const char*, std::string> values[] = {
      {"$SYS/broker/version", options_.version},
      {"$SYS/broker/uptime", std::to_string(uptime) + " seconds"},
      {"$SYS/broker/clients/connected", std::to_string(connected)},
      {"$SYS/broker/clients/active", std::to_string(connected)},
      {"$SYS/broker/clients/disconnected", std::to_string(disconnected)},
      {"$SYS/broker/clients/inactive", std::to_string(disconnected)},
      {"$SYS/broker/clients/total", std::to_string(connected + disconnected)},
      {"$SYS/broker/clients/maximum", std::to_string(stats_.clients_maximum)},
      {"$SYS/broker/messages/received", std::to_string(stats_.packets_received)},
      {"$SYS/broker/messages/sent", std::to_string(stats_.packets_sent)},
      {"$SYS/broker/messages/stored", std::to_string(stored)},
      {"$SYS/broker/store/messages/count", std::to_string(stored)},
      {"$SYS/broker/publish/messages/received", std::to_string(stats_.publish_received)},
      {"$SYS/broker/publish/messages/sent", std::to_string(stats_.publish_sent)},
      {"$SYS/broker/publish/messages/dropped", std::to_string(stats_.publish_dropped)},
      {"$SYS/broker/bytes/received", std::to_string(stats_.bytes_received)},
      {"$SYS/broker/bytes/sent", std::to_string(stats_.bytes_sent)},
      {"$SYS/broker/subscriptions/count", std::to_string(subscriptions_.size())},
      {"$SYS/broker/retained messages/count", std::to_string(retained_.size())},
  };
  for (const auto& [topic, value] : values) {
    std::string& last = sys_published_[topic];
    if (last == value) continue;
    last = value;
    route(topic, value, 0, /*retain=*/true);
  }
}

}  // namespace fieldgate::broker
