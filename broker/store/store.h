// Durable broker state in one SQLite database (state_dir/fieldgate.db): persistent sessions,
// their subscriptions, their queued and in-flight QoS 1/2 messages, the inbound QoS 2 packet ids
// awaiting PUBREL, and retained messages. Payloads are stored once (table messages) and
// referenced by every delivery and retained entry that holds them. It also holds the bridges'
// out-queues (table bridge_queue; broker/bridge/).
//
// The broker keeps all of this in memory too; the database is its write-behind copy. The event
// loop collects the changes of one or more loop turns in a Batch and hands it to the Writer,
// whose thread applies it in one transaction (group commit). The loop acknowledges the work of
// a batch to clients only once the Writer reports it committed.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "broker/message.h"

struct sqlite3;

namespace fieldgate::broker::store {

// Opening, reading or migrating the database failed. what() names the file and what to do.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Durability { Process, Power };  // synchronous=NORMAL / synchronous=FULL (WAL)

// The flow state of one delivery (one message on its way to one session).
enum class DeliveryState : uint8_t {
  Queued = 0,    // not sent yet (or sent at QoS 1 without the state being recorded)
  Sent = 1,      // PUBLISH sent with packet_id, awaiting PUBACK (QoS 1) or PUBREC (QoS 2)
  Released = 2,  // QoS 2: PUBREC received, PUBREL sent, awaiting PUBCOMP; no message any more
};

// --- what load() returns ---

// StoredSubscription::options: the MQTT 5 subscription options byte without its QoS bits.
inline constexpr uint8_t kNoLocal = 0x04;
inline constexpr uint8_t kRetainAsPublished = 0x08;  // retain handling is bits 4 and 5

struct StoredSubscription {
  std::string filter;
  uint8_t qos = 0;
  uint8_t options = 0;      // MQTT 5 subscription options beyond the QoS (0 for 3.1.1)
  uint32_t identifier = 0;  // MQTT 5 subscription identifier; 0: none
};

struct StoredDelivery {
  uint64_t seq = 0;         // orders the deliveries of one session
  uint64_t message_id = 0;  // 0 when state == Released
  uint8_t qos = 1;
  bool retain = false;
  uint16_t packet_id = 0;  // 0 when state == Queued
  DeliveryState state = DeliveryState::Queued;
};

struct StoredSession {
  std::string client_id;
  uint8_t protocol = 4;                 // the CONNECT protocol level: 3, 4 or 5
  uint32_t expiry_s = 0;                // 0: never expires
  int64_t last_seen_ms = 0;             // when its client last disconnected (Unix ms); 0: unknown
  std::optional<std::string> username;  // of its last login; for the ACL while away
  std::vector<StoredSubscription> subscriptions;
  std::vector<StoredDelivery> deliveries;  // ascending seq
  std::vector<uint16_t> awaiting_pubrel;   // inbound QoS 2 packet ids
};

struct StoredRetained {
  std::string topic;
  uint64_t message_id = 0;
};

// One message in a bridge's out-queue: stored when it was routed to the bridge, deleted once
// the cloud acknowledged it (or it was dropped over the queue's bounds).
struct StoredBridgeMessage {
  std::string bridge;  // the [[bridge]] name
  uint64_t seq = 0;    // the order in which the bridge sends them
  std::string topic;   // the remote topic
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
};

struct StoredState {
  std::vector<std::pair<uint64_t, MessagePtr>> messages;  // (message id, message)
  std::vector<StoredSession> sessions;
  std::vector<StoredRetained> retained;
  uint64_t max_message_id = 0;  // message ids of new messages continue after this
  // The bridges' out-queues, ordered by bridge, then seq.
  std::vector<StoredBridgeMessage> bridge_queue;
};

// --- what a batch holds ---

// One change. Fields not named by the kind are ignored.
struct Op {
  enum class Kind : uint8_t {
    PutSession,          // client_id, protocol, expiry_s, last_seen_ms, username (text when
                         // has_username) (insert or replace)
    DeleteSession,       // client_id: the session and everything it holds
    PutSubscription,     // client_id, text = filter, qos, options, id = subscription identifier
                         // (insert or replace)
    DeleteSubscription,  // client_id, text = filter
    PutMessage,          // id = message id, message (insert; with its MQTT 5 properties)
    DeleteMessage,       // id = message id
    PutDelivery,         // client_id, id = seq, message_id, qos, retain, packet_id, state
    DeleteDelivery,      // client_id, id = seq
    PutInbound,          // client_id, packet_id
    DeleteInbound,       // client_id, packet_id
    PutRetained,         // text = topic, message_id (insert or replace)
    DeleteRetained,      // text = topic
    PutOutbox,           // client_id = bridge name, id = seq, message (remote topic), retain
    DeleteOutbox,        // client_id = bridge name, id = seq
    Skip,                // cancelled before the batch was handed over: do nothing
  };
  Kind kind = Kind::Skip;
  std::string client_id;
  std::string text;
  uint64_t id = 0;
  uint64_t message_id = 0;
  MessagePtr message;
  int64_t last_seen_ms = 0;
  uint32_t expiry_s = 0;
  uint16_t packet_id = 0;
  uint8_t protocol = 0;
  uint8_t qos = 0;
  uint8_t options = 0;
  bool retain = false;
  bool has_username = false;
  DeliveryState state = DeliveryState::Queued;
};

struct Batch {
  uint64_t number = 0;  // assigned by the loop, increasing
  std::vector<Op> ops;
  bool empty() const { return ops.empty(); }
};

// Drops every op whose effect a later op of the same batch overwrites or deletes (a row put and
// then deleted, a session's rows before its DeleteSession) and moves the deletes first.
// Applying the result leaves the database as applying `batch` would. Used to merge a batch the
// disk refused with the ones after it: their deletes may be what frees the space.
void compact(Batch& batch);

// The database itself. Used by one thread at a time: the loop at start (open, load), then the
// Writer's thread.
class Database {
 public:
  // Opens (creating it and `path`'s directory if missing) and migrates the schema to the current
  // version. max_pages > 0 caps the file size (PRAGMA max_page_count), to test a full disk.
  // Throws StoreError naming the file: cannot create, not a database / corrupt, newer schema
  // than this build knows, locked by another process.
  Database(const std::filesystem::path& path, Durability durability, uint32_t max_pages = 0);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Everything stored, deliveries in seq order per session.
  StoredState load();

