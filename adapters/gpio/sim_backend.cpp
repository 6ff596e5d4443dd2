#include "adapters/gpio/sim_backend.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace fieldgate::gpio {

class SimChip;

namespace {

struct Line {
  bool driven = false;  // by drive(); else an input floats to its bias (low without one)
  bool level = false;   // physical: the driven level, or an output's
  bool held = false;    // by another program
  SimChip* owner = nullptr;
  bool output = false;
  bool active_low = false;
  config::GpioEdge edge = config::GpioEdge::Both;
  std::optional<config::GpioBias> bias;

  bool physical() const {
    if (output || driven) return level;
    return bias == config::GpioBias::PullUp;
  }
};

struct SimChipState {
  std::vector<Line> lines;
  int open_error = 0;
  bool present = true;
  std::set<SimChip*> handles;
};

}  // namespace

struct SimBackend::State {
  std::mutex mutex;
  std::map<std::string, SimChipState, std::less<>> chips;
  std::atomic<uint64_t> delivered{0};
};

class SimChip final : public Chip {
 public:
  SimChip(std::shared_ptr<SimBackend::State> state, std::string name)
      : state_(std::move(state)), name_(std::move(name)) {}

  ~SimChip() override {
    std::lock_guard lock(state_->mutex);
    auto found = state_->chips.find(name_);
    if (found == state_->chips.end()) return;
    for (Line& line : found->second.lines) {
      if (line.owner != this) continue;
      line.owner = nullptr;
      if (line.output) line.driven = false;  // a released output floats
      line.output = false;
    }
    found->second.handles.erase(this);
  }

  int request_input(const InputRequest& request) override {
    std::lock_guard lock(state_->mutex);
    Line* line = nullptr;
    if (int error = claim(request.line, line)) return error;
    line->output = false;
    line->active_low = request.active_low;
    line->edge = request.edge;
    line->bias = request.bias;
    return 0;
  }

  int request_output(const OutputRequest& request) override {
    std::lock_guard lock(state_->mutex);
    Line* line = nullptr;
    if (int error = claim(request.line, line)) return error;
    line->output = true;
    line->active_low = request.active_low;
    line->level = request.initial != request.active_low;
    return 0;
  }

  int wait(std::chrono::milliseconds timeout, std::vector<Event>& events) override {
    std::unique_lock lock(state_->mutex);
    wake_.wait_for(lock, timeout, [&] { return gone_ || woken_ || !queue_.empty(); });
    woken_ = false;
    if (gone_) return ENODEV;
    state_->delivered.fetch_add(queue_.size(), std::memory_order_relaxed);
    events.insert(events.end(), queue_.begin(), queue_.end());
    queue_.clear();
    return 0;
  }

  int get(uint32_t offset, bool& value) override {
    std::lock_guard lock(state_->mutex);
    Line* line = owned(offset);
    if (!line) return gone_ ? ENODEV : EINVAL;
    value = line->physical() != line->active_low;
    return 0;
  }

  int set(uint32_t offset, bool value) override {
    std::lock_guard lock(state_->mutex);
    Line* line = owned(offset);
    if (!line || !line->output) return gone_ ? ENODEV : EPERM;
    line->level = value != line->active_low;
    return 0;
  }

  void wake() override {
    {
      std::lock_guard lock(state_->mutex);
      woken_ = true;
    }
    wake_.notify_all();
  }

  uint32_t line_count() const override { return line_count_; }

  // ---- called by SimBackend with the state's mutex held ----

  void set_line_count(uint32_t count) { line_count_ = count; }
  void push(Event event) {
    queue_.push_back(event);
    wake_.notify_all();
  }
  void gone() {
    gone_ = true;
    wake_.notify_all();
  }

