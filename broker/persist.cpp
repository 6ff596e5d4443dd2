// Durable state: what the broker writes to its store, when it may acknowledge, and how it comes
// back after a restart.
//
// Every change to durable state (persistent sessions, their subscriptions and deliveries, the
// inbound QoS 2 ids, retained messages) becomes an op in the open batch. Once per loop turn the
// open batch goes to the store's writer thread if it is idle; while it is busy the batch keeps
// growing, so a commit covers as much work as the disk makes wait (group commit). Replies that
// confirm stored work (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK, and QoS 2 PUBLISHes whose
// packet id must survive) wait in the connection's deferred buffer until their batch commits.
// A row written and deleted before its batch is handed over never reaches the disk.
#include <poll.h>

#include <chrono>
#include <filesystem>

#include "broker/core.h"
#include "common/log.h"

namespace fieldgate::broker {
namespace {

using store::DeliveryState;
using store::Op;

constexpr auto kRetryInterval = std::chrono::seconds(1);
constexpr auto kMaintenanceInterval = std::chrono::minutes(5);

}  // namespace

int64_t Core::now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void Core::open_store() {
  if (!options_.persistence) return;
  std::filesystem::path file = std::filesystem::path(options_.state_dir) / "fieldgate.db";
  database_ = std::make_unique<store::Database>(
      file, options_.durability_power ? store::Durability::Power : store::Durability::Process,
      options_.store_max_pages);
  load_store();
  writer_ = std::make_unique<store::Writer>(*database_);
  poller_.add(writer_->completion_fd(), EPOLLIN, writer_.get());
  next_maintenance_ = Clock::now() + kMaintenanceInterval;
}

// Rebuilds sessions, subscriptions, queues, in-flight state and retained messages.
void Core::load_store() {
  auto started = Clock::now();
  std::vector<std::string> purged = database_->purge_expired(now_ms());
  for (const std::string& id : purged) {
    log::info("broker", "session ", id, " expired (persistent_session_expiry_s) and was removed");
  }
  store::StoredState state = database_->load();
  next_message_id_ = state.max_message_id + 1;
  std::unordered_map<uint64_t, MessagePtr> messages;
  messages.reserve(state.messages.size());
  for (auto& [id, message] : state.messages) {
    message->stored.id = id;
    messages.emplace(id, std::move(message));
  }
  auto find_message = [&](uint64_t id) -> MessagePtr {
    auto it = messages.find(id);
    if (it == messages.end()) return nullptr;
    ++it->second->stored.refs;
    it->second->stored.write.written = true;
    return it->second;
  };

  size_t queued = 0;
  for (store::StoredSession& stored : state.sessions) {
    auto session = std::make_unique<Session>(stored.client_id, /*clean=*/false, /*durable=*/true);
    Session& s = *session;
    s.protocol = stored.protocol;
    s.username = stored.username;
    s.last_seen_ms = stored.last_seen_ms;
    s.expiry_s = stored.expiry_s;
    if (s.last_seen_ms == 0) {
      // Its client was connected when the broker stopped: its absence counts from now.
      s.last_seen_ms = now_ms();
      store_session(s);
    }
    for (const store::StoredSubscription& sub : stored.subscriptions) {
      SubscriptionOptions options{
          .qos = sub.qos,
          .no_local = (sub.options & store::kNoLocal) != 0,
          .retain_as_published = (sub.options & store::kRetainAsPublished) != 0,
          .retain_handling = static_cast<uint8_t>((sub.options >> 4) & 3),
          .identifier = sub.identifier};
      subscriptions_.add(sub.filter, &s, options);
      s.subscriptions[sub.filter] = options;
    }
    apply_acl(s);
    // The store keeps no subscription identifiers per delivery: they come back from the
    // session's subscriptions that match the message (as they did when it was routed).
    std::vector<std::pair<std::string_view, uint32_t>> identified;
    for (const auto& [filter, options] : s.subscriptions) {
      std::string_view group, real = filter;
      if (options.identifier != 0 && !split_shared(filter, group, real)) {
        identified.emplace_back(filter, options.identifier);
      }
    }
    for (const store::StoredDelivery& d : stored.deliveries) {
      Outgoing o;
      o.qos = d.qos;
      o.retain = d.retain;
      o.seq = d.seq;
      o.write.written = true;
      s.last_seq = std::max(s.last_seq, d.seq);
      if (d.state != DeliveryState::Released) {
        o.message = find_message(d.message_id);
        if (!o.message) {
          log::warn("broker", "state database: a delivery to ", s.client_id,
                    " refers to a missing message; dropped");
          delete_op(o.write,
                    Op{.kind = Op::Kind::DeleteDelivery, .client_id = s.client_id, .id = d.seq});
          continue;
        }
      }
      if (o.message && !identified.empty()) {
        std::vector<uint32_t> ids;
        for (const auto& [filter, identifier] : identified) {
          if (auth::Acl::filter_matches(filter, o.message->topic)) ids.push_back(identifier);
        }
        o.via = Outgoing::make_via(std::move(ids));
      }
      switch (d.state) {
        case DeliveryState::Queued:
          s.queue.push_back(std::move(o));
          ++queued;
          break;
        case DeliveryState::Sent:
          s.inflight.push_back(Inflight{
              d.packet_id, d.qos == 1 ? Inflight::State::AwaitPuback : Inflight::State::AwaitPubrec,
              std::move(o)});
          break;
        case DeliveryState::Released:
          s.inflight.push_back(Inflight{d.packet_id, Inflight::State::AwaitPubcomp, std::move(o)});
          break;
      }
    }
    for (uint16_t id : stored.awaiting_pubrel)
      s.awaiting_pubrel.insert(id);
    std::string id = s.client_id;
    sessions_.emplace(std::move(id), std::move(session));
  }
  for (const store::StoredRetained& r : state.retained) {
    if (MessagePtr m = find_message(r.message_id)) retained_.set(std::move(m));
  }
  for (store::StoredBridgeMessage& m : state.bridge_queue) {
    outbox_loaded_[m.bridge].push_back(
        Broker::OutboxRow{m.seq, std::move(m.topic), std::move(m.payload), m.qos, m.retain});
  }
  // Messages nothing refers to any more (left by an older version or a partial cleanup).
  for (const auto& [id, message] : messages) {
    if (message->stored.refs == 0) {
      open_batch_.ops.push_back(Op{.kind = Op::Kind::DeleteMessage, .id = id});
    }
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  log::info("broker", "state loaded from ", database_->path().string(), " in ", ms,
            " ms: ", sessions_.size(), " persistent sessions, ", queued, " queued messages, ",
            retained_.size(), " retained messages");
}

// --- the ops ---

Op& Core::put_op(PendingWrite& w, Op op) {
  if (w.batch == open_number_) {
    open_batch_.ops[w.index] = std::move(op);  // this turn's earlier write of the row
    return open_batch_.ops[w.index];
  }
  if (w.batch != 0) w.written = true;
  w.batch = open_number_;
  w.index = static_cast<uint32_t>(open_batch_.ops.size());
  open_batch_.ops.push_back(std::move(op));
  return open_batch_.ops.back();
}

void Core::delete_op(PendingWrite& w, Op op) {
  bool maybe_on_disk = w.written || (w.batch != 0 && w.batch != open_number_);
  if (w.batch == open_number_) {
    if (maybe_on_disk) {
      open_batch_.ops[w.index] = std::move(op);
    } else {
      open_batch_.ops[w.index].kind = Op::Kind::Skip;  // never reaches the disk
      open_batch_.ops[w.index].message.reset();
    }
  } else if (maybe_on_disk) {
    open_batch_.ops.push_back(std::move(op));
  }
  w = PendingWrite{};
}

void Core::ref_message(const MessagePtr& m) {
  if (m->stored.refs++ > 0) return;
  if (m->stored.id == 0) m->stored.id = next_message_id_++;
  // The op shares the message: the writer thread reads its bytes, never a copy.
  put_op(m->stored.write, Op{.kind = Op::Kind::PutMessage, .id = m->stored.id, .message = m});
}

void Core::unref_message(const Message& m) {
  if (m.stored.refs == 0 || --m.stored.refs > 0) return;
  delete_op(m.stored.write, Op{.kind = Op::Kind::DeleteMessage, .id = m.stored.id});
}

void Core::store_session(Session& s) {
  if (!s.durable) return;
  open_batch_.ops.push_back(Op{.kind = Op::Kind::PutSession,
                               .client_id = s.client_id,
                               .text = s.username.value_or(std::string{}),
                               .last_seen_ms = s.last_seen_ms,
                               .expiry_s = s.expiry_s,
                               .protocol = s.protocol,
                               .has_username = s.username.has_value()});
}

void Core::store_session_gone(Session& s) {
  if (!s.durable) return;
  auto release = [&](Outgoing& o) {
    if (o.message) unref_message(*o.message);
    delete_op(o.write, Op{.kind = Op::Kind::Skip});  // DeleteSession removes the rows
  };
  for (Outgoing& o : s.queue)
    release(o);
  for (Inflight& f : s.inflight)
    release(f.outgoing);
  open_batch_.ops.push_back(Op{.kind = Op::Kind::DeleteSession, .client_id = s.client_id});
}

void Core::store_subscription(Session& s, std::string_view filter,
                              const SubscriptionOptions& options, bool add) {
  if (!s.durable) return;
  uint8_t bits =
      static_cast<uint8_t>((options.no_local ? store::kNoLocal : 0) |
                           (options.retain_as_published ? store::kRetainAsPublished : 0) |
                           (options.retain_handling << 4));
  open_batch_.ops.push_back(
      Op{.kind = add ? Op::Kind::PutSubscription : Op::Kind::DeleteSubscription,
         .client_id = s.client_id,
         .text = std::string(filter),
         .id = options.identifier,
         .qos = options.qos,
         .options = bits});
}

void Core::store_inbound(Session& s, uint16_t packet_id, bool add) {
  if (!s.durable) return;
  open_batch_.ops.push_back(Op{.kind = add ? Op::Kind::PutInbound : Op::Kind::DeleteInbound,
                               .client_id = s.client_id,
                               .packet_id = packet_id});
}

void Core::store_delivery(Session& s, Outgoing& o, uint16_t packet_id, DeliveryState state) {
  if (!s.durable) return;
  if (o.seq == 0) {
    o.seq = ++s.last_seq;
    ref_message(o.message);
  }
  if (state == DeliveryState::Released && o.message) {
    unref_message(*o.message);  // PUBREC: the subscriber has the message; only its id remains
  }
  put_op(o.write, Op{.kind = Op::Kind::PutDelivery,
                     .client_id = s.client_id,
                     .id = o.seq,
                     .message_id = state == DeliveryState::Released ? 0 : o.message->stored.id,
                     .packet_id = packet_id,
                     .qos = o.qos,
                     .retain = o.retain,
                     .state = state});
}

void Core::store_delivery_done(Session& s, Outgoing& o) {
  if (!s.durable || o.seq == 0) return;
  if (o.message) unref_message(*o.message);
  delete_op(o.write, Op{.kind = Op::Kind::DeleteDelivery, .client_id = s.client_id, .id = o.seq});
  o.seq = 0;
}

void Core::store_retained(const std::string& topic, const MessagePtr& now,
                          const MessagePtr& before) {
  if (!writer_ || is_sys_topic(topic)) return;  // $SYS is rebuilt by every broker run
  if (now) {
    ref_message(now);
    open_batch_.ops.push_back(
        Op{.kind = Op::Kind::PutRetained, .text = topic, .message_id = now->stored.id});
  } else if (before) {
    open_batch_.ops.push_back(Op{.kind = Op::Kind::DeleteRetained, .text = topic});
  }
  if (before) unref_message(*before);
}

// --- batches ---

// End of a loop turn: hand the open batch to the writer when it is free.
void Core::commit_turn() {
  if (!writer_ || writer_->busy()) return;
  if (failed_batch_) {
    if (Clock::now() < store_retry_at_) return;
    // The changes since the failure go along, compacted with it: their deletes (a cleared
    // retained message, an acknowledged delivery) may be what makes the batch fit.
    store::Batch retry = std::move(*failed_batch_);
    failed_batch_.reset();
    for (store::Op& op : open_batch_.ops)
      retry.ops.push_back(std::move(op));
    open_batch_ = store::Batch{};
    retry.number = open_number_++;
    store::compact(retry);
    writer_->submit(std::move(retry));
    return;
  }
  if (open_batch_.empty()) {
    // Nothing to write: replies tagged with this batch number are as durable as they get.
    durable_through_ = open_number_++;
    release_deferred();
    outbox_committed();
    if (Clock::now() >= next_maintenance_) {
      database_->maintain();  // the writer is idle: the database is ours for a moment
      next_maintenance_ = Clock::now() + kMaintenanceInterval;
    }
    return;
  }
  open_batch_.number = open_number_++;
  ++stats_.store_batches;
  writer_->submit(std::move(open_batch_));
  open_batch_ = store::Batch{};
}

void Core::on_store_completion() {
  store::Batch failed;
  std::optional<store::Writer::Result> result = writer_->take_result(&failed);
  if (!result) return;
  if (result->ok) {
    durable_through_ = result->batch_number;
    outbox_committed();
    if (!store_error_.empty()) {
      log::info("broker", "state database ", database_->path().string(),
                " writes again; accepting QoS 1 and 2 messages");
      store_error_.clear();
    }
    release_deferred();
    return;
  }
  ++stats_.store_failures;
  if (store_error_.empty()) {
    log::error("broker", "cannot write the state database ", database_->path().string(), ": ",
               result->error,
               "; refusing QoS 1 and 2 messages until it can (free disk space on state_dir)");
  }
  store_error_ = result->error;
  failed_batch_ = std::move(failed);
  store_retry_at_ = Clock::now() + kRetryInterval;
  // What waits for this batch cannot be confirmed: its clients will send it again.
  std::vector<uint64_t> waiting = std::move(deferred_connections_);
  deferred_connections_.clear();
  for (uint64_t id : waiting) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    it->second->deferred.reset();
    close(*it->second, "state database cannot store its messages: " + result->error, false);
  }
}

// Moves the replies whose batches have committed to the connections' output.
void Core::release_deferred() {
  size_t kept = 0;
  for (uint64_t id : deferred_connections_) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    Connection& c = *it->second;
    if (!c.deferred) continue;
    auto& marks = c.deferred->marks;
    size_t ready = 0, end = 0;
    while (ready < marks.size() && marks[ready].first <= durable_through_) {
      end = marks[ready++].second;
    }
    if (ready > 0) {
      c.output.append(c.deferred->bytes, 0, end);
      queue_flush(c);
      if (ready == marks.size()) {
        c.deferred.reset();
        continue;
      }
      c.deferred->bytes.erase(0, end);
      marks.erase(marks.begin(), marks.begin() + static_cast<std::ptrdiff_t>(ready));
      for (auto& mark : marks)
        mark.second -= end;
    }
    deferred_connections_[kept++] = id;
  }
  deferred_connections_.resize(kept);
}

