// The broker's durable state in SQLite: see store.h for the contract.
//
// Decisions worth knowing:
// - locking_mode=EXCLUSIVE is set before the first access, so the WAL index lives in heap
//   memory (no -shm file) and the file lock taken by the write transaction at open is held
//   until close: a second fieldgate on the same file fails at open with "in use by another
//   process" instead of waiting or sharing it. busy_timeout is 0, so that failure is immediate.
// - Every Put is an upsert and every Delete is idempotent, so applying a batch again (after a
//   failure whose outcome is unknown) is harmless.
// - auto_vacuum=INCREMENTAL (set before the first table exists) lets maintain() give free
//   pages back; journal_size_limit keeps the WAL file from staying at its largest size.
#include "broker/store/store.h"

#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/log.h"

namespace fieldgate::broker::store {
namespace {

// The schema, one migration per version: kMigrations[i] takes the database from version i to
// version i + 1 (PRAGMA user_version). Append new steps; never edit a released one.
constexpr const char* kMigrations[] = {
    // 1: the first schema.
    R"sql(
CREATE TABLE sessions (
  client_id    TEXT    NOT NULL PRIMARY KEY,
  protocol     INTEGER NOT NULL,
  expiry_s     INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE subscriptions (
  client_id TEXT    NOT NULL,
  filter    TEXT    NOT NULL,
  qos       INTEGER NOT NULL,
  options   INTEGER NOT NULL,
  PRIMARY KEY (client_id, filter)
) WITHOUT ROWID;
CREATE TABLE messages (
  id      INTEGER PRIMARY KEY,
  topic   TEXT    NOT NULL,
  payload BLOB    NOT NULL,
  qos     INTEGER NOT NULL
);
CREATE TABLE deliveries (
  client_id  TEXT    NOT NULL,
  seq        INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  qos        INTEGER NOT NULL,
  retain     INTEGER NOT NULL,
  packet_id  INTEGER NOT NULL,
  state      INTEGER NOT NULL,
  PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;
CREATE TABLE inbound (
  client_id TEXT    NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
CREATE TABLE retained (
  topic      TEXT    NOT NULL PRIMARY KEY,
  message_id INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: the user name a session last logged in with, for its ACL while its client is away.
    R"sql(
ALTER TABLE sessions ADD COLUMN username TEXT;
)sql",
    // 3: MQTT 5 messages: their properties (encode_properties) and expiry time (Unix ms, 0:
    // never). subscriptions.options holds the subscription identifier from bit 8 on.
    R"sql(
ALTER TABLE messages ADD COLUMN properties BLOB;
ALTER TABLE messages ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: the bridges' store-and-forward queues (the payload is kept with its row: a message
    // leaves the queue once, so there is nothing to share with the messages table).
    R"sql(
CREATE TABLE bridge_queue (
  bridge  TEXT    NOT NULL,
  seq     INTEGER NOT NULL,
  topic   TEXT    NOT NULL,
  payload BLOB    NOT NULL,
  qos     INTEGER NOT NULL,
  retain  INTEGER NOT NULL,
  PRIMARY KEY (bridge, seq)
) WITHOUT ROWID;
)sql",
};

// A message's MQTT 5 properties as one blob: records of a tag byte and length-prefixed (u32,
// little endian) values; a user property is two values.
enum : uint8_t {
  kTagFormat = 1,
  kTagContentType = 3,
  kTagResponseTopic = 8,
  kTagCorrelation = 9,
  kTagUser = 0x26
};

void put_value(std::string& out, std::string_view v) {
  const auto n = static_cast<uint32_t>(v.size());
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>((n >> (8 * i)) & 0xff);
  out += v;
}

std::string encode_properties(const PublishProperties& p) {
  std::string out;
  if (p.payload_format_indicator) {
    out += static_cast<char>(kTagFormat);
    put_value(out, std::string(1, static_cast<char>(*p.payload_format_indicator)));
  }
  auto field = [&](uint8_t tag, const std::optional<std::string>& v) {
    if (!v) return;
    out += static_cast<char>(tag);
    put_value(out, *v);
  };
  field(kTagContentType, p.content_type);
  field(kTagResponseTopic, p.response_topic);
  field(kTagCorrelation, p.correlation_data);
  for (const auto& [name, value] : p.user_properties) {
    out += static_cast<char>(kTagUser);
    put_value(out, name);
    put_value(out, value);
  }
  return out;
}

// False when the blob is not one encode_properties wrote.
bool decode_properties(std::string_view in, PublishProperties& p) {
  auto value = [&](std::string& v) {
    if (in.size() < 4) return false;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
      n |= uint32_t{static_cast<uint8_t>(in[static_cast<size_t>(i)])} << (8 * i);
    in.remove_prefix(4);
    if (in.size() < n) return false;
    v.assign(in.substr(0, n));
    in.remove_prefix(n);
    return true;
  };
  while (!in.empty()) {
    const auto tag = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    std::string v;
    if (!value(v)) return false;
    switch (tag) {
      case kTagFormat:
        if (v.size() != 1) return false;
        p.payload_format_indicator = static_cast<uint8_t>(v[0]);
        break;
      case kTagContentType:
        p.content_type = std::move(v);
        break;
      case kTagResponseTopic:
        p.response_topic = std::move(v);
        break;
      case kTagCorrelation:
        p.correlation_data = std::move(v);
        break;
      case kTagUser: {
        std::string second;
        if (!value(second)) return false;
        p.user_properties.emplace_back(std::move(v), std::move(second));
        break;
      }
      default:
        return false;
    }
  }
  return true;
}
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// maintain(): vacuum when this many pages are free and they are more than a quarter of the file.
constexpr int64_t kVacuumMinFreePages = 512;
// The WAL file is cut back to this size after a checkpoint.
constexpr int64_t kJournalSizeLimit = 16 * 1024 * 1024;

// What the user can do about an error that stops fieldgate from opening the database.
std::string advice(int rc, const std::filesystem::path& path) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return "the file is not a fieldgate database or is corrupt: move it away (fieldgate starts "
             "with an empty state) or restore a backup";
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return "check that the user running fieldgate may write to state_dir (" +
             path.parent_path().string() + ") and that " + path.filename().string() +
             " there is a file it may write";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "it is in use by another process (another fieldgate, or another program): stop it "
             "or choose another state_dir";
    case SQLITE_FULL:
      return "the disk is full: free space on the file system holding state_dir";
    case SQLITE_IOERR:
      return "the disk reported an I/O error: check the disk and the file system";
    case SQLITE_NOMEM:
      return "out of memory";
    default:
      return "see the SQLite message";
  }
}

// `doing` says what failed: "cannot open", "cannot read", ...
StoreError open_error(const std::filesystem::path& path, int rc, const std::string& message,
                      const char* doing = "cannot open") {
  return StoreError(std::string(doing) + " state database " + path.string() + ": " + message +
                    "; " + advice(rc, path));
}

// Resets a statement when leaving a scope, whatever happened, so that it is usable again.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* statement) : statement_(statement) {}
  ~ResetOnExit() { sqlite3_reset(statement_); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* statement_;
};

void bind_text(sqlite3_stmt* s, int index, const std::string& text) {
  sqlite3_bind_text64(s, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

std::string column_text(sqlite3_stmt* s, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  const int size = sqlite3_column_bytes(s, column);
  return text != nullptr ? std::string(text, static_cast<size_t>(size)) : std::string();
}

std::string column_blob(sqlite3_stmt* s, int column) {
  const auto* blob = static_cast<const char*>(sqlite3_column_blob(s, column));
  const int size = sqlite3_column_bytes(s, column);
  return blob != nullptr ? std::string(blob, static_cast<size_t>(size)) : std::string();
}

}  // namespace

// One prepared statement per kind of write, prepared at open and reused by every batch.
struct Database::Statements {
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* put_session = nullptr;
  sqlite3_stmt* delete_session = nullptr;
  sqlite3_stmt* delete_session_subscriptions = nullptr;
  sqlite3_stmt* delete_session_deliveries = nullptr;
  sqlite3_stmt* delete_session_inbound = nullptr;
  sqlite3_stmt* put_subscription = nullptr;
  sqlite3_stmt* delete_subscription = nullptr;
  sqlite3_stmt* put_message = nullptr;
  sqlite3_stmt* delete_message = nullptr;
  sqlite3_stmt* put_delivery = nullptr;
  sqlite3_stmt* delete_delivery = nullptr;
  sqlite3_stmt* put_inbound = nullptr;
  sqlite3_stmt* delete_inbound = nullptr;
  sqlite3_stmt* put_retained = nullptr;
  sqlite3_stmt* delete_retained = nullptr;
  sqlite3_stmt* put_bridge_message = nullptr;
  sqlite3_stmt* delete_bridge_message = nullptr;

  static constexpr size_t count = 20;

  ~Statements() {
    for (sqlite3_stmt* s :
         {begin, commit, rollback, put_session, delete_session, delete_session_subscriptions,
          delete_session_deliveries, delete_session_inbound, put_subscription, delete_subscription,
          put_message, delete_message, put_delivery, delete_delivery, put_inbound, delete_inbound,
          put_retained, delete_retained}) {
      sqlite3_finalize(s);
    }
    sqlite3_finalize(put_bridge_message);
    sqlite3_finalize(delete_bridge_message);
  }
};

namespace {

// Runs SQL without results (or ignoring them); throws StoreError for `path` on failure.
void exec(sqlite3* db, const std::filesystem::path& path, const char* sql,
          const char* doing = "cannot open") {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw open_error(path, sqlite3_extended_errcode(db), text, doing);
  }
}

// Runs a statement returning one value (a PRAGMA); throws StoreError for `path` on failure.
std::string query_one(sqlite3* db, const std::filesystem::path& path, const char* sql,
                      const char* doing = "cannot open") {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
  if (rc != SQLITE_OK) throw open_error(path, rc, sqlite3_errmsg(db), doing);
  std::string value;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    value = column_text(s, 0);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
  }
  if (rc != SQLITE_DONE) {
    std::string message = sqlite3_errmsg(db);
    const int code = sqlite3_extended_errcode(db);
    sqlite3_finalize(s);
    throw open_error(path, code, message, doing);
  }
  sqlite3_finalize(s);
  return value;
}

// Runs a read-only query, calling row(statement) for each row; throws StoreError on failure.
template <typename Row>
void query(sqlite3* db, const std::filesystem::path& path, const char* sql, Row&& row) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
  if (rc != SQLITE_OK) throw open_error(path, rc, sqlite3_errmsg(db), "cannot read");
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    row(s);
  if (rc != SQLITE_DONE) {
    std::string message = sqlite3_errmsg(db);
    const int code = sqlite3_extended_errcode(db);
    sqlite3_finalize(s);
    throw open_error(path, code, message, "cannot read");
  }
  sqlite3_finalize(s);
}

}  // namespace

