// The GPIO adapter: [[gpio]] chips (SPEC.md) through a Backend (backend.h): libgpiod v1 in the
// gateway, a simulated chip in tests and the benchmark.
//
// One thread per [[gpio]] device. It opens the chip, requests every point's line (inputs with
// their edge, bias and active_low; outputs with their initial value), publishes every line's
// value, then waits for edge events and commands:
//   - inputs: every edge event (re)starts the point's debounce timer; once the line has been
//     still for debounce_ms (judged by the edges' timestamps, so a late thread does not merge a
//     press and its release), the level it settled at is published (the mapping publishes it
//     when it changed): a bouncing contact gives one reading. With debounce_ms = 0 every event
//     is published at once, with the level the edge reached. Only the configured edge raises
//     events: with "rising" or "falling" the other transition is not seen, so the line is read
//     when it settles, and the value is refreshed at the next configured edge (use "both", the
//     default, for a value that follows the line);
//   - outputs: a command drives the line (active_low inverts it on the pin), then the line is
//     read back and published, then `done` is called.
// Values are logical (active_low applied): true is "active".
//
// Failures:
//   - a chip that cannot be opened (missing, no permission, not a GPIO chip) is not a config
//     error: the device is reported offline with the reason, and opening is retried with back-off
//     (1 s doubling up to 10 s); a chip that goes away while open is handled the same way;
//   - a line that cannot be requested (out of range, held by another program, refused) makes its
//     point bad with the reason and is requested again on the same schedule; the device is
//     online while at least one of its lines works.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/adapter.h"
#include "adapters/gpio/backend.h"
#include "config/config.h"

namespace fieldgate::gpio {

class ChipWorker;

class GpioAdapter final : public adapters::Adapter {
 public:
  explicit GpioAdapter(std::vector<config::GpioChip> chips,
                       std::shared_ptr<Backend> backend = libgpiod_backend());
  ~GpioAdapter() override;

  void start(adapters::ReadingSink& sink) override;
  void stop() override;
  // Checks at once that the point is a writable output and the value a bool (true/false, 1/0,
  // "on"/"off"); then the chip's thread drives the line, reads it back (the reading goes to the
  // sink) and calls `done`.
  void write(std::string_view device, std::string_view point, const mapping::Value& value,
             std::function<void(const adapters::WriteResult&)> done) override;

 private:
  std::shared_ptr<Backend> backend_;
  std::vector<std::unique_ptr<ChipWorker>> workers_;
  std::map<std::string, ChipWorker*, std::less<>> worker_of_;  // by device name
};

}  // namespace fieldgate::gpio
