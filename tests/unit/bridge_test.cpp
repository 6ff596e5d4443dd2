// The bridge's pure parts: topic mapping of the routes (SPEC.md's local / local_prefix /
// remote_prefix rules), the out-queue's order, in-flight bookkeeping and bounds, and the
// reconnect back-off.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "broker/bridge/backoff.h"
#include "broker/bridge/queue.h"
#include "broker/bridge/routes.h"

namespace fieldgate::bridge {
namespace {

Route route(Direction d, std::string local, std::string local_prefix, std::string remote_prefix,
            uint8_t qos = 1) {
  return Route{d, std::move(local), std::move(local_prefix), std::move(remote_prefix), qos};
}

TEST(BridgeRoutes, OutPrependsTheRemotePrefix) {
  Route r = route(Direction::Out, "gw1/#", "", "sites/plant7/");
  EXPECT_EQ(remote_topic(r, "gw1/boiler/temperature"), "sites/plant7/gw1/boiler/temperature");
  EXPECT_EQ(remote_topic(r, "gw2/boiler/temperature"), std::nullopt);  // not matching local
}

TEST(BridgeRoutes, OutReplacesTheLocalPrefix) {
  Route r = route(Direction::Out, "site/a/#", "site/a/", "cloud/");
  EXPECT_EQ(remote_topic(r, "site/a/x/y"), "cloud/x/y");
  EXPECT_EQ(remote_topic(r, "site/b/x"), std::nullopt);
  // A filter wider than the prefix: topics outside the prefix do not go out.
  Route wide = route(Direction::Out, "#", "site/", "c/");
  EXPECT_EQ(remote_topic(wide, "site/t"), "c/t");
  EXPECT_EQ(remote_topic(wide, "other/t"), std::nullopt);
}

TEST(BridgeRoutes, OutWithoutPrefixesKeepsTheTopic) {
  Route r = route(Direction::Both, "a/+/c", "", "");
  EXPECT_EQ(remote_topic(r, "a/b/c"), "a/b/c");
  EXPECT_EQ(remote_topic(r, "a/b/c/d"), std::nullopt);
}

TEST(BridgeRoutes, InStripsOrReplacesTheRemotePrefix) {
  Route r = route(Direction::In, "gw1/+/+/set", "", "sites/plant7/");
  EXPECT_EQ(remote_filter(r), "sites/plant7/gw1/+/+/set");
  EXPECT_EQ(local_topic(r, "sites/plant7/gw1/boiler/pump/set"), "gw1/boiler/pump/set");
  EXPECT_EQ(local_topic(r, "sites/plant8/gw1/boiler/pump/set"), std::nullopt);
  EXPECT_EQ(local_topic(r, "sites/plant7/gw1/boiler/pump"), std::nullopt);  // not matching local

  Route replaced = route(Direction::In, "cmd/#", "cmd/", "down/gw1/");
  EXPECT_EQ(remote_filter(replaced), "down/gw1/#");
  EXPECT_EQ(local_topic(replaced, "down/gw1/x/y"), "cmd/x/y");
}

TEST(BridgeRoutes, DirectionHelpers) {
  EXPECT_TRUE(goes_out(route(Direction::Out, "#", "", "")));
  EXPECT_FALSE(comes_in(route(Direction::Out, "#", "", "")));
  EXPECT_TRUE(comes_in(route(Direction::In, "#", "", "")));
  EXPECT_FALSE(goes_out(route(Direction::In, "#", "", "")));
  EXPECT_TRUE(goes_out(route(Direction::Both, "#", "", "")));
  EXPECT_TRUE(comes_in(route(Direction::Both, "#", "", "")));
}

Entry entry(uint64_t seq, std::string payload = "p", uint8_t qos = 1, bool stored = true) {
  return Entry{
      .seq = seq, .topic = "t", .payload = std::move(payload), .qos = qos, .stored = stored};
}

std::vector<uint64_t> seqs(const std::vector<Entry>& entries) {
  std::vector<uint64_t> out;
  for (const Entry& e : entries)
    out.push_back(e.seq);
  return out;
}

TEST(BridgeQueue, HandsOutInOrderWithinTheWindowAndFreesOnAck) {
  OutQueue q(100, 1 << 20);
  std::vector<uint64_t> removed;
  for (uint64_t s = 1; s <= 5; ++s)
    q.push(entry(s), removed);
  EXPECT_EQ(q.size(), 5u);
  std::vector<Entry> first = q.take_unsent(3);
  EXPECT_EQ(seqs(first), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(q.inflight(), 3u);
  EXPECT_EQ(q.waiting(), 2u);
  q.sent(1, 101);
  q.sent(2, 102);
  q.sent(3, 103);
  // Acknowledgements in any order; rows are released as they come.
  EXPECT_TRUE(q.ack(102, removed));
  EXPECT_TRUE(q.ack(101, removed));
  EXPECT_FALSE(q.ack(101, removed));  // twice: nothing more
  EXPECT_FALSE(q.ack(999, removed));  // unknown
  EXPECT_EQ(removed, (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.inflight(), 1u);
  EXPECT_EQ(seqs(q.take_unsent(10)), (std::vector<uint64_t>{4, 5}));
  EXPECT_TRUE(q.take_unsent(10).empty());
}

TEST(BridgeQueue, ANewSessionSendsEverythingUnacknowledgedAgainInOrder) {
  OutQueue q(100, 1 << 20);
  std::vector<uint64_t> removed;
  for (uint64_t s = 1; s <= 4; ++s)
    q.push(entry(s), removed);
  for (const Entry& e : q.take_unsent(3))
    q.sent(e.seq, static_cast<int>(e.seq) + 100);
  q.ack(102, removed);
  q.reset_handed();
  EXPECT_EQ(q.inflight(), 0u);
  EXPECT_FALSE(q.ack(101, removed));  // a token of the old session means nothing now
  EXPECT_EQ(seqs(q.take_unsent(10)), (std::vector<uint64_t>{1, 3, 4}));
}

TEST(BridgeQueue, ARefusedSendGoesBackWithEverythingAfterIt) {
  OutQueue q(100, 1 << 20);
  std::vector<uint64_t> removed;
  for (uint64_t s = 1; s <= 4; ++s)
    q.push(entry(s), removed);
  std::vector<Entry> taken = q.take_unsent(4);
  q.sent(1, 11);
  q.unsend_from(2);
  EXPECT_EQ(q.inflight(), 1u);
  EXPECT_EQ(seqs(q.take_unsent(10)), (std::vector<uint64_t>{2, 3, 4}));
}

TEST(BridgeQueue, EntriesTheClientNoLongerHoldsAreSentAgainInOrder) {
  OutQueue q(100, 1 << 20);
  std::vector<uint64_t> removed;
  for (uint64_t s = 1; s <= 5; ++s)
    q.push(entry(s), removed);
  for (const Entry& e : q.take_unsent(4))
    q.sent(e.seq, static_cast<int>(e.seq) + 10);
  // The client still holds tokens 12 and 14; 11 and 13 vanished.
  EXPECT_EQ(q.reclaim({12, 14}), 2u);
  EXPECT_EQ(q.inflight(), 2u);
  EXPECT_EQ(seqs(q.take_unsent(10)), (std::vector<uint64_t>{1, 3, 5}));
  EXPECT_TRUE(q.ack(12, removed));
  EXPECT_FALSE(q.ack(11, removed));  // its old token means nothing now
}

TEST(BridgeQueue, NothingLeavesBeforeItsRowIsOnDiskAndOrderHolds) {
  OutQueue q(100, 1 << 20);
  std::vector<uint64_t> removed;
  auto stored_in = [](uint64_t seq, uint64_t batch) {
    Entry e = entry(seq);
    e.batch = batch;
    return e;
  };
  q.push(stored_in(1, 0), removed);  // loaded at start: on disk
  q.push(stored_in(2, 7), removed);
  q.push(stored_in(3, 0), removed);  // QoS 0 while up: not stored, but behind seq 2
  q.push(stored_in(4, 8), removed);
  EXPECT_TRUE(q.ready(6));
  EXPECT_EQ(seqs(q.take_unsent(10, 6)), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(q.ready(6));
  EXPECT_TRUE(q.take_unsent(10, 6).empty());
  EXPECT_EQ(seqs(q.take_unsent(10, 7)), (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(q.ready(8));
  EXPECT_EQ(seqs(q.take_unsent(10, 8)), (std::vector<uint64_t>{4}));
  EXPECT_FALSE(q.ready(8));
}

TEST(BridgeQueue, QosZeroIsDoneWhenHandedOver) {
  OutQueue q(100, 1 << 20);
  std::vector<uint64_t> removed;
  q.push(entry(1, "p", 0, /*stored=*/false), removed);
  q.push(entry(2, "p", 0, /*stored=*/true), removed);
  for (const Entry& e : q.take_unsent(10))
    q.complete(e.seq, removed);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(removed, (std::vector<uint64_t>{2}));  // only the stored one has a row
}

TEST(BridgeQueue, OverTheMessageBoundTheOldestAreDroppedAndCounted) {
  OutQueue q(3, 1 << 20);
  std::vector<uint64_t> removed;
  for (uint64_t s = 1; s <= 3; ++s)
    EXPECT_EQ(q.push(entry(s), removed), 0u);
  EXPECT_EQ(q.push(entry(4), removed), 1u);
  EXPECT_EQ(q.push(entry(5, "p", 1, /*stored=*/false), removed), 1u);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 2u);
  EXPECT_EQ(removed, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(seqs(q.take_unsent(10)), (std::vector<uint64_t>{3, 4, 5}));
}

TEST(BridgeQueue, OverTheByteBoundTheOldestAreDroppedEvenInFlight) {
  OutQueue q(100, 10);  // bytes = topic (1) + payload
  std::vector<uint64_t> removed;
  q.push(entry(1, "aaaa"), removed);  // 5 bytes
  q.push(entry(2, "bbbb"), removed);  // 10
  std::vector<Entry> taken = q.take_unsent(1);
  q.sent(1, 7);
  q.push(entry(3, "c"), removed);  // 12 > 10: seq 1 goes, though in flight
  EXPECT_EQ(q.dropped(), 1u);
  EXPECT_EQ(q.inflight(), 0u);
  EXPECT_EQ(q.bytes(), 7u);
  EXPECT_FALSE(q.ack(7, removed));  // its late acknowledgement changes nothing
  EXPECT_EQ(seqs(q.take_unsent(10)), (std::vector<uint64_t>{2, 3}));
  // A message larger than the bound by itself cannot be kept at all.
  OutQueue small(100, 4);
  std::vector<uint64_t> gone;
  EXPECT_EQ(small.push(entry(1, "too long"), gone), 1u);
  EXPECT_EQ(small.size(), 0u);
  EXPECT_EQ(gone, (std::vector<uint64_t>{1}));
}

TEST(BridgeBackoff, DoublesUpToTheCapWithJitterAndResets) {
  using ms = std::chrono::milliseconds;
  Backoff b(ms(500), ms(4000), /*seed=*/42);
  int64_t expected_max[] = {500, 1000, 2000, 4000, 4000, 4000};
  for (int64_t max : expected_max) {
    int64_t d = b.next().count();
    EXPECT_GE(d, max / 2);
    EXPECT_LE(d, max);
  }
  b.reset();
  EXPECT_LE(b.next().count(), 500);
  // Jitter: two gateways do not retry in lockstep.
  Backoff x(ms(10000), ms(10000), 1), y(ms(10000), ms(10000), 2);
  bool differ = false;
  for (int i = 0; i < 5; ++i)
    differ |= x.next() != y.next();
  EXPECT_TRUE(differ);
}

}  // namespace
}  // namespace fieldgate::bridge