Database::Database(const std::filesystem::path& path, Durability durability, uint32_t max_pages)
    : path_(path) {
  if (path_.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    if (ec) {
      throw StoreError("cannot open state database " + path_.string() +
                       ": cannot create its directory " + path_.parent_path().string() + ": " +
                       ec.message() +
                       "; check that state_dir is right and that the user running fieldgate may "
                       "create it");
    }
  }

  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw open_error(path_, rc, message);
  }

  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 0);  // another process holding the file: fail now, never wait
    // Before the first access: the lock is then held until close and the WAL index is kept in
    // heap memory instead of a -shm file.
    exec(db_, path_, "PRAGMA locking_mode=EXCLUSIVE");
    // Only takes effect on a database without tables, i.e. before the first migration.
    exec(db_, path_, "PRAGMA auto_vacuum=INCREMENTAL");
    const std::string mode = query_one(db_, path_, "PRAGMA journal_mode=WAL");
    if (mode != "wal") {
      throw open_error(path_, SQLITE_ERROR,
                       "cannot switch to WAL mode (journal mode is \"" + mode + "\")");
    }
    exec(db_, path_,
         durability == Durability::Power ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec(db_, path_, ("PRAGMA journal_size_limit=" + std::to_string(kJournalSizeLimit)).c_str());
    if (max_pages > 0) {
      exec(db_, path_, ("PRAGMA max_page_count=" + std::to_string(max_pages)).c_str());
    }

    // The migration runs in a write transaction even when there is nothing to migrate: that
    // takes the exclusive file lock now, so a database in use by another process is refused
    // here rather than at the first batch.
    exec(db_, path_, "BEGIN IMMEDIATE");
    try {
      const int version = std::stoi(query_one(db_, path_, "PRAGMA user_version"));
      if (version > kSchemaVersion) {
        throw StoreError("cannot open state database " + path_.string() + ": its schema version " +
                         std::to_string(version) + " is newer than this fieldgate knows (" +
                         std::to_string(kSchemaVersion) +
                         "); run a newer fieldgate, or move the file away (fieldgate starts with "
                         "an empty state)");
      }
      for (int v = version; v < kSchemaVersion; ++v)
        exec(db_, path_, kMigrations[v]);
      if (version != kSchemaVersion) {
        exec(db_, path_, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
      }
      exec(db_, path_, "COMMIT");
    } catch (...) {
      if (sqlite3_get_autocommit(db_) == 0)
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }

    statements_ = std::make_unique<Statements>();
    const std::pair<sqlite3_stmt**, const char*> sql[] = {
        {&statements_->begin, "BEGIN IMMEDIATE"},
        {&statements_->commit, "COMMIT"},
        {&statements_->rollback, "ROLLBACK"},
        {&statements_->put_session,
         "INSERT INTO sessions (client_id, protocol, expiry_s, last_seen_ms, username) VALUES "
         "(?1, ?2, ?3, ?4, ?5) ON CONFLICT (client_id) DO UPDATE SET protocol = "
         "excluded.protocol, expiry_s = excluded.expiry_s, last_seen_ms = excluded.last_seen_ms, "
         "username = excluded.username"},
        {&statements_->delete_session, "DELETE FROM sessions WHERE client_id = ?1"},
        {&statements_->delete_session_subscriptions,
         "DELETE FROM subscriptions WHERE client_id = ?1"},
        {&statements_->delete_session_deliveries, "DELETE FROM deliveries WHERE client_id = ?1"},
        {&statements_->delete_session_inbound, "DELETE FROM inbound WHERE client_id = ?1"},
        {&statements_->put_subscription,
         "INSERT OR REPLACE INTO subscriptions (client_id, filter, qos, options) VALUES (?1, ?2, "
         "?3, ?4)"},
        {&statements_->delete_subscription,
         "DELETE FROM subscriptions WHERE client_id = ?1 AND filter = ?2"},
        {&statements_->put_message,
         "INSERT OR REPLACE INTO messages (id, topic, payload, qos, properties, expires_ms) VALUES "
         "(?1, ?2, ?3, ?4, ?5, ?6)"},
        {&statements_->delete_message, "DELETE FROM messages WHERE id = ?1"},
        {&statements_->put_delivery,
         "INSERT OR REPLACE INTO deliveries (client_id, seq, message_id, qos, retain, packet_id, "
         "state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        {&statements_->delete_delivery, "DELETE FROM deliveries WHERE client_id = ?1 AND seq = ?2"},
        {&statements_->put_inbound,
         "INSERT OR IGNORE INTO inbound (client_id, packet_id) VALUES (?1, ?2)"},
        {&statements_->delete_inbound,
         "DELETE FROM inbound WHERE client_id = ?1 AND packet_id = ?2"},
        {&statements_->put_retained,
         "INSERT OR REPLACE INTO retained (topic, message_id) VALUES (?1, ?2)"},
        {&statements_->delete_retained, "DELETE FROM retained WHERE topic = ?1"},
        {&statements_->put_bridge_message,
         "INSERT OR REPLACE INTO bridge_queue (bridge, seq, topic, payload, qos, retain) VALUES "
         "(?1, ?2, ?3, ?4, ?5, ?6)"},
        {&statements_->delete_bridge_message,
         "DELETE FROM bridge_queue WHERE bridge = ?1 AND seq = ?2"},
    };
    static_assert(std::size(sql) == Statements::count);
    for (const auto& [statement, text] : sql) {
      if (sqlite3_prepare_v3(db_, text, -1, SQLITE_PREPARE_PERSISTENT, statement, nullptr) !=
          SQLITE_OK) {
        throw open_error(path_, sqlite3_extended_errcode(db_), sqlite3_errmsg(db_));
      }
    }
  } catch (...) {
    statements_.reset();
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

Database::~Database() {
  statements_.reset();
  // The last connection to close checkpoints the WAL and removes it.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

StoredState Database::load() {
  StoredState state;

  // Messages first: deliveries and retained entries refer to them by id.
  query(db_, path_,
        "SELECT id, topic, payload, qos, properties, expires_ms FROM messages ORDER BY id",
        [&](auto* s) {
          const auto id = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
          auto message = std::make_shared<Message>();
          message->topic = column_text(s, 1);
          message->payload = column_blob(s, 2);
          message->qos = static_cast<uint8_t>(sqlite3_column_int(s, 3));
          if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
            auto properties = std::make_shared<PublishProperties>();
            if (decode_properties(column_blob(s, 4), *properties)) {
              message->properties = std::move(properties);
            } else {
              log::warn("store", "state database ", path_.string(), ": message ", id,
                        " has unreadable MQTT 5 properties; kept without them");
            }
          }
          message->expires_at_ms = sqlite3_column_int64(s, 5);
          state.messages.emplace_back(id, std::move(message));
          state.max_message_id = id;  // ascending
        });

  std::unordered_map<std::string, size_t> index;
  query(db_, path_,
        "SELECT client_id, protocol, expiry_s, last_seen_ms, username FROM sessions ORDER BY "
        "client_id",
        [&](auto* s) {
          StoredSession session;
          session.client_id = column_text(s, 0);
          session.protocol = static_cast<uint8_t>(sqlite3_column_int(s, 1));
          session.expiry_s = static_cast<uint32_t>(sqlite3_column_int64(s, 2));
          session.last_seen_ms = sqlite3_column_int64(s, 3);
          if (sqlite3_column_type(s, 4) != SQLITE_NULL) session.username = column_text(s, 4);
          index.emplace(session.client_id, state.sessions.size());
          state.sessions.push_back(std::move(session));
        });

  // The other tables are scanned in primary key order, so the rows of one session come
  // together: look its session up once per run of rows, not once per row. Rows of a session
  // that does not exist (none are written so, but a file may be edited) are skipped.
  auto for_sessions = [&](const char* sql, auto&& row) {
    StoredSession* current = nullptr;
    std::string current_id;
    bool have_current = false;
    query(db_, path_, sql, [&](sqlite3_stmt* s) {
      const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      const auto size = static_cast<size_t>(sqlite3_column_bytes(s, 0));
      const std::string_view client_id(id != nullptr ? id : "", size);
      if (!have_current || client_id != current_id) {
        current_id.assign(client_id);
        have_current = true;
        auto it = index.find(current_id);
        current = it != index.end() ? &state.sessions[it->second] : nullptr;
      }
      if (current != nullptr) row(*current, s);
    });
  };
  for_sessions(
      "SELECT client_id, filter, qos, options FROM subscriptions ORDER BY client_id, filter",
      [](StoredSession& session, sqlite3_stmt* s) {
        StoredSubscription& sub = session.subscriptions.emplace_back();
        sub.filter = column_text(s, 1);
        sub.qos = static_cast<uint8_t>(sqlite3_column_int(s, 2));
        const auto options = static_cast<uint64_t>(sqlite3_column_int64(s, 3));
        sub.options = static_cast<uint8_t>(options & 0xff);
        sub.identifier = static_cast<uint32_t>(options >> 8);
      });
  for_sessions(
      "SELECT client_id, seq, message_id, qos, retain, packet_id, state FROM deliveries ORDER BY "
      "client_id, seq",
      [](StoredSession& session, sqlite3_stmt* s) {
        StoredDelivery& d = session.deliveries.emplace_back();
        d.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
        d.message_id = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
        d.qos = static_cast<uint8_t>(sqlite3_column_int(s, 3));
        d.retain = sqlite3_column_int(s, 4) != 0;
        d.packet_id = static_cast<uint16_t>(sqlite3_column_int(s, 5));
        d.state = static_cast<DeliveryState>(sqlite3_column_int(s, 6));
      });
  for_sessions("SELECT client_id, packet_id FROM inbound ORDER BY client_id, packet_id",
               [](StoredSession& session, sqlite3_stmt* s) {
                 session.awaiting_pubrel.push_back(static_cast<uint16_t>(sqlite3_column_int(s, 1)));
               });

  query(db_, path_, "SELECT topic, message_id FROM retained ORDER BY topic", [&](auto* s) {
    state.retained.push_back(
        {column_text(s, 0), static_cast<uint64_t>(sqlite3_column_int64(s, 1))});
  });
  query(db_, path_,
        "SELECT bridge, seq, topic, payload, qos, retain FROM bridge_queue ORDER BY bridge, seq",
        [&](auto* s) {
          StoredBridgeMessage& m = state.bridge_queue.emplace_back();
          m.bridge = column_text(s, 0);
          m.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
          m.topic = column_text(s, 2);
          m.payload = column_blob(s, 3);
          m.qos = static_cast<uint8_t>(sqlite3_column_int(s, 4));
          m.retain = sqlite3_column_int(s, 5) != 0;
        });
  return state;
}

bool Database::apply(const Batch& batch, std::string& error) {
  Statements& st = *statements_;
  // Runs one statement to completion; leaves it reset whatever happens.
  auto run = [](sqlite3_stmt* s) {
    ResetOnExit reset(s);
    return sqlite3_step(s) == SQLITE_DONE;
  };
  auto run_op = [&](const Op& op) -> bool {
    switch (op.kind) {
      case Op::Kind::PutSession: {
        sqlite3_stmt* s = st.put_session;
        bind_text(s, 1, op.client_id);
        sqlite3_bind_int(s, 2, op.protocol);
        sqlite3_bind_int64(s, 3, op.expiry_s);
        sqlite3_bind_int64(s, 4, op.last_seen_ms);
        if (op.has_username) {
          bind_text(s, 5, op.text);
        } else {
          sqlite3_bind_null(s, 5);
        }
        return run(s);
      }
      case Op::Kind::DeleteSession:
        for (sqlite3_stmt* s : {st.delete_session_subscriptions, st.delete_session_deliveries,
                                st.delete_session_inbound, st.delete_session}) {
          bind_text(s, 1, op.client_id);
          if (!run(s)) return false;
        }
        return true;
      case Op::Kind::PutSubscription: {
        sqlite3_stmt* s = st.put_subscription;
        bind_text(s, 1, op.client_id);
        bind_text(s, 2, op.text);
        sqlite3_bind_int(s, 3, op.qos);
        sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(op.options | (op.id << 8)));
        return run(s);
      }
      case Op::Kind::DeleteSubscription: {
        sqlite3_stmt* s = st.delete_subscription;
        bind_text(s, 1, op.client_id);
        bind_text(s, 2, op.text);
        return run(s);
      }
      case Op::Kind::PutMessage: {
        if (!op.message) return true;  // nothing to keep (a loop bug; never write a NULL)
        sqlite3_stmt* s = st.put_message;
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(op.id));
        bind_text(s, 2, op.message->topic);
        // data() is never null, so an empty payload is stored as an empty blob, not NULL.
        sqlite3_bind_blob64(s, 3, op.message->payload.data(), op.message->payload.size(),
                            SQLITE_STATIC);
        sqlite3_bind_int(s, 4, op.message->qos);
        std::string properties;
        if (op.message->properties) {
          properties = encode_properties(*op.message->properties);
          sqlite3_bind_blob64(s, 5, properties.data(), properties.size(), SQLITE_TRANSIENT);
        } else {
          sqlite3_bind_null(s, 5);
        }
        sqlite3_bind_int64(s, 6, op.message->expires_at_ms);
        return run(s);
      }
      case Op::Kind::DeleteMessage: {
        sqlite3_stmt* s = st.delete_message;
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(op.id));
        return run(s);
      }
      case Op::Kind::PutDelivery: {
        sqlite3_stmt* s = st.put_delivery;
        bind_text(s, 1, op.client_id);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(op.id));
        sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(op.message_id));
        sqlite3_bind_int(s, 4, op.qos);
        sqlite3_bind_int(s, 5, op.retain ? 1 : 0);
        sqlite3_bind_int(s, 6, op.packet_id);
        sqlite3_bind_int(s, 7, static_cast<int>(op.state));
        return run(s);
      }
      case Op::Kind::DeleteDelivery: {
        sqlite3_stmt* s = st.delete_delivery;
        bind_text(s, 1, op.client_id);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(op.id));
        return run(s);
      }
      case Op::Kind::PutInbound:
      case Op::Kind::DeleteInbound: {
        sqlite3_stmt* s = op.kind == Op::Kind::PutInbound ? st.put_inbound : st.delete_inbound;
        bind_text(s, 1, op.client_id);
        sqlite3_bind_int(s, 2, op.packet_id);
        return run(s);
      }
      case Op::Kind::PutRetained: {
        sqlite3_stmt* s = st.put_retained;
        bind_text(s, 1, op.text);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(op.message_id));
        return run(s);
      }
      case Op::Kind::DeleteRetained: {
        sqlite3_stmt* s = st.delete_retained;
        bind_text(s, 1, op.text);
        return run(s);
      }
      case Op::Kind::PutOutbox: {
        if (!op.message) return true;
        sqlite3_stmt* s = st.put_bridge_message;
        bind_text(s, 1, op.client_id);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(op.id));
        bind_text(s, 3, op.message->topic);
        sqlite3_bind_blob64(s, 4, op.message->payload.data(), op.message->payload.size(),
                            SQLITE_STATIC);
        sqlite3_bind_int(s, 5, op.message->qos);
        sqlite3_bind_int(s, 6, op.retain ? 1 : 0);
        return run(s);
      }
      case Op::Kind::DeleteOutbox: {
        sqlite3_stmt* s = st.delete_bridge_message;
        bind_text(s, 1, op.client_id);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(op.id));
        return run(s);
      }
      case Op::Kind::Skip:
        return true;
    }
    return true;
  };

  // The caller names the file; the error says what happened and, when it helps, what to do.
  auto describe = [&] {
    std::string text = sqlite3_errmsg(db_);
    const int code = sqlite3_extended_errcode(db_) & 0xff;
    if (code == SQLITE_FULL) text += " (free space on the file system holding state_dir)";
    if (code == SQLITE_IOERR) text += " (check the disk and the file system)";
    return text;
  };
  if (!run(st.begin)) {
    error = describe();
    return false;
  }
  bool ok = true;
  for (const Op& op : batch.ops) {
    if (!run_op(op)) {
      ok = false;
      break;
    }
  }
  if (ok && run(st.commit)) return true;

  // Take the message before ROLLBACK replaces it. SQLite may have rolled back already
  // (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM can end the transaction by themselves).
  error = describe();
  if (sqlite3_get_autocommit(db_) == 0) run(st.rollback);
  return false;
}