// At shutdown: write everything still open and wait for it.
void Core::drain_store() {
  if (!writer_) return;
  auto wait_idle = [&] {
    while (writer_->busy()) {
      pollfd p{writer_->completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      on_store_completion();
    }
  };
  wait_idle();
  if (failed_batch_) {
    writer_->submit(std::move(*failed_batch_));
    failed_batch_.reset();
    wait_idle();
  }
  if (!open_batch_.empty() && !failed_batch_) {
    open_batch_.number = open_number_++;
    writer_->submit(std::move(open_batch_));
    open_batch_ = store::Batch{};
    wait_idle();
  }
  if (failed_batch_) {
    log::error("broker", "stopping with changes the state database could not take: ", store_error_);
  }
}

// Sessions whose client has been away longer than their expiry (MQTT 5 session expiry
// interval, capped by persistent_session_expiry_s) end; delayed wills whose time has come are
// published. Runs every second: MQTT 5 intervals are in seconds.
void Core::purge_expired_sessions() {
  const int64_t now = now_ms();
  std::vector<Session*> expired;
  std::vector<Session*> wills_due;
  for (auto& [id, s] : sessions_) {
    if (s->connection || s->clean) continue;
    if (s->pending_will && s->pending_will->due_ms <= now) wills_due.push_back(s.get());
    if (s->expiry_s != 0 && s->last_seen_ms != 0 &&
        s->last_seen_ms + int64_t{s->expiry_s} * 1000 <= now) {
      expired.push_back(s.get());
    }
  }
  for (Session* s : wills_due) {
    std::unique_ptr<WillMessage> will = std::move(s->pending_will);
    publish_will(*will);
  }
  for (Session* s : expired) {
    log::info("broker", "session ", s->client_id, " expired after ", s->expiry_s,
              " s without its client and was removed");
    end_session(*s);
  }
}

}  // namespace fieldgate::broker