 private:
  int claim(uint32_t offset, Line*& line) {
    if (gone_) return ENODEV;
    SimChipState& chip = state_->chips.find(name_)->second;
    if (offset >= chip.lines.size()) return EINVAL;
    line = &chip.lines[offset];
    if (line->held || (line->owner && line->owner != this)) return EBUSY;
    line->owner = this;
    return 0;
  }

  Line* owned(uint32_t offset) {
    if (gone_) return nullptr;
    SimChipState& chip = state_->chips.find(name_)->second;
    if (offset >= chip.lines.size() || chip.lines[offset].owner != this) return nullptr;
    return &chip.lines[offset];
  }

  std::shared_ptr<SimBackend::State> state_;
  std::string name_;
  uint32_t line_count_ = 0;
  std::condition_variable wake_;
  // Guarded by the state's mutex.
  std::deque<Event> queue_;
  bool woken_ = false;
  bool gone_ = false;
};

SimBackend::SimBackend() : state_(std::make_shared<State>()) {}
SimBackend::~SimBackend() = default;

std::unique_ptr<Chip> SimBackend::open(const std::string& name, int& error) {
  std::lock_guard lock(state_->mutex);
  auto found = state_->chips.find(name);
  if (found == state_->chips.end() || !found->second.present) {
    error = ENOENT;
    return nullptr;
  }
  if (found->second.open_error) {
    error = found->second.open_error;
    return nullptr;
  }
  auto chip = std::make_unique<SimChip>(state_, name);
  chip->set_line_count(static_cast<uint32_t>(found->second.lines.size()));
  found->second.handles.insert(chip.get());
  return chip;
}

void SimBackend::add_chip(const std::string& name, uint32_t lines) {
  std::lock_guard lock(state_->mutex);
  SimChipState& chip = state_->chips[name];
  chip.lines.assign(lines, Line{});
  chip.present = true;
}

void SimBackend::remove_chip(const std::string& name) {
  std::lock_guard lock(state_->mutex);
  auto found = state_->chips.find(name);
  if (found == state_->chips.end()) return;
  found->second.present = false;
  for (SimChip* handle : found->second.handles)
    handle->gone();
  // Handles still open keep the lines until they are destroyed; a new add_chip() starts afresh.
  for (Line& line : found->second.lines)
    line.owner = nullptr;
  found->second.handles.clear();
}

void SimBackend::fail_open(const std::string& name, int error) {
  std::lock_guard lock(state_->mutex);
  state_->chips[name].open_error = error;
}

void SimBackend::hold(const std::string& chip, uint32_t line, bool held) {
  std::lock_guard lock(state_->mutex);
  auto found = state_->chips.find(chip);
  if (found != state_->chips.end() && line < found->second.lines.size())
    found->second.lines[line].held = held;
}

void SimBackend::drive(const std::string& chip, uint32_t offset, bool level) {
  std::lock_guard lock(state_->mutex);
  auto found = state_->chips.find(chip);
  if (found == state_->chips.end() || offset >= found->second.lines.size()) return;
  Line& line = found->second.lines[offset];
  if (line.output) return;  // an output drives itself
  bool before = line.physical();
  line.driven = true;
  line.level = level;
  if (before == level || !line.owner) return;
  bool rising = level != line.active_low;  // logical edge
  bool wanted =
      line.edge == config::GpioEdge::Both || (line.edge == config::GpioEdge::Rising) == rising;
  if (wanted) line.owner->push({offset, rising, std::chrono::steady_clock::now()});
}

std::optional<bool> SimBackend::output_level(const std::string& chip, uint32_t offset) {
  std::lock_guard lock(state_->mutex);
  auto found = state_->chips.find(chip);
  if (found == state_->chips.end() || offset >= found->second.lines.size()) return std::nullopt;
  const Line& line = found->second.lines[offset];
  if (!line.output || !line.owner) return std::nullopt;
  return line.level;
}

uint64_t SimBackend::events_delivered() const {
  return state_->delivered.load(std::memory_order_relaxed);
}

}  // namespace fieldgate::gpio
