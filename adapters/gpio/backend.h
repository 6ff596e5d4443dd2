// The GPIO backend seam: the few chip operations the GPIO adapter needs, so that the libgpiod v1
// backend (libgpiod_backend.cpp) can be joined by a v2 one, and tests and the benchmark can run
// the adapter on a simulated chip (sim_backend.h).
//
// Values are logical throughout: active_low is given to the backend with the request and the
// backend inverts (libgpiod does it in the kernel), so a "rising" event is the logical value
// going from false to true. Failures are errno values; error_text() turns them into the
// messages users see, the same for every backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace fieldgate::gpio {

struct InputRequest {
  uint32_t line = 0;
  config::GpioEdge edge = config::GpioEdge::Both;
  bool active_low = false;
  std::optional<config::GpioBias> bias;  // unset: leave the line's bias as it is
};

struct OutputRequest {
  uint32_t line = 0;
  bool active_low = false;
  bool initial = false;  // logical
};

struct Event {
  uint32_t line = 0;
  bool rising = false;  // logical false -> true
  // When the edge happened (CLOCK_MONOTONIC: the kernel's timestamp where it has one), so that
  // debouncing does not depend on how soon the adapter's thread got to run.
  std::chrono::steady_clock::time_point at;
};

// One opened chip and the lines requested from it (released when it is destroyed). Used by one
// thread, except wake(), which any thread may call.
class Chip {
 public:
  virtual ~Chip() = default;
  // 0 or an errno: EINVAL (no such line), EBUSY (held by another program), EACCES, ...
  virtual int request_input(const InputRequest& request) = 0;
  virtual int request_output(const OutputRequest& request) = 0;
  // Waits until an edge event arrives on a requested input, wake() is called or `timeout`
  // passes; appends the events that arrived (none on a timeout or a wake). 0 or an errno
  // (ENODEV: the chip went away).
  virtual int wait(std::chrono::milliseconds timeout, std::vector<Event>& events) = 0;
  // The logical value of a requested line.
  virtual int get(uint32_t line, bool& value) = 0;
  // Drives a requested output to the logical `value`.
  virtual int set(uint32_t line, bool value) = 0;
  // Makes a wait() in progress (or the next one) return at once.
  virtual void wake() = 0;
  // The number of lines the chip has (to say so when a line is out of range).
  virtual uint32_t line_count() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Opens `chip`: a name ("gpiochip0"), a path ("/dev/gpiochip0"), a label or a number, as
  // gpiod_chip_open_lookup() takes them. nullptr with `error` set to an errno when it fails
  // (ENOENT: no such chip; EACCES: permission denied; ENOTTY: not a GPIO chip).
  virtual std::unique_ptr<Chip> open(const std::string& chip, int& error) = 0;
};

// The libgpiod v1 backend (Debian 12, Raspberry Pi OS bookworm).
std::unique_ptr<Backend> libgpiod_backend();

// What went wrong and what to do about it. `line` is unset for chip-wide operations (open,
// wait). `operation` says what was attempted: "open", "request", "read", "write", "wait".
std::string error_text(int error, const std::string& chip, std::optional<uint32_t> line,
                       const std::string& operation, uint32_t line_count = 0);

}  // namespace fieldgate::gpio
