#include "broker/bridge/routes.h"

#include "broker/auth/acl.h"

namespace fieldgate::bridge {

std::optional<std::string> remote_topic(const Route& route, std::string_view topic) {
  if (!topic.starts_with(route.local_prefix)) return std::nullopt;
  if (!auth::Acl::filter_matches(route.local, topic)) return std::nullopt;
  std::string remote = route.remote_prefix;
  remote.append(topic.substr(route.local_prefix.size()));
  return remote;
}

std::optional<std::string> local_topic(const Route& route, std::string_view topic) {
  if (!topic.starts_with(route.remote_prefix)) return std::nullopt;
  std::string local = route.local_prefix;
  local.append(topic.substr(route.remote_prefix.size()));
  if (!auth::Acl::filter_matches(route.local, local)) return std::nullopt;
  return local;
}

std::string remote_filter(const Route& route) {
  std::string_view rest = route.local;
  if (rest.starts_with(route.local_prefix)) rest.remove_prefix(route.local_prefix.size());
  return route.remote_prefix + std::string(rest);
}

}  // namespace fieldgate::bridge
