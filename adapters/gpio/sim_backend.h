// A simulated GPIO backend, for tests and the benchmark: chips that exist in memory, input lines
// driven from outside (a button, with bounce if you like) and output lines whose level can be
// read back. It follows the kernel: a line held by another handle is EBUSY, a line out of range
// EINVAL, an input with a pull-up and nothing driving it reads high, active_low inverts values
// and edges, and a removed chip makes open() fail with ENOENT and open handles' wait() with
// ENODEV.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "adapters/gpio/backend.h"

namespace fieldgate::gpio {

class SimBackend final : public Backend {
 public:
  SimBackend();
  ~SimBackend() override;

  std::unique_ptr<Chip> open(const std::string& chip, int& error) override;

  // A chip named `name` with `lines` lines (all inputs, undriven, until requested).
  void add_chip(const std::string& name, uint32_t lines);
  // The chip goes away (unplugged).
  void remove_chip(const std::string& name);
  // open() of `name` fails with `error` (EACCES, ...) until set back to 0.
  void fail_open(const std::string& name, int error);
  // Another program holds (true) or releases (false) the line: requesting it fails with EBUSY.
  void hold(const std::string& chip, uint32_t line, bool held);

  // Drives a line to a physical level from outside, as a button or a sensor does. Queues an edge
  // event for the handle that requested it as an input (when the edge is one it asked for).
  void drive(const std::string& chip, uint32_t line, bool level);
  // The physical level of a line requested as an output; unset when it is not one.
  std::optional<bool> output_level(const std::string& chip, uint32_t line);
  // Edge events delivered to wait() so far, on every chip.
  uint64_t events_delivered() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace fieldgate::gpio