  // Applies every op of `batch` in order in one transaction. On failure (disk full, I/O error)
  // rolls it back, leaves the database as before the batch and returns false with `error` set
  // ("database or disk is full", ...). The same batch can be applied again later.
  bool apply(const Batch& batch, std::string& error);

  // Removes sessions whose client has been gone (last_seen_ms) longer than their expiry_s
  // (expiry_s 0: never) at now_ms; returns their client ids. Used at start.
  std::vector<std::string> purge_expired(int64_t now_ms);

  // Returns free pages to the file system when many are free, and checkpoints the WAL. Cheap
  // when there is nothing to do; call it now and then (e.g. every minute) between batches.
  void maintain();

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  struct Statements;
  std::unique_ptr<Statements> statements_;
};

// Applies batches on its own thread, one at a time, so that the loop never waits for the disk.
class Writer {
 public:
  explicit Writer(Database& database);  // starts the thread
  ~Writer();                            // applies the batch it holds, then joins

  // Hands `batch` over. Call only when !busy().
  void submit(Batch batch);
  // A batch is being applied, or its result has not been taken yet.
  bool busy() const;

  // Readable (eventfd) when a result is ready to be taken.
  int completion_fd() const;

  struct Result {
    uint64_t batch_number = 0;
    bool ok = false;
    std::string error;  // when !ok
  };
  // The result of the submitted batch, once applied; clears busy(). A failed batch is handed
  // back in `failed` so that the loop can submit it again.
  std::optional<Result> take_result(Batch* failed = nullptr);

 private:
  // (implementation details: thread, mutex, condition variable, eventfd, pending batch)
  void run();
  Database& database_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<Batch> pending_;  // submitted, not yet applied
  std::optional<Batch> done_;     // applied, result not taken yet
  std::optional<Result> result_;
  bool stopping_ = false;
  int event_fd_ = -1;
  std::thread thread_;
};

}  // namespace fieldgate::broker::store
