// $SYS/broker/...: the statistics Mosquitto publishes, under the same topics, retained, every
// sys_interval_s. A value is published again only when it changed (uptime always changes).
#include <cmath>
#include <cstdio>

#include "broker/core.h"

namespace fieldgate::broker {

// $SYS/broker/load/...: per-minute rates averaged over 1, 5 and 15 minutes, decaying
// exponentially as a Unix load average does (Mosquitto's formula).
void Core::update_load(std::vector<std::pair<std::string, std::string>>& out, double elapsed_s) {
  const std::pair<const char*, uint64_t> counters[] = {
      {"messages/received", stats_.packets_received}, {"messages/sent", stats_.packets_sent},
      {"bytes/received", stats_.bytes_received},      {"bytes/sent", stats_.bytes_sent},
      {"publish/received", stats_.publish_received},  {"publish/sent", stats_.publish_sent},
      {"connections", stats_.connects_accepted},      {"sockets", stats_.connections_total},
  };
  constexpr std::pair<const char*, double> kSpans[] = {
      {"1min", 60.0}, {"5min", 300.0}, {"15min", 900.0}};
  for (const auto& [name, total] : counters) {
    LoadAverage& load = load_[name];
    double per_minute = elapsed_s > 0 ? (total - load.last_total) * 60.0 / elapsed_s : 0.0;
    load.last_total = total;
    for (size_t i = 0; i < 3; ++i) {
      double decay = std::exp(-elapsed_s / kSpans[i].second);
      load.average[i] = load.average[i] * decay + per_minute * (1.0 - decay);
      char text[32];
      std::snprintf(text, sizeof text, "%.2f", load.average[i]);
      out.emplace_back(std::string("$SYS/broker/load/") + name + "/" + kSpans[i].first, text);
    }
  }
}

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

  std::vector<std::pair<std::string, std::string>> values = {
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
  Clock::time_point now = Clock::now();
  double elapsed_s = last_sys_ == Clock::time_point{}
                         ? 0.0
                         : std::chrono::duration<double>(now - last_sys_).count();
  last_sys_ = now;
  update_load(values, elapsed_s);
  for (const auto& [topic, value] : values) {
    std::string& last = sys_published_[topic];
    if (last == value) continue;
    last = value;
    route(topic, value, 0, /*retain=*/true);
  }
}

}  // namespace fieldgate::broker