std::vector<std::string> Database::purge_expired(int64_t now_ms) {
  std::vector<std::string> purged;
  // A session whose last_seen_ms is unknown (0: its client was connected when fieldgate
  // stopped) is kept: the loop starts its expiry anew.
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT client_id FROM sessions WHERE expiry_s > 0 AND last_seen_ms > 0 "
                         "AND last_seen_ms + expiry_s * 1000 < ?1 ORDER BY client_id",
                         -1, &s, nullptr) != SQLITE_OK) {
    throw open_error(path_, sqlite3_extended_errcode(db_), sqlite3_errmsg(db_), "cannot read");
  }
  sqlite3_bind_int64(s, 1, now_ms);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    purged.push_back(column_text(s, 0));
  if (rc != SQLITE_DONE) {
    StoreError error =
        open_error(path_, sqlite3_extended_errcode(db_), sqlite3_errmsg(db_), "cannot read");
    sqlite3_finalize(s);
    throw error;
  }
  sqlite3_finalize(s);
  if (purged.empty()) return purged;

  Batch batch;
  for (const std::string& id : purged) {
    Op& op = batch.ops.emplace_back();
    op.kind = Op::Kind::DeleteSession;
    op.client_id = id;
  }
  std::string error;
  if (!apply(batch, error)) throw StoreError("cannot purge expired sessions: " + error);
  // Messages no longer held by any delivery or retained entry: the purged sessions' queues.
  exec(db_, path_,
       "DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM deliveries) AND id NOT IN "
       "(SELECT message_id FROM retained)",
       "cannot write to");
  return purged;
}

