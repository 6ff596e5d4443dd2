// The seam every protocol adapter (modbus/, coap/, gpio/) plugs into, kept narrow as in EMQ
// Neuron's plugin interface: start, stop, and write one point. Reading is the adapter's own
// business (its threads, its batching); it hands every value it reads to a ReadingSink.
//
// No adapter is built yet: this header is the contract the first one (Modbus) implements.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "mapping/value.h"

namespace fieldgate::adapters {

// Where an adapter delivers what it reads. Called from the adapter's threads; implementations
// must be thread-safe.
class ReadingSink {
 public:
  virtual ~ReadingSink() = default;
  virtual void on_reading(std::string_view device, std::string_view point,
                          const mapping::Reading& reading) = 0;
  // A device came back (true) or stopped answering (false).
  virtual void on_availability(std::string_view device, bool online) = 0;
};

struct WriteResult {
  bool ok = false;
  std::string error;  // why not, in words a user understands: "Modbus exception 2", ...
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  // Starts the adapter's threads and returns at once; readings flow to `sink` until stop().
  virtual void start(ReadingSink& sink) = 0;
  // Stops and joins the adapter's threads. No sink call happens after it returns.
  virtual void stop() = 0;
  // Queues a write of `value` to a writable point of one of its devices; `done` is called once,
  // from the adapter's thread, after the device answered (or did not).
  virtual void write(std::string_view device, std::string_view point, const mapping::Value& value,
                     std::function<void(const WriteResult&)> done) = 0;
};

}  // namespace fieldgate::adapters
