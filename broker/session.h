// What the broker keeps for one client id: its subscriptions and the messages on their way to
// it, whether or not it is connected right now. Every change of this state goes through the
// broker's handlers, which is where the store will record them.
#pragma once

#include <cstdint>
#include <deque>
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

class Session {
 public:
  Session(std::string id, bool clean, bool durable)
      : client_id(std::move(id)), clean(clean), durable(durable) {}

  const std::string client_id;
  const bool clean;    // ends with its connection
  const bool durable;  // kept in the store: persistent, and the broker has persistence on
  Connection* connection = nullptr;
  uint8_t protocol = 4;      // CONNECT protocol level of its last connection
  int64_t last_seen_ms = 0;  // when its client last went away (Unix ms); for expiry
  uint64_t last_seq = 0;     // of its deliveries in the store

  std::unordered_map<std::string, uint8_t> subscriptions;  // filter -> granted QoS
  std::deque<Outgoing> queue;      // waiting for a connection or a free in-flight slot
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