void Database::maintain() {
  try {
    const char* doing = "cannot maintain";
    const int64_t pages = std::stoll(query_one(db_, path_, "PRAGMA page_count", doing));
    const int64_t free_pages = std::stoll(query_one(db_, path_, "PRAGMA freelist_count", doing));
    if (free_pages > kVacuumMinFreePages && free_pages * 4 > pages) {
      exec(db_, path_, "PRAGMA incremental_vacuum", doing);
    }
    // One connection (EXCLUSIVE locking): no reader can hold the checkpoint back, so PASSIVE
    // copies the whole WAL back; the next write starts the WAL over and journal_size_limit
    // truncates it.
    exec(db_, path_, "PRAGMA wal_checkpoint(PASSIVE)", doing);
  } catch (const StoreError& e) {
    log::warn("store", e.what());
  }
}

// --- Writer ---

Writer::Writer(Database& database) : database_(database) {
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  close(event_fd_);
}

void Writer::submit(Batch batch) {
  {
    std::lock_guard lock(mutex_);
    pending_ = std::move(batch);
  }
  wake_.notify_one();
}

bool Writer::busy() const {
  std::lock_guard lock(mutex_);
  return pending_.has_value() || result_.has_value();
}

int Writer::completion_fd() const {
  return event_fd_;
}

