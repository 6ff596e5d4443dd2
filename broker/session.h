// What the broker keeps for one client id: its subscriptions and the messages on their way to
// it, whether or not it is connected right now. Every change of this state goes through the
// broker's handlers, which is where the store will record them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/message.h"
#include "broker/topic_tree.h"

namespace fieldgate::broker {

class Connection;

// A smart pointer whose move assignment swaps: the old value goes to the moved-from side and is
// released when that is destroyed. The in-flight window shifts its entries on every
// acknowledgement; this spares each shifted entry the check and release of its old pointers.
template <typename Ptr>
struct SwapOnMove : Ptr {
  SwapOnMove() = default;
  SwapOnMove(const Ptr& p) : Ptr(p) {}                 // NOLINT: converts like Ptr
  SwapOnMove(Ptr&& p) noexcept : Ptr(std::move(p)) {}  // NOLINT
  SwapOnMove(const SwapOnMove&) = default;
  SwapOnMove(SwapOnMove&&) noexcept = default;
  SwapOnMove& operator=(const SwapOnMove&) = default;
  SwapOnMove& operator=(SwapOnMove&& o) noexcept {
    this->swap(o);
    return *this;
  }
};

// One message on its way to one session.
struct Outgoing {
  SwapOnMove<MessagePtr> message;
  uint8_t qos = 0;      // min(published QoS, granted QoS)
  bool retain = false;  // the RETAIN flag to send: set only for retained messages on subscribe
  uint64_t seq = 0;     // the delivery's row in the store (persistent sessions); 0: not stored
  PendingWrite write;
  // MQTT 5: the identifiers of the subscriptions it matched, and the shared subscription
  // ("$share/{group}/{filter}") it came through. Null when it has neither, as for all MQTT 3
  // traffic, which so pays nothing for them.
  struct Via {
    std::vector<uint32_t> subscription_ids;
    std::string shared;
  };
  SwapOnMove<std::unique_ptr<Via>> via;

  static std::unique_ptr<Via> make_via(std::vector<uint32_t> ids, std::string shared = {}) {
    if (ids.empty() && shared.empty()) return nullptr;
    return std::make_unique<Via>(Via{std::move(ids), std::move(shared)});
  }
  const std::vector<uint32_t>* ids() const {
    return via && !via->subscription_ids.empty() ? &via->subscription_ids : nullptr;
  }
  const std::string* shared() const { return via && !via->shared.empty() ? &via->shared : nullptr; }
};

// A will, from CONNECT until its connection ends badly (or, with a will delay, until the delay
// is over or the session ends).
struct WillMessage {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  std::shared_ptr<const PublishProperties> properties;  // MQTT 5 will properties; null: none
  uint32_t delay_s = 0;                                 // MQTT 5 will delay interval
  int64_t due_ms = 0;  // with a delay: when to publish it (Unix ms), once its connection ended
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
  // Removes the items for which remove(Outgoing&) returns true (it may move them away).
  template <typename Remove>
  void remove_if(Remove&& remove) {
    size_t kept = head_;
    for (size_t i = head_; i < items_.size(); ++i) {
      if (remove(items_[i])) continue;
      if (kept != i) items_[kept] = std::move(items_[i]);
      ++kept;
    }
    items_.resize(kept);
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    }
  }
  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }

 private:
  static constexpr size_t kKeptCapacity = 1024;
  std::vector<Outgoing> items_;
  size_t head_ = 0;
};

// The messages in flight to a session, in the order sent. Acknowledgements mostly come in that
// order too: removing the oldest moves a start index instead of shifting the others down.
class InflightWindow {
 public:
  using iterator = std::vector<Inflight>::iterator;
  iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  iterator end() { return items_.end(); }
  std::vector<Inflight>::const_iterator begin() const {
    return items_.begin() + static_cast<std::ptrdiff_t>(head_);
  }
  std::vector<Inflight>::const_iterator end() const { return items_.end(); }
  size_t size() const { return items_.size() - head_; }
  bool empty() const { return head_ == items_.size(); }
  Inflight& operator[](size_t i) { return items_[head_ + i]; }
  void push_back(Inflight f) { items_.push_back(std::move(f)); }
  void erase(iterator it) {
    if (it != begin()) {
      items_.erase(it);
      return;
    }
    *it = Inflight{};
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), begin());  // amortised: at least half was consumed
      head_ = 0;
    }
  }

 private:
  static constexpr size_t kCompactAfter = 64;
  std::vector<Inflight> items_;
  size_t head_ = 0;
};

class Session {
 public:
  Session(std::string id, bool clean, bool durable)
      : client_id(std::move(id)), clean(clean), durable(durable) {}

  const std::string client_id;
  // Ends with its connection: MQTT 3 clean session, or MQTT 5 session expiry 0 (which the
  // client may set on DISCONNECT, so not const).
  bool clean;
  const bool durable;  // kept in the store: persistent, and the broker has persistence on
  Connection* connection = nullptr;
  uint8_t protocol = 4;                 // CONNECT protocol level of its last connection
  std::optional<std::string> username;  // of its last login: what the ACL grants it
  int64_t last_seen_ms = 0;             // when its client last went away (Unix ms); for expiry
  uint32_t expiry_s = 0;                // how long it outlives its connection; 0: for ever
  uint64_t last_seq = 0;                // of its deliveries in the store
  uint16_t receive_maximum = 65535;     // MQTT 5: the client's, which bounds our in-flight window
  std::unique_ptr<WillMessage> pending_will;  // a delayed will waiting for its time

  // filter ("$share/{group}/{filter}" for a shared one) -> granted QoS and options
  std::unordered_map<std::string, SubscriptionOptions> subscriptions;
  OutgoingQueue queue;      // waiting for a connection or a free in-flight slot
  InflightWindow inflight;  // in the order sent
  std::unordered_set<uint16_t> awaiting_pubrel;  // inbound QoS 2: PUBREC sent, no PUBREL yet

  // Scratch space of the router: collapses several matching filters into one delivery.
  uint64_t route_stamp = 0;
  uint8_t route_qos = 0;
  bool route_retain = false;        // some matching subscription keeps RETAIN as published
  std::vector<uint32_t> route_ids;  // identifiers of the matching subscriptions

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
