// Capped exponential back-off with jitter, for reconnecting: the n-th delay of an episode lies
// in [d/2, d] where d = min(initial * 2^(n-1), cap), so that gateways cut off together do not
// reconnect in lockstep, and a long outage is retried at least every `cap`.
#pragma once

#include <chrono>
#include <random>

namespace fieldgate::bridge {

class Backoff {
 public:
  using Duration = std::chrono::milliseconds;
  Backoff(Duration initial, Duration cap, uint64_t seed = std::random_device{}())
      : initial_(initial), cap_(cap), current_(initial), rng_(seed) {}

  // The delay before the next attempt; each call doubles the next one, up to the cap.
  Duration next() {
    Duration d = current_;
    current_ = std::min(cap_, current_ * 2);
    std::uniform_int_distribution<int64_t> half(d.count() / 2, d.count());
    return Duration(half(rng_));
  }
  // A success ends the episode: the next failure starts again from `initial`.
  void reset() { current_ = initial_; }

 private:
  Duration initial_;
  Duration cap_;
  Duration current_;
  std::mt19937_64 rng_;
};

}  // namespace fieldgate::bridge