std::optional<Writer::Result> Writer::take_result(Batch* failed) {
  std::lock_guard lock(mutex_);
  if (!result_) return std::nullopt;
  // The eventfd is written and read under the mutex: it is readable exactly while a result
  // waits here.
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = read(event_fd_, &count, sizeof count);
  Result result = std::move(*result_);
  result_.reset();
  if (!result.ok && failed != nullptr && done_) *failed = std::move(*done_);
  done_.reset();
  return result;
}

void Writer::run() {
  pthread_setname_np(pthread_self(), "fg-store");
  std::unique_lock lock(mutex_);
  for (;;) {
    // A new batch is pending_ with no result_ yet (submit() is only called when !busy()).
    wake_.wait(lock, [&] { return (pending_.has_value() && !result_) || stopping_; });
    if (!pending_ || result_) return;  // stopping, nothing left to apply
    // pending_ stays in place (so busy() holds) while it is applied; the loop does not touch
    // it until the result is taken.
    const Batch& batch = *pending_;
    lock.unlock();
    Result result;
    result.batch_number = batch.number;
    try {
      result.ok = database_.apply(batch, result.error);
    } catch (const std::exception& e) {
      result.ok = false;
      result.error = e.what();
    }
    lock.lock();
    Batch applied = std::move(*pending_);
    pending_.reset();
    if (!result.ok) done_ = std::move(applied);
    result_ = std::move(result);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof one);
    // A batch applied is released here, on this thread, with the lock dropped.
    lock.unlock();
    applied = Batch();
    lock.lock();
  }
}

