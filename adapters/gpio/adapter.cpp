#include "adapters/gpio/adapter.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.h"

namespace fieldgate::gpio {

using Clock = std::chrono::steady_clock;
using config::GpioDirection;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kFirstRetry{1000};
constexpr milliseconds kRetryCap{10000};

// 1 s doubling per failure after the first, up to 10 s.
Clock::duration backoff(unsigned failures) {
  milliseconds delay = kFirstRetry;
  for (unsigned i = 1; i < failures && delay < kRetryCap; ++i)
    delay *= 2;
  return std::min(delay, kRetryCap);
}

int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::string kStopping = "the gateway is stopping; the write was not carried out";

}  // namespace

// One point's line, as the chip's thread sees it.
struct LineState {
  const config::GpioPoint* config = nullptr;
  bool requested = false;
  std::string error;  // why the line could not be requested (reported as the point's error)
  std::optional<Clock::time_point> settle_at;  // debouncing: publish then
  bool pending = false;                        // the level the last edge reached
};

struct WriteJob {
  size_t point = 0;
  bool level = false;
  std::function<void(const adapters::WriteResult&)> done;
};

class ChipWorker {
 public:
  ChipWorker(config::GpioChip config, std::shared_ptr<Backend> backend)
      : config_(std::move(config)), backend_(std::move(backend)) {
    for (const config::GpioPoint& p : config_.points)
      lines_.push_back({&p, false, {}, std::nullopt, false});
  }
  ~ChipWorker() { stop(); }

  const config::GpioChip& config() const { return config_; }

