// What the broker keeps for one client id: its subscriptions and the messages on their way to
// it, whether or not it is connected right now. Every change of this state goes through the
// broker's handlers, which is where the store will record them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/message.h"

namespace fieldgate::broker {

class Connection;

// One message on its way to one session.
struct Outgoing {
  MessagePtr message;
  uint8_t qos = 0;      // min(published QoS, granted QoS)
  bool retain = false;  // the RETAIN flag to send: set only for retained messages on subscribe
  uint64_t seq = 0;     // the delivery's row in the store (persistent sessions); 0: not stored
  PendingWrite write;
};

// A QoS 1 or 2 message sent and not yet acknowledged all the way.
struct Inflight {
  enum class State : uint8_t { AwaitPuback, AwaitPubrec, AwaitPubcomp };
  uint16_t packet_id = 0;
  State state = State::AwaitPuback;
  Outgoing outgoing;
};

// A FIFO of outgoing messages that costs no heap while empty (std::deque allocates on
// construction, which idle sessions would pay for).
class OutgoingQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  Outgoing& front() { return items_[head_]; }
  void push_back(Outgoing o) { items_.push_back(std::move(o)); }
  void pop_front() {
    items_[head_++] = Outgoing{};
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
      if (items_.capacity() > kKeptCapacity) std::vector<Outgoing>().swap(items_);
    } else if (head_ >= kKeptCapacity && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;  // amortised: at least half of the vector was consumed
    }
  }
  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }

 private:
  static constexpr size_t kKeptCapacity = 1024;
  std::vector<Outgoing> items_;
  size_t head_ = 0;
};

class Session {
 public:
  Session(std::string id, bool clean, bool durable)
      : client_id(std::move(id)), clean(clean), durable(durable) {}

  const std::string client_id;
  const bool clean;    // ends with its connection
  const bool durable;  // kept in the store: persistent, and the broker has persistence on
  Connection* connection = nullptr;
  uint8_t protocol = 4;                 // CONNECT protocol level of its last connection
  std::optional<std::string> username;  // of its last login: what the ACL grants it
  int64_t last_seen_ms = 0;             // when its client last went away (Unix ms); for expiry
  uint64_t last_seq = 0;                // of its deliveries in the store

  std::unordered_map<std::string, uint8_t> subscriptions;  // filter -> granted QoS
  OutgoingQueue queue;             // waiting for a connection or a free in-flight slot
  std::vector<Inflight> inflight;  // in the order sent
  std::unordered_set<uint16_t> awaiting_pubrel;  // inbound QoS 2: PUBREC sent, no PUBREL yet

  // Scratch space of the router: collapses several matching filters into one delivery.
  uint64_t route_stamp = 0;
  uint8_t route_qos = 0;

  // The next packet identifier not used by a message in flight.
  uint16_t next_packet_id() {
    while (true) {
      last_packet_id_ = static_cast<uint16_t>(last_packet_id_ + 1);
      if (last_packet_id_ == 0) continue;
      bool in_use = false;
      for (const Inflight& f : inflight)
        in_use |= f.packet_id == last_packet_id_;
      if (!in_use) return last_packet_id_;
    }
  }

 private:
  uint16_t last_packet_id_ = 0;
};

}  // namespace fieldgate::broker