// --- compaction ---

namespace {

// The row an op writes, as a key; empty for ops that write no single row.
std::string row_key(const Op& op) {
  auto key = [&](char table, std::string_view part) {
    std::string k(1, table);
    k += op.client_id;
    k += '\0';
    k += part;
    return k;
  };
  switch (op.kind) {
    case Op::Kind::PutSession:
    case Op::Kind::DeleteSession:
      return key('s', "");
    case Op::Kind::PutSubscription:
    case Op::Kind::DeleteSubscription:
      return key('f', op.text);
    case Op::Kind::PutMessage:
    case Op::Kind::DeleteMessage:
      return key('m', std::to_string(op.id));
    case Op::Kind::PutDelivery:
    case Op::Kind::DeleteDelivery:
      return key('d', std::to_string(op.id));
    case Op::Kind::PutInbound:
    case Op::Kind::DeleteInbound:
      return key('i', std::to_string(op.packet_id));
    case Op::Kind::PutRetained:
    case Op::Kind::DeleteRetained:
      return key('r', op.text);
    case Op::Kind::PutOutbox:
    case Op::Kind::DeleteOutbox:
      return key('b', std::to_string(op.id));
    case Op::Kind::Skip:
      return {};
  }
  return {};
}

// Rows that DeleteSession removes with the session.
bool belongs_to_session(Op::Kind kind) {
  switch (kind) {
    case Op::Kind::PutSession:
    case Op::Kind::PutSubscription:
    case Op::Kind::DeleteSubscription:
    case Op::Kind::PutDelivery:
    case Op::Kind::DeleteDelivery:
    case Op::Kind::PutInbound:
    case Op::Kind::DeleteInbound:
      return true;
    default:
      return false;
  }
}

bool is_delete(Op::Kind kind) {
  switch (kind) {
    case Op::Kind::DeleteSession:
    case Op::Kind::DeleteSubscription:
    case Op::Kind::DeleteMessage:
    case Op::Kind::DeleteDelivery:
    case Op::Kind::DeleteInbound:
    case Op::Kind::DeleteRetained:
    case Op::Kind::DeleteOutbox:
      return true;
    default:
      return false;
  }
}

}  // namespace