  void start(adapters::ReadingSink& sink) {
    sink_ = &sink;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      if (chip_) chip_->wake();
    }
    wake_.notify_all();
    thread_.join();
    for (WriteJob& job : writes_)
      job.done({false, kStopping});
    writes_.clear();
    close_chip();  // releases the lines for the next plane (a reload) or another program
  }

  void enqueue(WriteJob job) {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      job.done({false, kStopping});
      return;
    }
    writes_.push_back(std::move(job));
    if (chip_) chip_->wake();
    lock.unlock();
    wake_.notify_all();
  }

 private:
  // ---- the thread ----------------------------------------------------------------------

  void run() {
    std::vector<Event> events;
    while (true) {
      std::deque<WriteJob> writes;
      {
        std::unique_lock lock(mutex_);
        if (!chip_) {
          wake_.wait_until(lock, next_retry_, [this] { return stopping_ || !writes_.empty(); });
        }
        if (stopping_) return;
        writes.swap(writes_);
      }
      Clock::time_point now = Clock::now();
      if (!chip_ && now >= next_retry_) open_chip();
      for (WriteJob& job : writes)
        carry_out(job);
      if (!chip_) continue;
      if (now >= next_retry_ && has_unrequested_lines()) request_lines();
      if (!chip_) continue;
      settle_due(Clock::now());
      if (!chip_) continue;
      events.clear();
      if (int error = chip_->wait(wait_timeout(), events)) {
        chip_lost(error_text(error, config_.chip, std::nullopt, "wait"));
        continue;
      }
      on_events(events);
    }
  }

  // Until the next debounce deadline or line retry; a second at most (nothing depends on it).
  milliseconds wait_timeout() const {
    Clock::time_point now = Clock::now();
    Clock::time_point until = now + milliseconds{1000};
    if (has_unrequested_lines()) until = std::min(until, next_retry_);
    for (const LineState& line : lines_)
      if (line.settle_at) until = std::min(until, *line.settle_at);
    if (until <= now) return milliseconds{0};
    // Rounded up: waking a little late is harmless, early would spin.
    return std::chrono::ceil<milliseconds>(until - now);
  }

  // ---- the chip --------------------------------------------------------------------------

  void open_chip() {
    int error = 0;
    std::unique_ptr<Chip> chip = backend_->open(config_.chip, error);
    if (!chip) {
      chip_failed(error_text(error, config_.chip, std::nullopt, "open"));
      return;
    }
    {
      std::lock_guard lock(mutex_);
      chip_ = std::move(chip);
    }
    log::info("gpio", "device '", config_.name, "': opened GPIO chip '", config_.chip, "'");
    failures_ = 0;
    line_failures_ = 0;
    for (LineState& line : lines_) {
      line.requested = false;
      line.error.clear();
      line.settle_at.reset();
    }
    request_lines();
  }

  void close_chip() {
    std::unique_ptr<Chip> chip;
    {
      std::lock_guard lock(mutex_);
      chip = std::move(chip_);
    }
    chip.reset();
    for (LineState& line : lines_) {
      line.requested = false;
      line.settle_at.reset();
    }
  }

  // Opening failed: offline, retried with back-off.
  void chip_failed(const std::string& reason) {
    ++failures_;
    if (failures_ == 1 || reason != reported_error_) {
      log::warn("gpio", "device '", config_.name, "': ", reason, "; retrying with back-off (up to ",
                kRetryCap.count() / 1000, " s apart)");
    }
    next_retry_ = Clock::now() + backoff(failures_);
    report_down(reason);
  }

  // The open chip failed (it went away): closed, then as a failed open.
  void chip_lost(const std::string& reason) {
    close_chip();
    chip_failed(reason);
  }

  bool has_unrequested_lines() const {
    return std::any_of(lines_.begin(), lines_.end(),
                       [](const LineState& line) { return !line.requested; });
  }

  // Requests every line not requested yet and publishes the value of each one that now is.
  void request_lines() {
    const uint32_t line_count = chip_->line_count();
    bool failed = false;
    for (LineState& line : lines_) {
      if (line.requested) continue;
      const config::GpioPoint& p = *line.config;
      int error = p.direction == GpioDirection::In
                      ? chip_->request_input({p.line, p.edge, p.active_low, p.bias})
                      : chip_->request_output({p.line, p.active_low, p.initial});
      if (error) {
        std::string reason = error_text(error, config_.chip, p.line, "request", line_count);
        if (reason != line.error) {
          log::warn("gpio", "device '", config_.name, "' point '", p.name, "': ", reason,
                    "; requesting it again with back-off");
          line.error = reason;
          sink_->on_reading(config_.name, p.name,
                            {std::monostate{}, now_ms(), mapping::Quality::Bad, reason});
        }
        failed = true;
        continue;
      }
      line.requested = true;
      line.error.clear();
      publish_level(line);
      if (!chip_) return;
    }
    if (failed) {
      ++line_failures_;
      next_retry_ = Clock::now() + backoff(line_failures_);
    } else {
      line_failures_ = 0;
    }
    bool any = std::any_of(lines_.begin(), lines_.end(),
                           [](const LineState& line) { return line.requested; });
    if (any) {
      set_online(true);
    } else {
      set_online(false);
      reported_error_ = lines_.front().error;
    }
  }

  // Every point bad with `reason`, and the device offline.
  void report_down(const std::string& reason) {
    mapping::Reading bad{std::monostate{}, now_ms(), mapping::Quality::Bad, reason};
    for (const config::GpioPoint& p : config_.points)
      sink_->on_reading(config_.name, p.name, bad);
    set_online(false);
    reported_error_ = reason;
  }

  void set_online(bool online) {
    if (online_ == online) return;
    if (online && online_ == false) {
      log::info("gpio", "device '", config_.name, "' (GPIO chip '", config_.chip,
                "') is back online");
    }
    online_ = online;
    if (online) reported_error_.clear();
    sink_->on_availability(config_.name, online);
  }

  // ---- inputs ----------------------------------------------------------------------------

  LineState* line_of(uint32_t offset) {
    for (LineState& line : lines_)
      if (line.config->line == offset && line.requested) return &line;
    return nullptr;
  }

  void on_events(const std::vector<Event>& events) {
    for (const Event& event : events) {
      LineState* line = line_of(event.line);
      if (!line || line->config->direction != GpioDirection::In) continue;
      if (line->config->debounce_ms == 0) {
        publish(*line, event.rising);
        continue;
      }
      // Judged by the edges' own times: a level that held for debounce_ms before this edge
      // settled, even when this thread only sees both edges now.
      if (line->settle_at && event.at >= *line->settle_at) settle(*line);
      if (!chip_) return;
      // The contact is (still) moving: publish once it has been still for debounce_ms.
      line->pending = event.rising;
      line->settle_at = event.at + milliseconds{line->config->debounce_ms};
    }
  }

  void settle_due(Clock::time_point now) {
    for (LineState& line : lines_) {
      if (!line.settle_at || *line.settle_at > now) continue;
      settle(line);
      if (!chip_) return;
    }
  }

  // With both edges watched, the last edge tells the settled level; with one, the other
  // transition is unseen, so the line is read.
  void settle(LineState& line) {
    line.settle_at.reset();
    if (line.config->edge == config::GpioEdge::Both) {
      publish(line, line.pending);
    } else {
      publish_level(line);
    }
  }

  // Reads the line and publishes its value (or why it cannot be read).
  void publish_level(LineState& line) {
    bool level = false;
    if (int error = chip_->get(line.config->line, level)) {
      std::string reason = error_text(error, config_.chip, line.config->line, "read");
      if (error == ENODEV) {
        chip_lost(reason);
        return;
      }
      sink_->on_reading(config_.name, line.config->name,
                        {std::monostate{}, now_ms(), mapping::Quality::Bad, reason});
      return;
    }
    publish(line, level);
  }

  void publish(const LineState& line, bool level) {
    sink_->on_reading(config_.name, line.config->name, {level, now_ms()});
  }

  // ---- outputs ---------------------------------------------------------------------------

  void carry_out(WriteJob& job) {
    LineState& line = lines_[job.point];
    const config::GpioPoint& p = *line.config;
    if (!chip_) {
      job.done({false, reported_error_.empty() ? "GPIO chip '" + config_.chip + "' is not open"
                                               : reported_error_});
      return;
    }
    if (!line.requested) {
      job.done({false, line.error});
      return;
    }
    if (int error = chip_->set(p.line, job.level)) {
      std::string reason = error_text(error, config_.chip, p.line, "write");
      log::warn("gpio", "write to ", config_.name, "/", p.name, " failed: ", reason);
      if (error == ENODEV) chip_lost(reason);
      job.done({false, reason});
      return;
    }
    publish_level(line);  // the topic shows what the line holds now
    job.done({true, {}});
  }

  const config::GpioChip config_;
  const std::shared_ptr<Backend> backend_;
  adapters::ReadingSink* sink_ = nullptr;
  std::thread thread_;

  std::mutex mutex_;  // guards stopping_, writes_ and chip_ (wake() from other threads)
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<WriteJob> writes_;
  std::unique_ptr<Chip> chip_;  // written by the thread only, under the mutex

  // The thread's own.
  std::vector<LineState> lines_;  // per point, in config order
  std::optional<bool> online_;    // unknown until the first attempt
  std::string reported_error_;    // why the device is offline
  unsigned failures_ = 0;         // failed opens in a row
  unsigned line_failures_ = 0;    // rounds of line requests in a row with a failure
  Clock::time_point next_retry_{};
};

