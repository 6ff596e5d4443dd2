// The broker's SQLite store: every op round-trips through a reopened database, a failed batch
// changes nothing and can be applied again, and a database fieldgate cannot use is refused
// with an error naming the file.
#include "broker/store/store.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace fieldgate::broker::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "fieldgate-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ / "state" / "fieldgate.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  fs::path path_;
};

MessagePtr message(std::string topic, std::string payload, uint8_t qos = 1) {
  return std::make_shared<const Message>(Message{std::move(topic), std::move(payload), qos});
}

Op put_session(std::string client_id, uint8_t protocol = 4, uint32_t expiry_s = 0,
               int64_t last_seen_ms = 0) {
  Op op;
  op.kind = Op::Kind::PutSession;
  op.client_id = std::move(client_id);
  op.protocol = protocol;
  op.expiry_s = expiry_s;
  op.last_seen_ms = last_seen_ms;
  return op;
}

Op put_subscription(std::string client_id, std::string filter, uint8_t qos, uint8_t options = 0) {
  Op op;
  op.kind = Op::Kind::PutSubscription;
  op.client_id = std::move(client_id);
  op.text = std::move(filter);
  op.qos = qos;
  op.options = options;
  return op;
}

Op put_message(uint64_t id, MessagePtr m) {
  Op op;
  op.kind = Op::Kind::PutMessage;
  op.id = id;
  op.message = std::move(m);
  return op;
}

Op put_delivery(std::string client_id, uint64_t seq, uint64_t message_id, uint8_t qos = 1,
                uint16_t packet_id = 0, DeliveryState state = DeliveryState::Queued,
                bool retain = false) {
  Op op;
  op.kind = Op::Kind::PutDelivery;
  op.client_id = std::move(client_id);
  op.id = seq;
  op.message_id = message_id;
  op.qos = qos;
  op.packet_id = packet_id;
  op.state = state;
  op.retain = retain;
  return op;
}

Op put_inbound(std::string client_id, uint16_t packet_id) {
  Op op;
  op.kind = Op::Kind::PutInbound;
  op.client_id = std::move(client_id);
  op.packet_id = packet_id;
  return op;
}

Op put_retained(std::string topic, uint64_t message_id) {
  Op op;
  op.kind = Op::Kind::PutRetained;
  op.text = std::move(topic);
  op.message_id = message_id;
  return op;
}

Op simple(Op::Kind kind, std::string client_id = {}, std::string text = {}, uint64_t id = 0,
          uint16_t packet_id = 0) {
  Op op;
  op.kind = kind;
  op.client_id = std::move(client_id);
  op.text = std::move(text);
  op.id = id;
  op.packet_id = packet_id;
  return op;
}

Batch batch_of(std::vector<Op> ops, uint64_t number = 1) {
  Batch batch;
  batch.number = number;
  batch.ops = std::move(ops);
  return batch;
}

void apply_ok(Database& db, const Batch& batch) {
  std::string error;
  ASSERT_TRUE(db.apply(batch, error)) << error;
}

StoredState load(const fs::path& path) {
  Database db(path, Durability::Process);
  return db.load();
}

const StoredSession* find_session(const StoredState& state, const std::string& client_id) {
  for (const StoredSession& s : state.sessions) {
    if (s.client_id == client_id) return &s;
  }
  return nullptr;
}

