// The libgpiod v1 backend (libgpiod 1.6 on Debian 12 and Raspberry Pi OS bookworm). A v2
// backend (gpiod_request_config, gpiod_line_request) would implement the same Chip.
#include <gpiod.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "adapters/gpio/backend.h"

namespace fieldgate::gpio {

namespace {

constexpr const char* kConsumer = "fieldgate";

int flags_of(bool active_low, std::optional<config::GpioBias> bias) {
  int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
  if (bias) {
    switch (*bias) {
      case config::GpioBias::PullUp:
        flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
        break;
      case config::GpioBias::PullDown:
        flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
        break;
      case config::GpioBias::Disabled:
        flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
        break;
    }
  }
  return flags;
}

int request_type_of(config::GpioEdge edge) {
  switch (edge) {
    case config::GpioEdge::Rising:
      return GPIOD_LINE_REQUEST_EVENT_RISING_EDGE;
    case config::GpioEdge::Falling:
      return GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE;
    case config::GpioEdge::Both:
      break;
  }
  return GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES;
}

// The kernel stamps events with CLOCK_MONOTONIC (steady_clock) since Linux 5.7, with the
// realtime clock before: a stamp that is not within a minute of `now` is such a one, and `now`
// (when the event was read) is the best estimate left.
std::chrono::steady_clock::time_point event_time(const timespec& ts,
                                                 std::chrono::steady_clock::time_point now) {
  auto at = std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                                  std::chrono::nanoseconds(ts.tv_nsec));
  auto apart = at > now ? at - now : now - at;
  return apart < std::chrono::minutes(1) ? at : now;
}

class LibgpiodChip final : public Chip {
 public:
  LibgpiodChip(gpiod_chip* chip, int wake_fd) : chip_(chip), wake_fd_(wake_fd) {}
  ~LibgpiodChip() override {
    for (auto& [offset, line] : lines_)
      gpiod_line_release(line);
    gpiod_chip_close(chip_);
    close(wake_fd_);
  }

  int request_input(const InputRequest& request) override {
    gpiod_line* line = gpiod_chip_get_line(chip_, request.line);
    if (!line) return errno;
    gpiod_line_request_config config{kConsumer, request_type_of(request.edge),
                                     flags_of(request.active_low, request.bias)};
    if (gpiod_line_request(line, &config, 0) != 0) return errno;
    lines_[request.line] = line;
    inputs_.push_back(line);
    return 0;
  }

  int request_output(const OutputRequest& request) override {
    gpiod_line* line = gpiod_chip_get_line(chip_, request.line);
    if (!line) return errno;
    gpiod_line_request_config config{kConsumer, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
                                     flags_of(request.active_low, std::nullopt)};
    if (gpiod_line_request(line, &config, request.initial ? 1 : 0) != 0) return errno;
    lines_[request.line] = line;
    return 0;
  }

  int wait(std::chrono::milliseconds timeout, std::vector<Event>& events) override {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    for (gpiod_line* line : inputs_)
      fds.push_back({gpiod_line_event_get_fd(line), POLLIN | POLLPRI, 0});
    int ready = poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    if (ready < 0) return errno == EINTR ? 0 : errno;
    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      if (read(wake_fd_, &count, sizeof count) < 0 && errno != EAGAIN) return errno;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) return ENODEV;
      gpiod_line* line = inputs_[i - 1];
      gpiod_line_event read_events[16];
      int n = gpiod_line_event_read_multiple(line, read_events, 16);
      if (n < 0) return errno;
      const auto now = std::chrono::steady_clock::now();
      for (int e = 0; e < n; ++e) {
        events.push_back({gpiod_line_offset(line),
                          read_events[e].event_type == GPIOD_LINE_EVENT_RISING_EDGE,
                          event_time(read_events[e].ts, now)});
      }
    }
    return 0;
  }

  int get(uint32_t line, bool& value) override {
    auto found = lines_.find(line);
    if (found == lines_.end()) return EINVAL;
    int v = gpiod_line_get_value(found->second);
    if (v < 0) return errno;
    value = v == 1;
    return 0;
  }

  int set(uint32_t line, bool value) override {
    auto found = lines_.find(line);
    if (found == lines_.end()) return EINVAL;
    return gpiod_line_set_value(found->second, value ? 1 : 0) == 0 ? 0 : errno;
  }

  void wake() override {
    uint64_t one = 1;
    // A full counter (it cannot be, at 2^64 - 1) would still leave the fd readable.
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
  }

  uint32_t line_count() const override { return gpiod_chip_num_lines(chip_); }

 private:
  gpiod_chip* chip_;
  int wake_fd_;
  std::map<uint32_t, gpiod_line*> lines_;  // every requested line, by offset
  std::vector<gpiod_line*> inputs_;        // the inputs, whose events wait() reads
};

class LibgpiodBackend final : public Backend {
 public:
  std::unique_ptr<Chip> open(const std::string& name, int& error) override {
    errno = 0;
    gpiod_chip* chip = gpiod_chip_open_lookup(name.c_str());
    if (!chip) {
      error = errno != 0 ? errno : ENOENT;
      return nullptr;
    }
    int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) {
      error = errno;
      gpiod_chip_close(chip);
      return nullptr;
    }
    return std::make_unique<LibgpiodChip>(chip, wake_fd);
  }
};

}  // namespace

std::unique_ptr<Backend> libgpiod_backend() {
  return std::make_unique<LibgpiodBackend>();
}

}  // namespace fieldgate::gpio
