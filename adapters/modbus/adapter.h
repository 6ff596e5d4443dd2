// The Modbus adapter: polls [[modbus]] devices over TCP and RTU with libmodbus and writes
// commands back (SPEC.md, [[modbus]]).
//
// Devices that share a TCP endpoint (host and port) or a serial line share one connection: a
// "line", with one thread that polls its devices in turn and carries out their writes between
// polls (writes go first: a user is waiting for them). Each device's points are read with the
// fewest requests the planner finds; a batch refused with exception 2 is split until the bad
// point stands alone, and the split plan is kept.
//
// Failures:
//   - a line that cannot connect (or drops) reports every device on it offline with the reason
//     and reconnects with capped exponential back-off (cheap attempts: capped at
//     max(poll_ms, 2 s), so a device that comes back is polled again within a couple of
//     periods);
//   - a device that does not answer (after `retries` retries) is reported offline and then
//     probed less often (back-off from poll_ms, capped at max(poll_ms, 5 s)), with a single
//     request and no retries, so a dead unit on a shared serial line costs its neighbours at
//     most one timeout per probe;
//   - a Modbus exception makes the points of that request bad, named ("Modbus exception 2
//     (illegal data address)"); the device stays online, since it answered.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/adapter.h"
#include "config/config.h"

namespace fieldgate::modbus {

class Line;

class ModbusAdapter final : public adapters::Adapter {
 public:
  explicit ModbusAdapter(std::vector<config::ModbusDevice> devices);
  ~ModbusAdapter() override;

  void start(adapters::ReadingSink& sink) override;
  void stop() override;
  // Checks the value against the point's type and range at once (an invalid command never
  // reaches the device); then the write is carried out on the device's line, the point read
  // back (its reading goes to the sink) and `done` called.
  void write(std::string_view device, std::string_view point, const mapping::Value& value,
             std::function<void(const adapters::WriteResult&)> done) override;

  // Modbus requests sent so far (reads and writes, retries included), for the benchmark.
  uint64_t requests_sent() const;

 private:
  std::vector<std::unique_ptr<Line>> lines_;
  std::map<std::string, Line*, std::less<>> line_of_device_;
};

}  // namespace fieldgate::modbus