// ---- the adapter --------------------------------------------------------------------------

GpioAdapter::GpioAdapter(std::vector<config::GpioChip> chips, std::shared_ptr<Backend> backend)
    : backend_(std::move(backend)) {
  for (config::GpioChip& chip : chips) {
    auto worker = std::make_unique<ChipWorker>(std::move(chip), backend_);
    worker_of_[worker->config().name] = worker.get();
    workers_.push_back(std::move(worker));
  }
}

GpioAdapter::~GpioAdapter() {
  stop();
}

void GpioAdapter::start(adapters::ReadingSink& sink) {
  for (auto& worker : workers_)
    worker->start(sink);
}

void GpioAdapter::stop() {
  for (auto& worker : workers_)
    worker->stop();
}

void GpioAdapter::write(std::string_view device, std::string_view point,
                        const mapping::Value& value,
                        std::function<void(const adapters::WriteResult&)> done) {
  auto found = worker_of_.find(device);
  if (found == worker_of_.end()) {
    done({false, "no GPIO device named '" + std::string(device) + "'"});
    return;
  }
  ChipWorker& worker = *found->second;
  // The config (immutable after construction) is safe to read from here.
  const auto& points = worker.config().points;
  auto it = std::find_if(points.begin(), points.end(),
                         [&](const config::GpioPoint& p) { return p.name == point; });
  if (it == points.end()) {
    done({false,
          "device '" + std::string(device) + "' has no point named '" + std::string(point) + "'"});
    return;
  }
  if (it->direction != GpioDirection::Out || !it->writable) {
    done({false, it->direction == GpioDirection::Out
                     ? "point is not writable (set writable = true in the config to allow "
                       "commands)"
                     : "point is an input (direction = \"in\"): only outputs can be written"});
    return;
  }
  std::optional<bool> level = mapping::switch_state(value);
  if (!level) {
    done({false, "a GPIO output takes true or false (or 1 or 0, \"on\" or \"off\"), got " +
                     mapping::to_json(value)});
    return;
  }
  worker.enqueue({static_cast<size_t>(it - points.begin()), *level, std::move(done)});
}

}  // namespace fieldgate::gpio