void compact(Batch& batch) {
  // Walk backwards: the last op on a row decides it; earlier ones are dead.
  std::unordered_set<std::string> decided;
  std::unordered_set<std::string> sessions_deleted;  // client ids with a later DeleteSession
  std::vector<bool> keep(batch.ops.size(), false);
  for (size_t i = batch.ops.size(); i-- > 0;) {
    const Op& op = batch.ops[i];
    if (op.kind == Op::Kind::Skip) continue;
    if (op.kind == Op::Kind::DeleteSession) {
      // A later DeleteSession removes everything this one would.
      keep[i] = sessions_deleted.insert(op.client_id).second;
      decided.insert(row_key(op));
      continue;
    }
    if (belongs_to_session(op.kind) && sessions_deleted.count(op.client_id)) continue;
    keep[i] = decided.insert(row_key(op)).second;
  }
  // What is left touches each row once (a DeleteSession may precede its new session's puts), so
  // deletes can go first: the pages they free then hold the puts on a full disk.
  std::vector<Op> kept;
  kept.reserve(batch.ops.size());
  for (bool deletes : {true, false}) {
    for (size_t i = 0; i < batch.ops.size(); ++i) {
      if (keep[i] && is_delete(batch.ops[i].kind) == deletes)
        kept.push_back(std::move(batch.ops[i]));
    }
  }
  batch.ops = std::move(kept);
}

}  // namespace fieldgate::broker::store
