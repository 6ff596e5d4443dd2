// The bridges' out-queues in the state database: rows written in the open batch (so that the
// publish that routed a message is acknowledged only once its row is durable) and deleted once
// the cloud has the message. The queue itself (order, bounds, in-flight window) is the bridge's.
#include "broker/core.h"

namespace fieldgate::broker {

void Broker::subscribe_deliveries(std::string filter, DeliveryHandler handler) {
  Core::InboxItem item{std::move(filter)};
  item.delivery_handler = std::move(handler);
  core_->post(std::move(item));
}

uint64_t Broker::outbox_put(const std::string& outbox, const OutboxRow& row) {
  return core_->outbox_put(outbox, row);
}

void Broker::outbox_on_durable(std::function<void(uint64_t batch)> listener) {
  core_->outbox_listeners_.push_back(std::move(listener));
}

void Broker::outbox_remove(std::string outbox, std::vector<uint64_t> seqs) {
  if (!persistent() || seqs.empty()) return;
  Core::InboxItem item;
  Core* core = core_.get();
  item.task = [core, outbox = std::move(outbox), seqs = std::move(seqs)] {
    core->outbox_remove(outbox, seqs);
  };
  core_->post(std::move(item));
}

std::vector<Broker::OutboxRow> Broker::outbox_load(const std::string& outbox) {
  auto node = core_->outbox_loaded_.extract(outbox);
  return node.empty() ? std::vector<OutboxRow>{} : std::move(node.mapped());
}

bool Broker::persistent() const {
  return core_->options_.persistence;
}

void Broker::at_stop(std::function<void()> hook) {
  core_->stop_hooks_.push_back(std::move(hook));
}

uint64_t Core::outbox_put(const std::string& outbox, const Broker::OutboxRow& row) {
  if (!writer_) return 0;
  outbox_waits_for_ = open_number_;
  open_batch_.ops.push_back(
      store::Op{.kind = store::Op::Kind::PutOutbox,
                .client_id = outbox,
                .id = row.seq,
                .message = std::make_shared<const Message>(
                    Message{.topic = row.topic, .payload = row.payload, .qos = row.qos}),
                .retain = row.retain});
  return open_number_;
}

// Only when a batch with outbox rows has committed: most loop turns commit nothing of theirs.
void Core::outbox_committed() {
  if (outbox_waits_for_ == 0 || durable_through_ < outbox_waits_for_) return;
  outbox_waits_for_ = 0;
  for (const auto& listener : outbox_listeners_)
    listener(durable_through_);
}

void Core::outbox_remove(const std::string& outbox, const std::vector<uint64_t>& seqs) {
  if (!writer_) return;
  for (uint64_t seq : seqs) {
    open_batch_.ops.push_back(
        store::Op{.kind = store::Op::Kind::DeleteOutbox, .client_id = outbox, .id = seq});
  }
}

}  // namespace fieldgate::broker
