#include "gateway/bridges.h"

#include <cstdlib>
#include <stdexcept>

namespace fieldgate {

std::vector<bridge::Options> bridge_options(const config::Config& cfg) {
  std::vector<bridge::Options> all;
  for (const config::Bridge& b : cfg.bridges) {
    bridge::Options o;
    o.name = b.name;
    o.host = b.host;
    o.port = b.port;
    o.tls = b.tls;
    o.client_id = b.client_id;
    o.username = b.username;
    o.password = b.password;
    if (b.password_env) {
      const char* value = std::getenv(b.password_env->c_str());
      if (value == nullptr) {
        throw std::runtime_error("bridge " + b.name + ": password_env names " + *b.password_env +
                                 ", which is not set in fieldgate's environment; set it (e.g. "
                                 "Environment= or EnvironmentFile= in the systemd unit) or use "
                                 "password");
      }
      o.password = value;
    }
    if (b.tls_ca) o.tls_ca = b.tls_ca->string();
    if (b.tls_cert) o.tls_cert = b.tls_cert->string();
    if (b.tls_key) o.tls_key = b.tls_key->string();
    o.keepalive_s = b.keepalive_s;
    o.clean_session = b.clean_session;
    o.queue_max_messages = b.queue_max_messages;
    o.queue_max_bytes = b.queue_max_bytes;
    o.availability_topic = b.availability_topic;
    o.sys_status = cfg.broker.sys_interval_s > 0;
    for (const config::BridgeRoute& r : b.routes) {
      bridge::Direction direction =
          r.direction == config::RouteDirection::Out  ? bridge::Direction::Out
          : r.direction == config::RouteDirection::In ? bridge::Direction::In
                                                      : bridge::Direction::Both;
      o.routes.push_back({direction, r.local, r.local_prefix, r.remote_prefix, r.qos});
    }
    all.push_back(std::move(o));
  }
  return all;
}

}  // namespace fieldgate
