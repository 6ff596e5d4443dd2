#include "broker/bridge/queue.h"

#include <algorithm>

namespace fieldgate::bridge {

size_t OutQueue::push(Entry e, std::vector<uint64_t>& removed) {
  e.handed = false;
  e.done = false;
  e.token = 0;
  bytes_ += e.bytes();
  ++live_;
  entries_.push_back(std::move(e));
  size_t dropped = 0;
  while (!entries_.empty() && (live_ > max_messages_ || bytes_ > max_bytes_)) {
    Entry& oldest = entries_.front();
    if (!oldest.done) {
      if (oldest.handed) unhand(oldest);
      if (oldest.stored) removed.push_back(oldest.seq);
      --live_;
      bytes_ -= oldest.bytes();
      ++dropped;
    }
    entries_.pop_front();
    if (next_ > 0) --next_;
  }
  dropped_ += dropped;
  return dropped;
}

std::vector<Entry> OutQueue::take_unsent(size_t max, uint64_t durable) {
  std::vector<Entry> out;
  while (out.size() < max && next_ < entries_.size()) {
    Entry& e = entries_[next_];
    if (!e.done && !e.handed) {
      if (e.batch > durable) break;
      e.handed = true;
      ++inflight_;
      out.push_back(e);
    }
    ++next_;
  }
  return out;
}

bool OutQueue::ready(uint64_t durable) const {
  for (size_t i = next_; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (!e.done && !e.handed) return e.batch <= durable;
  }
  return false;
}

void OutQueue::sent(uint64_t seq, int token) {
  Entry* e = find(seq);
  if (e == nullptr || !e->handed || e->done) return;
  e->token = token;
  tokens_[token] = seq;
}

void OutQueue::unhand(Entry& e) {
  if (e.token != 0) {
    auto it = tokens_.find(e.token);
    if (it != tokens_.end() && it->second == e.seq) tokens_.erase(it);
  }
  e.token = 0;
  e.handed = false;
  --inflight_;
}

void OutQueue::unsend_from(uint64_t seq) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), seq,
                             [](const Entry& e, uint64_t s) { return e.seq < s; });
  size_t index = static_cast<size_t>(it - entries_.begin());
  for (size_t i = index; i < entries_.size(); ++i) {
    if (entries_[i].handed && !entries_[i].done) unhand(entries_[i]);
  }
  next_ = std::min(next_, index);
}

void OutQueue::reset_handed() {
  for (Entry& e : entries_) {
    if (e.handed && !e.done) unhand(e);
  }
  tokens_.clear();
  next_ = 0;
}

size_t OutQueue::reclaim(const std::vector<int>& pending) {
  size_t reclaimed = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (!e.handed || e.done || e.token == 0) continue;
    if (std::find(pending.begin(), pending.end(), e.token) != pending.end()) continue;
    unhand(e);
    next_ = std::min(next_, i);
    ++reclaimed;
  }
  return reclaimed;
}

bool OutQueue::ack(int token, std::vector<uint64_t>& removed) {
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return false;
  uint64_t seq = it->second;
  tokens_.erase(it);
  Entry* e = find(seq);
  if (e == nullptr || e->done) return false;
  e->token = 0;
  finish(*e, removed);
  return true;
}

void OutQueue::complete(uint64_t seq, std::vector<uint64_t>& removed) {
  Entry* e = find(seq);
  if (e == nullptr || e->done) return;
  if (e->token != 0) {
    tokens_.erase(e->token);
    e->token = 0;
  }
  finish(*e, removed);
}

void OutQueue::finish(Entry& e, std::vector<uint64_t>& removed) {
  if (e.handed) --inflight_;
  e.handed = false;
  e.done = true;
  --live_;
  bytes_ -= e.bytes();
  if (e.stored) removed.push_back(e.seq);
  // The bytes of a finished entry are no longer needed; the entry itself goes at the front.
  std::string().swap(e.payload);
  pop_done();
}

void OutQueue::pop_done() {
  while (!entries_.empty() && entries_.front().done) {
    entries_.pop_front();
    if (next_ > 0) --next_;
  }
}

Entry* OutQueue::find(uint64_t seq) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), seq,
                             [](const Entry& e, uint64_t s) { return e.seq < s; });
  return it != entries_.end() && it->seq == seq ? &*it : nullptr;
}

}  // namespace fieldgate::bridge
