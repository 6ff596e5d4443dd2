// How a bridge's routes map topics between the local broker and the cloud (SPEC.md, [[bridge]]):
// a local topic `local_prefix + X` that matches `local` goes out as `remote_prefix + X`; a remote
// topic `remote_prefix + X` comes in as `local_prefix + X` when that matches `local`. Pure
// functions on strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fieldgate::bridge {

enum class Direction : uint8_t { Out, In, Both };

struct Route {
  Direction direction = Direction::Out;
  std::string local;  // a local topic filter
  std::string local_prefix;
  std::string remote_prefix;
  uint8_t qos = 0;  // the most a message is forwarded with (min with its own QoS)
};

inline bool goes_out(const Route& r) {
  return r.direction != Direction::In;
}
inline bool comes_in(const Route& r) {
  return r.direction != Direction::Out;
}

// The remote topic of local topic `topic` on an outgoing route; nullopt when `topic` does not
// match `local` or does not start with `local_prefix`.
std::optional<std::string> remote_topic(const Route& route, std::string_view topic);

// The local topic of remote topic `topic` on an incoming route; nullopt when `topic` does not
// start with `remote_prefix` or the local topic would not match `local`.
std::optional<std::string> local_topic(const Route& route, std::string_view topic);

// What the bridge subscribes to upstream for an incoming route: remote_prefix followed by the
// part of `local` after `local_prefix` (config validation makes `local` start with it).
std::string remote_filter(const Route& route);

}  // namespace fieldgate::bridge
