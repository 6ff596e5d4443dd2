// A bridge's out-queue in memory: messages in the order they were routed, each either waiting,
// handed to the MQTT client (in flight) or acknowledged. Bounded by a message count and a byte
// count: past either bound the oldest messages are dropped and counted. Not thread-safe (the
// bridge holds its lock around every call). The rows in the state database mirror the entries
// marked `stored`: every call that lets go of a stored entry appends its seq to `removed`, for
// the caller to delete.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace fieldgate::bridge {

struct Entry {
  uint64_t seq = 0;   // increasing in the order of routing
  std::string topic;  // the remote topic
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  bool stored = false;  // a row in the state database holds it
  uint64_t batch = 0;   // the store batch writing that row; 0: nothing to wait for

  // The queue's bookkeeping.
  bool handed = false;  // given to the MQTT client, awaiting its acknowledgement
  bool done = false;    // acknowledged: gone once it reaches the front
  int token = 0;        // the MQTT client's token while handed (0: not known yet)

  uint64_t bytes() const { return topic.size() + payload.size(); }
};

class OutQueue {
 public:
  OutQueue(uint64_t max_messages, uint64_t max_bytes)
      : max_messages_(max_messages), max_bytes_(max_bytes) {}

  // Appends `e` (its seq above every seq so far), then drops the oldest entries (in flight or
  // not) while over a bound; a message larger than max_bytes by itself is dropped too. Returns
  // how many were dropped.
  size_t push(Entry e, std::vector<uint64_t>& removed);

  // Copies of up to `max` entries not handed yet, oldest first, now marked handed; it stops at
  // the first entry whose row is not on disk yet (batch > durable), so that nothing leaves
  // before it is stored and the order holds.
  std::vector<Entry> take_unsent(size_t max, uint64_t durable = UINT64_MAX);
  // The oldest waiting entry may leave now (as take_unsent would hand it).
  bool ready(uint64_t durable = UINT64_MAX) const;
  // The MQTT client took entry `seq` under `token` (a QoS 0 message is done once taken: call
  // complete() instead). Ignored when the entry is gone (dropped meanwhile).
  void sent(uint64_t seq, int token);
  // Entry `seq` (and every handed entry after it) goes back to waiting, in order: the client
  // refused it.
  void unsend_from(uint64_t seq);
  // Every handed entry goes back to waiting (a new session upstream: they must go again).
  void reset_handed();
  // Handed entries whose token is not among `pending` (the tokens the MQTT client still
  // holds) go back to waiting, in order: the client lost them without a word. Returns how many.
  size_t reclaim(const std::vector<int>& pending);

  // The acknowledgement of `token`; false when no entry is handed under it.
  bool ack(int token, std::vector<uint64_t>& removed);
  void complete(uint64_t seq, std::vector<uint64_t>& removed);

  uint64_t size() const { return live_; }  // waiting or in flight
  uint64_t bytes() const { return bytes_; }
  uint64_t inflight() const { return inflight_; }
  uint64_t waiting() const { return live_ - inflight_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t max_messages() const { return max_messages_; }
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  Entry* find(uint64_t seq);
  void finish(Entry& e, std::vector<uint64_t>& removed);
  void pop_done();
  void unhand(Entry& e);

  uint64_t max_messages_;
  uint64_t max_bytes_;
  std::deque<Entry> entries_;  // ascending seq
  size_t next_ = 0;            // entries_[0, next_) are handed or done; the rest wait
  std::unordered_map<int, uint64_t> tokens_;  // token -> seq of handed entries
  uint64_t live_ = 0;
  uint64_t bytes_ = 0;
  uint64_t inflight_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace fieldgate::bridge