std::string message_error(const std::function<void()>& open) {
  try {
    open();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "(no StoreError)";
}

// Reads one value from the (closed) database with plain SQLite.
std::string pragma(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  std::string value;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return value;
}

// A batch of `count` messages of `size` bytes each, queued for client "c".
Batch big_batch(uint64_t first_id, int count, size_t size, uint64_t number = 1) {
  std::vector<Op> ops;
  for (int i = 0; i < count; ++i) {
    ops.push_back(put_message(
        first_id + i,
        message("big/" + std::to_string(i), std::string(size, static_cast<char>('a' + i % 26)))));
    ops.push_back(put_delivery("c", first_id + i, first_id + i));
  }
  return batch_of(std::move(ops), number);
}

TEST_F(StoreTest, OpenCreatesTheDirectoryAndTheFile) {
  EXPECT_FALSE(fs::exists(path_.parent_path()));
  {
    Database db(path_, Durability::Power);
    EXPECT_EQ(db.path(), path_);
    EXPECT_TRUE(fs::exists(path_));
    // Exclusive locking keeps the WAL index in memory: no -shm file.
    EXPECT_FALSE(fs::exists(path_.string() + "-shm"));
    StoredState state = db.load();
    EXPECT_TRUE(state.sessions.empty());
    EXPECT_TRUE(state.messages.empty());
    EXPECT_EQ(state.max_message_id, 0u);
  }
  EXPECT_EQ(pragma(path_, "PRAGMA user_version"), "4");
  EXPECT_EQ(pragma(path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma(path_, "PRAGMA auto_vacuum"), "2");  // incremental
  // Reopening a current database migrates nothing and keeps the data.
  {
    Database db(path_, Durability::Process);
    apply_ok(db, batch_of({put_session("a")}));
  }
  EXPECT_EQ(load(path_).sessions.size(), 1u);
}

TEST_F(StoreTest, EveryPutRoundTrips) {
  {
    Database db(path_, Durability::Process);
    apply_ok(db, batch_of({
                     put_session("s5", 5, 3600, 1'700'000'000'123),
                     put_session("s4", 4),
                     put_subscription("s5", "a/+/c", 2, 0x2c),
                     put_subscription("s5", "#", 0),
                     put_subscription("s4", "x/y", 1),
                     put_message(7, message("a/b/c", std::string("\0\xff bin", 6), 2)),
                     put_message(9, message("empty", "", 1)),
                     put_delivery("s5", 1, 7, 2, 11, DeliveryState::Sent, true),
                     put_delivery("s5", 2, 0, 2, 12, DeliveryState::Released),
                     put_delivery("s5", 3, 9, 1),
                     put_inbound("s5", 40),
                     put_inbound("s5", 3),
                     put_retained("a/b/c", 7),
                     simple(Op::Kind::Skip),
                 }));
  }
  StoredState state = load(path_);
  ASSERT_EQ(state.messages.size(), 2u);
  EXPECT_EQ(state.max_message_id, 9u);
  EXPECT_EQ(state.messages[0].first, 7u);
  EXPECT_EQ(state.messages[0].second->topic, "a/b/c");
  EXPECT_EQ(state.messages[0].second->payload, std::string("\0\xff bin", 6));
  EXPECT_EQ(state.messages[0].second->qos, 2);
  EXPECT_EQ(state.messages[1].first, 9u);
  EXPECT_EQ(state.messages[1].second->payload, "");

  ASSERT_EQ(state.sessions.size(), 2u);
  const StoredSession* s5 = find_session(state, "s5");
  ASSERT_NE(s5, nullptr);
  EXPECT_EQ(s5->protocol, 5);
  EXPECT_EQ(s5->expiry_s, 3600u);
  EXPECT_EQ(s5->last_seen_ms, 1'700'000'000'123);
  ASSERT_EQ(s5->subscriptions.size(), 2u);
  std::vector<StoredSubscription> subs = s5->subscriptions;
  std::sort(subs.begin(), subs.end(), [](auto& a, auto& b) { return a.filter < b.filter; });
  EXPECT_EQ(subs[0].filter, "#");
  EXPECT_EQ(subs[0].qos, 0);
  EXPECT_EQ(subs[1].filter, "a/+/c");
  EXPECT_EQ(subs[1].qos, 2);
  EXPECT_EQ(subs[1].options, 0x2c);
  ASSERT_EQ(s5->deliveries.size(), 3u);
  EXPECT_EQ(s5->deliveries[0].seq, 1u);
  EXPECT_EQ(s5->deliveries[0].message_id, 7u);
  EXPECT_EQ(s5->deliveries[0].qos, 2);
  EXPECT_TRUE(s5->deliveries[0].retain);
  EXPECT_EQ(s5->deliveries[0].packet_id, 11);
  EXPECT_EQ(s5->deliveries[0].state, DeliveryState::Sent);
  EXPECT_EQ(s5->deliveries[1].message_id, 0u);
  EXPECT_EQ(s5->deliveries[1].packet_id, 12);
  EXPECT_EQ(s5->deliveries[1].state, DeliveryState::Released);
  EXPECT_EQ(s5->deliveries[2].message_id, 9u);
  EXPECT_FALSE(s5->deliveries[2].retain);
  EXPECT_EQ(s5->deliveries[2].state, DeliveryState::Queued);
  EXPECT_EQ(s5->awaiting_pubrel, (std::vector<uint16_t>{3, 40}));

  const StoredSession* s4 = find_session(state, "s4");
  ASSERT_NE(s4, nullptr);
  EXPECT_EQ(s4->protocol, 4);
  EXPECT_EQ(s4->expiry_s, 0u);
  ASSERT_EQ(s4->subscriptions.size(), 1u);
  EXPECT_EQ(s4->subscriptions[0].filter, "x/y");
  EXPECT_TRUE(s4->deliveries.empty());
  EXPECT_TRUE(s4->awaiting_pubrel.empty());

  ASSERT_EQ(state.retained.size(), 1u);
  EXPECT_EQ(state.retained[0].topic, "a/b/c");
  EXPECT_EQ(state.retained[0].message_id, 7u);
}

TEST_F(StoreTest, PutsReplaceAndDeletesRemove) {
  {
    Database db(path_, Durability::Process);
    apply_ok(db, batch_of({put_session("s", 4, 10, 5), put_subscription("s", "a", 0),
                           put_subscription("s", "b", 1), put_message(1, message("t", "one")),
                           put_message(2, message("t", "two")), put_delivery("s", 1, 1),
                           put_delivery("s", 2, 2), put_inbound("s", 5), put_inbound("s", 6),
                           put_retained("t", 1), put_retained("u", 2)}));
  }
  {
    Database db(path_, Durability::Process);
    apply_ok(db, batch_of({
                     put_session("s", 5, 20, 6),        // replaces, keeps what it holds
                     put_subscription("s", "a", 2, 4),  // replaces
                     simple(Op::Kind::DeleteSubscription, "s", "b"),
                     put_delivery("s", 1, 1, 1, 99, DeliveryState::Sent),  // flow state moves
                     simple(Op::Kind::DeleteDelivery, "s", {}, 2),
                     simple(Op::Kind::DeleteMessage, {}, {}, 2),
                     simple(Op::Kind::DeleteInbound, "s", {}, 0, 5),
                     put_inbound("s", 6),  // already there
                     put_retained("t", 2),
                     simple(Op::Kind::DeleteRetained, {}, "u"),
                 }));
  }
  StoredState state = load(path_);
  ASSERT_EQ(state.sessions.size(), 1u);
  const StoredSession& s = state.sessions[0];
  EXPECT_EQ(s.protocol, 5);
  EXPECT_EQ(s.expiry_s, 20u);
  EXPECT_EQ(s.last_seen_ms, 6);
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_EQ(s.subscriptions[0].filter, "a");
  EXPECT_EQ(s.subscriptions[0].qos, 2);
  EXPECT_EQ(s.subscriptions[0].options, 4);
  ASSERT_EQ(s.deliveries.size(), 1u);
  EXPECT_EQ(s.deliveries[0].packet_id, 99);
  EXPECT_EQ(s.deliveries[0].state, DeliveryState::Sent);
  EXPECT_EQ(s.awaiting_pubrel, (std::vector<uint16_t>{6}));
  ASSERT_EQ(state.messages.size(), 1u);
  EXPECT_EQ(state.messages[0].first, 1u);
  ASSERT_EQ(state.retained.size(), 1u);
  EXPECT_EQ(state.retained[0].topic, "t");
  EXPECT_EQ(state.retained[0].message_id, 2u);  // a dangling id is the loop's business
}

TEST_F(StoreTest, DeleteSessionRemovesEverythingItHolds) {
  {
    Database db(path_, Durability::Process);
    std::vector<Op> ops;
    ops.push_back(put_message(1, message("t", "p")));
    for (std::string id : {"gone", "kept"}) {
      ops.push_back(put_session(id));
      ops.push_back(put_subscription(id, "t", 1));
      ops.push_back(put_delivery(id, 1, 1));
      ops.push_back(put_inbound(id, 7));
    }
    apply_ok(db, batch_of(std::move(ops)));
    apply_ok(db, batch_of({simple(Op::Kind::DeleteSession, "gone")}));
  }
  StoredState state = load(path_);
  ASSERT_EQ(state.sessions.size(), 1u);
  EXPECT_EQ(state.sessions[0].client_id, "kept");
  EXPECT_EQ(state.sessions[0].subscriptions.size(), 1u);
  EXPECT_EQ(state.sessions[0].deliveries.size(), 1u);
  EXPECT_EQ(state.sessions[0].awaiting_pubrel.size(), 1u);
  EXPECT_EQ(state.messages.size(), 1u);  // messages go by DeleteMessage only
  EXPECT_EQ(pragma(path_, "SELECT count(*) FROM subscriptions WHERE client_id = 'gone'"), "0");
  EXPECT_EQ(pragma(path_, "SELECT count(*) FROM deliveries WHERE client_id = 'gone'"), "0");
  EXPECT_EQ(pragma(path_, "SELECT count(*) FROM inbound WHERE client_id = 'gone'"), "0");
}

// compact() keeps what a batch does and drops what it undoes.
TEST(StoreCompact, DropsWhatLaterOpsOverwriteOrDelete) {
  std::vector<Op> ops;
  ops.push_back(put_message(1, message("big", std::string(10000, 'x'))));  // later deleted
  ops.push_back(put_message(2, message("kept", "p")));
  ops.push_back(put_session("a"));
  ops.push_back(put_delivery("a", 1, 1));
  ops.push_back(simple(Op::Kind::DeleteSession, "a"));  // takes a's earlier rows with it
  ops.push_back(put_session("a"));                      // a new session of the same id
  ops.push_back(put_subscription("a", "t", 1));
  ops.push_back(put_delivery("b", 1, 2, 1, 0, DeliveryState::Queued));
  ops.push_back(put_delivery("b", 1, 2, 1, 5, DeliveryState::Sent));  // replaces the one before
  ops.push_back(simple(Op::Kind::DeleteMessage, {}, {}, 1));
  Batch batch = batch_of(std::move(ops));
  compact(batch);
  std::vector<std::pair<Op::Kind, std::string>> kinds;
  for (const Op& op : batch.ops)
    kinds.emplace_back(op.kind, op.client_id);
  std::vector<std::pair<Op::Kind, std::string>> expected = {
      {Op::Kind::DeleteSession, "a"},   {Op::Kind::DeleteMessage, ""},
      {Op::Kind::PutMessage, ""},       {Op::Kind::PutSession, "a"},
      {Op::Kind::PutSubscription, "a"}, {Op::Kind::PutDelivery, "b"},
  };
  EXPECT_EQ(kinds, expected);
  EXPECT_EQ(batch.ops[2].id, 2u);
  EXPECT_EQ(batch.ops[5].packet_id, 5u);
}

// A batch too big for the disk fits once merged with the later batch that deletes its bulk.
TEST_F(StoreTest, CompactedMergeOfAFailedBatchFits) {
  Database db(path_, Durability::Process, /*max_pages=*/40);
  Batch failed =
      batch_of({put_message(1, message("big", std::string(400000, 'x'))), put_session("s")});
  std::string error;
  ASSERT_FALSE(db.apply(failed, error));
  Batch merged = failed;
  merged.ops.push_back(simple(Op::Kind::DeleteMessage, {}, {}, 1));
  compact(merged);
  apply_ok(db, merged);
  StoredState state = db.load();
  EXPECT_EQ(state.messages.size(), 0u);
  ASSERT_EQ(state.sessions.size(), 1u);
}

// Version 2 keeps the user name a session logged in with; a version 1 file is migrated.
TEST_F(StoreTest, SessionUserNamesRoundTripAndVersion1FilesMigrate) {
  {
    Database db(path_, Durability::Process);
    Op named = put_session("named");
    named.text = "alice";
    named.has_username = true;
    apply_ok(db, batch_of({named, put_session("anonymous")}));
  }
  StoredState state = load(path_);
  ASSERT_EQ(state.sessions.size(), 2u);
  EXPECT_EQ(state.sessions[0].client_id, "anonymous");
  EXPECT_EQ(state.sessions[0].username, std::nullopt);
  EXPECT_EQ(state.sessions[1].username, std::optional<std::string>("alice"));

  // Turn the file back into version 1, as an older fieldgate left it.
  pragma(path_, "ALTER TABLE sessions DROP COLUMN username");
  pragma(path_, "ALTER TABLE messages DROP COLUMN properties");
  pragma(path_, "ALTER TABLE messages DROP COLUMN expires_ms");
  pragma(path_, "DROP TABLE bridge_queue");
  pragma(path_, "PRAGMA user_version = 1");
  ASSERT_EQ(pragma(path_, "PRAGMA user_version"), "1");
  state = load(path_);
  EXPECT_EQ(pragma(path_, "PRAGMA user_version"), "4");
  ASSERT_EQ(state.sessions.size(), 2u);
  EXPECT_EQ(state.sessions[1].username, std::nullopt);
}

TEST_F(StoreTest, Mqtt5MessagePropertiesExpiryAndSubscriptionIdentifiersRoundTrip) {
  auto with = std::make_shared<Message>(Message{"t/5", "payload", 1});
  auto properties = std::make_shared<PublishProperties>();
  properties->payload_format_indicator = 1;
  properties->content_type = "text/plain";
  properties->response_topic = "reply/x";
  properties->correlation_data = std::string("\0\xff", 2);
  properties->user_properties = {{"a", "1"}, {"", ""}, {"a", "2"}};
  with->properties = properties;
  with->expires_at_ms = 1'800'000'000'000;
  auto empty_strings = std::make_shared<Message>(Message{"t/e", "", 2});
  auto empty_properties = std::make_shared<PublishProperties>();
  empty_properties->content_type = "";
  empty_properties->correlation_data = "";
  empty_strings->properties = empty_properties;
  {
    Database db(path_, Durability::Process);
    Op sub = put_subscription("s", "$share/g/t/#", 2, kNoLocal | kRetainAsPublished | (2 << 4));
    sub.id = 268435455;  // the largest subscription identifier
    apply_ok(db, batch_of({put_session("s", 5, 60), sub, put_subscription("s", "plain", 1),
                           put_message(1, with), put_message(2, empty_strings),
                           put_message(3, message("t/3", "none"))}));
  }
  StoredState state = load(path_);
  ASSERT_EQ(state.messages.size(), 3u);
  const Message& m1 = *state.messages[0].second;
  ASSERT_TRUE(m1.properties);
  EXPECT_EQ(*m1.properties, *properties);
  EXPECT_EQ(m1.expires_at_ms, 1'800'000'000'000);
  ASSERT_TRUE(state.messages[1].second->properties);
  EXPECT_EQ(*state.messages[1].second->properties, *empty_properties);
  EXPECT_EQ(state.messages[2].second->properties, nullptr);
  EXPECT_EQ(state.messages[2].second->expires_at_ms, 0);
  ASSERT_EQ(state.sessions.size(), 1u);
  EXPECT_EQ(state.sessions[0].expiry_s, 60u);
  ASSERT_EQ(state.sessions[0].subscriptions.size(), 2u);
  const StoredSubscription& shared = state.sessions[0].subscriptions[0];
  EXPECT_EQ(shared.filter, "$share/g/t/#");
  EXPECT_EQ(shared.qos, 2);
  EXPECT_EQ(shared.options, kNoLocal | kRetainAsPublished | (2 << 4));
  EXPECT_EQ(shared.identifier, 268435455u);
  EXPECT_EQ(state.sessions[0].subscriptions[1].identifier, 0u);
}

// The bridges' out-queues: rows keep their payload and flags, load in seq order per bridge,
// and a delete removes exactly its row (also through compact(), as a retried batch does).
TEST_F(StoreTest, BridgeQueueRowsLoadInSeqOrderPerBridge) {
  auto put = [](std::string bridge, uint64_t seq, std::string topic, std::string payload,
                uint8_t qos, bool retain) {
    Op op = simple(Op::Kind::PutOutbox, std::move(bridge), {}, seq);
    op.message = message(std::move(topic), std::move(payload), qos);
    op.retain = retain;
    return op;
  };
  {
    Database db(path_, Durability::Process);
    apply_ok(db, batch_of({put("cloud", 10, "r/a", "1", 1, false),
                           put("backup", 1, "r/b", std::string("\0x", 2), 0, true),
                           put("cloud", 2, "r/c", "", 2, true),
                           put("cloud", 1ull << 40, "r/d", "4", 1, false)}));
    Batch second = batch_of(
        {simple(Op::Kind::DeleteOutbox, "cloud", {}, 10), put("cloud", 11, "r/e", "5", 1, false),
         simple(Op::Kind::DeleteOutbox, "cloud", {}, 11)},
        2);
    compact(second);
    apply_ok(db, second);
  }
  StoredState state = load(path_);
  ASSERT_EQ(state.bridge_queue.size(), 3u);
  EXPECT_EQ(state.bridge_queue[0].bridge, "backup");
  EXPECT_EQ(state.bridge_queue[0].payload, std::string("\0x", 2));
  EXPECT_TRUE(state.bridge_queue[0].retain);
  EXPECT_EQ(state.bridge_queue[0].qos, 0);
  EXPECT_EQ(state.bridge_queue[1].bridge, "cloud");
  EXPECT_EQ(state.bridge_queue[1].seq, 2u);
  EXPECT_EQ(state.bridge_queue[1].topic, "r/c");
  EXPECT_EQ(state.bridge_queue[1].payload, "");
  EXPECT_EQ(state.bridge_queue[1].qos, 2);
  EXPECT_EQ(state.bridge_queue[2].seq, 1ull << 40);
}

TEST_F(StoreTest, DeliveriesLoadInSeqOrderPerSession) {
  {
    Database db(path_, Durability::Process);
    std::vector<Op> ops{put_session("a"), put_session("b"), put_message(1, message("t", "p"))};
    // Written out of order, interleaved, with seqs past 32 bits and crossing 10 -> 9 as text.
    for (uint64_t seq : {10ull, 2ull, 9ull, 1ull << 40, 1ull}) {
      ops.push_back(put_delivery("b", seq, 1));
      ops.push_back(put_delivery("a", seq + 100, 1));
    }
    apply_ok(db, batch_of(std::move(ops)));
  }
  StoredState state = load(path_);
  for (const StoredSession& s : state.sessions) {
    std::vector<uint64_t> seqs;
    for (const StoredDelivery& d : s.deliveries)
      seqs.push_back(d.seq);
    const uint64_t base = s.client_id == "a" ? 100 : 0;
    EXPECT_EQ(seqs,
              (std::vector<uint64_t>{base + 1, base + 2, base + 9, base + 10, base + (1ull << 40)}))
        << s.client_id;
  }
}

TEST_F(StoreTest, FailedBatchChangesNothingAndAppliesLater) {
  Batch failing = big_batch(100, 200, 16 * 1024, 7);
  {
    Database db(path_, Durability::Process, /*max_pages=*/64);
    apply_ok(db, batch_of({put_session("c"), put_message(1, message("t", "small")),
                           put_delivery("c", 1, 1)}));
    std::string error;
    EXPECT_FALSE(db.apply(failing, error));
    EXPECT_NE(error.find("database or disk is full"), std::string::npos) << error;
    std::cout << "[ info     ] " << error << "\n";
    // Nothing of it stayed, and the statements still work.
    StoredState state = db.load();
    EXPECT_EQ(state.messages.size(), 1u);
    ASSERT_EQ(state.sessions.size(), 1u);
    EXPECT_EQ(state.sessions[0].deliveries.size(), 1u);
    apply_ok(db, batch_of({put_message(2, message("t", "after")), put_delivery("c", 2, 2)}));
    // It keeps failing the same way while the space is short.
    EXPECT_FALSE(db.apply(failing, error));
    // Deleting data makes room for a smaller batch.
    apply_ok(db, batch_of({simple(Op::Kind::DeleteDelivery, "c", {}, 2),
                           simple(Op::Kind::DeleteMessage, {}, {}, 2)}));
    apply_ok(db, big_batch(100, 5, 16 * 1024));
  }
  {
    Database db(path_, Durability::Process);  // room again
    apply_ok(db, failing);
  }
  StoredState state = load(path_);
  EXPECT_EQ(state.messages.size(), 201u);
  EXPECT_EQ(state.max_message_id, 299u);
  ASSERT_EQ(state.sessions.size(), 1u);
  EXPECT_EQ(state.sessions[0].deliveries.size(), 201u);
  EXPECT_EQ(state.messages.back().second->payload.size(), 16u * 1024);
}

TEST_F(StoreTest, CommittedBatchesSurviveAProcessThatDiesWithoutClosing) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto* db = new Database(path_, Durability::Process);  // never closed
    std::string error;
    const bool ok = db->apply(
        batch_of({put_session("k"), put_message(1, message("t", "p")), put_delivery("k", 1, 1)}),
        error);
    _exit(ok ? 0 : 1);  // like kill -9: no destructor, no checkpoint, the WAL stays
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(fs::exists(path_.string() + "-wal"));
  StoredState state = load(path_);
  ASSERT_EQ(state.sessions.size(), 1u);
  EXPECT_EQ(state.sessions[0].deliveries.size(), 1u);
  EXPECT_EQ(state.messages.size(), 1u);
}

TEST_F(StoreTest, GarbageFileIsRefusedNamingIt) {
  fs::create_directories(path_.parent_path());
  {
    std::ofstream out(path_);
    for (int i = 0; i < 200; ++i)
      out << "this is not a database, just some text\n";
  }
  std::string error = message_error([&] { Database db(path_, Durability::Process); });
  EXPECT_NE(error.find("cannot open state database " + path_.string()), std::string::npos) << error;
  EXPECT_NE(error.find("not a fieldgate database or is corrupt"), std::string::npos) << error;
  EXPECT_NE(error.find("move it away"), std::string::npos) << error;
  std::cout << "[ info     ] " << error << "\n";
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  { Database db(path_, Durability::Process); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  std::string error = message_error([&] { Database db(path_, Durability::Process); });
  EXPECT_NE(error.find(path_.string()), std::string::npos) << error;
  EXPECT_NE(error.find("schema version 99 is newer"), std::string::npos) << error;
  std::cout << "[ info     ] " << error << "\n";
  EXPECT_EQ(pragma(path_, "PRAGMA user_version"), "99");  // left as it was
}

TEST_F(StoreTest, UnwritableDirectoryIsRefusedNamingIt) {
  if (geteuid() == 0) GTEST_SKIP() << "root may write anywhere";
  fs::create_directories(dir_ / "ro");
  fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  const fs::path path = dir_ / "ro" / "fieldgate.db";
  std::string error = message_error([&] { Database db(path, Durability::Process); });
  EXPECT_NE(error.find("cannot open state database " + path.string()), std::string::npos) << error;
  EXPECT_NE(error.find("may write to state_dir"), std::string::npos) << error;
  fs::permissions(dir_ / "ro", fs::perms::owner_all);
}

TEST_F(StoreTest, UnusablePathsAreRefusedNamingThem) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  const fs::path under_file = dir_ / "file" / "fieldgate.db";
  std::string error = message_error([&] { Database db(under_file, Durability::Process); });
  EXPECT_NE(error.find("cannot open state database " + under_file.string()), std::string::npos)
      << error;
  EXPECT_NE(error.find("cannot create its directory"), std::string::npos) << error;

  const fs::path a_directory = dir_ / "dir.db";
  fs::create_directories(a_directory);
  error = message_error([&] { Database db(a_directory, Durability::Process); });
  EXPECT_NE(error.find("cannot open state database " + a_directory.string()), std::string::npos)
      << error;
  std::cout << "[ info     ] " << error << "\n";
}

TEST_F(StoreTest, SecondOpenFailsWhileTheFirstIsOpen) {
  Database first(path_, Durability::Process);
  apply_ok(first, batch_of({put_session("a")}));

  // In this process.
  const auto start = std::chrono::steady_clock::now();
  std::string error = message_error([&] { Database second(path_, Durability::Process); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));  // no waiting
  EXPECT_NE(error.find(path_.string()), std::string::npos) << error;
  EXPECT_NE(error.find("in use by another process"), std::string::npos) << error;
  std::cout << "[ info     ] " << error << "\n";

  // In another process, as a second fieldgate would.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string e = message_error([&] { Database second(path_, Durability::Process); });
    _exit(e.find("in use by another process") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // The first is unharmed.
  apply_ok(first, batch_of({put_session("b")}));
  EXPECT_EQ(first.load().sessions.size(), 2u);
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

TEST_F(StoreTest, WriterAppliesAndSignals) {
  Database db(path_, Durability::Process);
  {
    Writer writer(db);
    EXPECT_FALSE(writer.busy());
    EXPECT_FALSE(readable(writer.completion_fd(), 0));
    EXPECT_FALSE(writer.take_result().has_value());

    writer.submit(batch_of({put_session("w"), put_message(1, message("t", "p"))}, 41));
    EXPECT_TRUE(writer.busy());
    ASSERT_TRUE(readable(writer.completion_fd(), 5000));
    EXPECT_TRUE(writer.busy());  // until the result is taken
    Batch failed;
    auto result = writer.take_result(&failed);
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok) << result->error;
    EXPECT_EQ(result->batch_number, 41u);
    EXPECT_TRUE(failed.empty());
    EXPECT_FALSE(writer.busy());
    EXPECT_FALSE(readable(writer.completion_fd(), 0));  // level-triggered: cleared

    // Next batch; the destructor applies it even though nobody waits for it.
    writer.submit(batch_of({put_session("x")}, 42));
  }
  EXPECT_EQ(db.load().sessions.size(), 2u);
}

TEST_F(StoreTest, WriterHandsAFailedBatchBack) {
  Database db(path_, Durability::Process, /*max_pages=*/64);
  Writer writer(db);
  writer.submit(big_batch(1, 200, 16 * 1024, 9));
  ASSERT_TRUE(readable(writer.completion_fd(), 5000));
  Batch failed;
  auto result = writer.take_result(&failed);
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(result->ok);
  EXPECT_EQ(result->batch_number, 9u);
  EXPECT_NE(result->error.find("database or disk is full"), std::string::npos) << result->error;
  EXPECT_EQ(failed.number, 9u);
  EXPECT_EQ(failed.ops.size(), 400u);
  EXPECT_FALSE(writer.busy());

  // The loop trims it (or waits for room) and submits again.
  failed.ops.resize(4);
  writer.submit(std::move(failed));
  ASSERT_TRUE(readable(writer.completion_fd(), 5000));
  result = writer.take_result();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok) << result->error;
}

TEST_F(StoreTest, PurgeExpiredRemovesGoneSessionsAndTheirMessages) {
  const int64_t now = 1'700'000'000'000;
  {
    Database db(path_, Durability::Process);
    apply_ok(db, batch_of({
                     put_session("expired", 5, 60, now - 61'000),
                     put_session("fresh", 5, 60, now - 59'000),
                     put_session("forever", 4, 0, now - 1'000'000'000),
                     put_session("unknown", 5, 60, 0),
                     put_message(1, message("t", "only expired holds it")),
                     put_message(2, message("t", "expired and retained")),
                     put_message(3, message("t", "fresh holds it")),
                     put_delivery("expired", 1, 1),
                     put_delivery("expired", 2, 2),
                     put_retained("t", 2),
                     put_delivery("fresh", 1, 3),
                     put_subscription("expired", "t", 1),
                     put_inbound("expired", 3),
                 }));
    EXPECT_EQ(db.purge_expired(now), (std::vector<std::string>{"expired"}));
    EXPECT_TRUE(db.purge_expired(now).empty());
  }
  StoredState state = load(path_);
  std::vector<std::string> ids;
  for (const StoredSession& s : state.sessions)
    ids.push_back(s.client_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"forever", "fresh", "unknown"}));
  std::vector<uint64_t> messages;
  for (const auto& [id, m] : state.messages)
    messages.push_back(id);
  EXPECT_EQ(messages, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(pragma(path_, "SELECT count(*) FROM inbound"), "0");
  EXPECT_EQ(pragma(path_, "SELECT count(*) FROM subscriptions"), "0");
}

TEST_F(StoreTest, MaintainGivesFreePagesBack) {
  Database db(path_, Durability::Process);
  apply_ok(db, batch_of({put_session("c")}));
  apply_ok(db, big_batch(1, 400, 16 * 1024));  // ~6.5 MB
  db.maintain();
  const auto full = fs::file_size(path_);
  std::vector<Op> deletes;
  for (uint64_t i = 1; i <= 400; ++i) {
    deletes.push_back(simple(Op::Kind::DeleteDelivery, "c", {}, i));
    deletes.push_back(simple(Op::Kind::DeleteMessage, {}, {}, i));
  }
  apply_ok(db, batch_of(std::move(deletes)));
  db.maintain();
  const auto after = fs::file_size(path_);
  EXPECT_LT(after, full / 4) << full << " -> " << after;
  std::cout << "[ info     ] database file " << full << " bytes full, " << after
            << " bytes after deleting and maintain(); WAL "
            << fs::file_size(path_.string() + "-wal") << " bytes\n";
  db.maintain();  // nothing to do: cheap and harmless
  apply_ok(db, batch_of({put_session("d")}));
  EXPECT_EQ(db.load().sessions.size(), 2u);
}

TEST_F(StoreTest, Speed) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  const std::string payload(64, 'p');
  {
    Database db(path_, Durability::Process);
    std::vector<Op> sessions;
    for (int s = 0; s < 10'000; ++s) {
      const std::string id = "client-" + std::to_string(s);
      sessions.push_back(put_session(id, 5, 3600, 1'700'000'000'000));
      sessions.push_back(put_subscription(id, "sensors/" + std::to_string(s) + "/#", 1));
    }
    apply_ok(db, batch_of(std::move(sessions)));

    // 12 batches of 10,000 messages + 10,000 deliveries each.
    uint64_t id = 0;
    double best = 0;
    double total_time = 0;
    for (int b = 0; b < 12; ++b) {
      std::vector<Op> ops;
      ops.reserve(20'000);
      for (int i = 0; i < 10'000; ++i) {
        ++id;
        ops.push_back(
            put_message(id, message("sensors/" + std::to_string(id % 10'000) + "/t", payload)));
        ops.push_back(put_delivery("client-" + std::to_string(id % 10'000), id, id));
      }
      Batch batch = batch_of(std::move(ops), b);
      const auto start = Clock::now();
      apply_ok(db, batch);
      const double t = seconds(Clock::now() - start);
      total_time += t;
      best = std::max(best, 20'000 / t);
    }
    std::cout << "[ info     ] apply: " << static_cast<long>(240'000 / total_time)
              << " ops/s on average (best batch " << static_cast<long>(best)
              << " ops/s), batches of 10,000 PutMessage + 10,000 PutDelivery\n";

    // Then subscribers acknowledge some: 100,000 deliveries stay.
    std::vector<Op> deletes;
    for (uint64_t i = 1; i <= 20'000; ++i) {
      deletes.push_back(
          simple(Op::Kind::DeleteDelivery, "client-" + std::to_string(i % 10'000), {}, i));
      deletes.push_back(simple(Op::Kind::DeleteMessage, {}, {}, i));
    }
    const auto start = Clock::now();
    apply_ok(db, batch_of(std::move(deletes)));
    std::cout << "[ info     ] apply: " << static_cast<long>(40'000 / seconds(Clock::now() - start))
              << " ops/s for 20,000 DeleteDelivery + 20,000 DeleteMessage\n";
  }
  const auto start = Clock::now();
  Database db(path_, Durability::Process);
  const auto opened = Clock::now();
  StoredState state = db.load();
  const auto loaded = Clock::now();
  size_t deliveries = 0;
  for (const StoredSession& s : state.sessions)
    deliveries += s.deliveries.size();
  EXPECT_EQ(state.sessions.size(), 10'000u);
  EXPECT_EQ(deliveries, 100'000u);
  EXPECT_EQ(state.messages.size(), 100'000u);
  std::cout << "[ info     ] open " << seconds(opened - start) * 1000 << " ms, load "
            << seconds(loaded - opened) * 1000 << " ms: " << state.sessions.size() << " sessions, "
            << deliveries << " deliveries, " << state.messages.size() << " messages\n";
  const auto purge_start = Clock::now();
  EXPECT_TRUE(db.purge_expired(1'700'000'000'000).empty());
  std::cout << "[ info     ] purge_expired (nothing expired) "
            << seconds(Clock::now() - purge_start) * 1000 << " ms\n";
}

}  // namespace
}  // namespace fieldgate::broker::store
