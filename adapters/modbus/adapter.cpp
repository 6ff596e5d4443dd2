#include "adapters/modbus/adapter.h"

#include <modbus.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "adapters/modbus/codec.h"
#include "adapters/modbus/context.h"
#include "adapters/modbus/planner.h"
#include "common/log.h"

namespace fieldgate::modbus {

using Clock = std::chrono::steady_clock;
using config::ModbusTable;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kReconnectCap{2000};
constexpr milliseconds kDeviceBackoffCap{5000};

bool is_bit_table(ModbusTable table) {
  return table == ModbusTable::Coil || table == ModbusTable::Discrete;
}

// Errors after which the connection is gone (as opposed to one request that went unanswered).
bool connection_lost(int errnum) {
  switch (errnum) {
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EPIPE:
    case EBADF:
    case ENOTCONN:
    case EIO:
      return true;
    default:
      return false;
  }
}

// poll_ms doubled per failure after the first, capped at max(poll_ms, cap).
Clock::duration backoff(uint32_t poll_ms, unsigned failures, milliseconds cap) {
  milliseconds period{poll_ms};
  milliseconds limit = std::max(period, cap);
  milliseconds delay = period;
  for (unsigned i = 1; i < failures && delay < limit; ++i)
    delay *= 2;
  return std::min(delay, limit);
}

int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string endpoint_text(const config::ModbusDevice& d) {
  if (d.transport == config::ModbusTransport::Tcp) {
    return "tcp://" + d.host + ":" + std::to_string(d.port);
  }
  return "rtu:" + d.serial;
}

char parity_letter(config::Parity parity) {
  switch (parity) {
    case config::Parity::Even:
      return 'E';
    case config::Parity::Odd:
      return 'O';
    case config::Parity::None:
      break;
  }
  return 'N';
}

}  // namespace

// What the adapter keeps of a point: a fifth of a config::ModbusPoint (which keeps its
// topic, unit and file positions for the mapping and for error messages).
struct Point {
  std::string name;
  ModbusTable table = ModbusTable::Holding;
  uint16_t address = 0;  // on the wire
  uint16_t count = 1;    // registers, or bits
  bool writable = false;
  Encoding encoding;
};

// One device on a line, owned and touched only by the line's thread (after start()).
struct Device {
  config::ModbusDevice config;  // without its points
  std::vector<Point> points;
  std::vector<ReadRequest> plan;  // split further when the device refuses a batch
  Clock::time_point next_poll{};
  unsigned failures = 0;       // polls in a row the device did not answer
  std::optional<bool> online;  // unknown until the first poll
  std::string reported_error;  // the reason last reported for the whole device
};

// A write waiting for its line: the registers (or coil state) are already encoded.
struct WriteJob {
  Device* device = nullptr;
  size_t point = 0;
  mapping::Value value;             // for a bit of a register, encoded on the line
  std::vector<uint16_t> registers;  // holding registers to write
  bool coil = false;                // coil state to write (coil points)
  std::function<void(const adapters::WriteResult&)> done;
};

class Line {
 public:
  Line(std::string endpoint, std::vector<config::ModbusDevice> devices)
      : endpoint_(std::move(endpoint)) {
    for (config::ModbusDevice& d : devices) {
      auto device = std::make_unique<Device>();
      device->plan = plan_reads(d);
      device->points.reserve(d.points.size());
      for (config::ModbusPoint& p : d.points) {
        device->points.push_back(Point{std::move(p.name), p.table, p.wire_address,
                                       p.register_count(), p.writable, encoding_of(p)});
      }
      d.points = {};
      d.keys = {};
      device->config = std::move(d);
      devices_.push_back(std::move(device));
    }
  }

  ~Line() { stop(); }

  Device* find(std::string_view name) {
    for (auto& d : devices_)
      if (d->config.name == name) return d.get();
    return nullptr;
  }

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
    }
    wake_.notify_all();
    thread_.join();
    for (WriteJob& job : writes_)
      job.done({false, "the gateway is stopping; the write was not sent"});
    writes_.clear();
    context_.reset();
  }

  void enqueue(WriteJob job) {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      job.done({false, "the gateway is stopping; the write was not sent"});
      return;
    }
    writes_.push_back(std::move(job));
    lock.unlock();
    wake_.notify_all();
  }

  std::vector<std::string> device_names() const {
    std::vector<std::string> names;
    for (const auto& d : devices_)
      names.push_back(d->config.name);
    return names;
  }

  uint64_t requests_sent() const { return requests_.load(std::memory_order_relaxed); }

 private:
  // ---- the thread ----------------------------------------------------------------------

  void run() {
    for (auto& d : devices_)
      d->next_poll = Clock::now();
    while (true) {
      std::deque<WriteJob> writes;
      {
        std::unique_lock lock(mutex_);
        wake_.wait_until(lock, next_wake(), [this] { return stopping_ || !writes_.empty(); });
        if (stopping_) return;
        writes.swap(writes_);
      }
      for (WriteJob& job : writes)
        carry_out(job);
      if (!connected_ && Clock::now() >= next_connect_) connect();
      if (!connected_) continue;
      // Every due device, the longest overdue first.
      while (Device* due = next_due()) {
        poll(*due);
        if (!connected_ || stop_requested() || writes_pending()) break;
      }
    }
  }

  Clock::time_point next_wake() const {
    if (!connected_) return next_connect_;
    Clock::time_point wake = Clock::time_point::max();
    for (const auto& d : devices_)
      wake = std::min(wake, d->next_poll);
    return wake;
  }

  Device* next_due() {
    Clock::time_point now = Clock::now();
    Device* due = nullptr;
    for (auto& d : devices_) {
      if (d->next_poll <= now && (!due || d->next_poll < due->next_poll)) due = d.get();
    }
    return due;
  }

  bool stop_requested() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }
  bool writes_pending() {
    std::lock_guard lock(mutex_);
    return !writes_.empty();
  }

  // ---- the connection ------------------------------------------------------------------

  bool connect() {
    const config::ModbusDevice& first = devices_.front()->config;
    if (!context_) {
      if (first.transport == config::ModbusTransport::Tcp) {
        std::string port = std::to_string(first.port);
        context_.reset(modbus_new_tcp_pi(first.host.c_str(), port.c_str()));
      } else {
        context_.reset(modbus_new_rtu(first.serial.c_str(), static_cast<int>(first.baud),
                                      parity_letter(first.parity), first.data_bits,
                                      first.stop_bits));
      }
      if (!context_) {
        connection_failed(errno);
        return false;
      }
    }
    milliseconds timeout{first.timeout_ms};
    set_timeout(timeout);
    if (modbus_connect(context_.get()) == -1) {
      int err = errno;
      modbus_close(context_.get());
      connection_failed(err);
      return false;
    }
    log::info("modbus", "connected to ", endpoint_);
    connected_ = true;
    connect_failures_ = 0;
    answered_since_connect_ = false;
    return true;
  }

  void connection_failed(int err) {
    std::string reason = error_text(err);
    if (first_transport_is_rtu()) {
      reason = "cannot open " + devices_.front()->config.serial + ": " + reason;
    } else {
      reason = "cannot connect to " + endpoint_ + ": " + reason;
    }
    ++connect_failures_;
    if (connect_failures_ == 1 || reason != connect_error_) {
      log::warn("modbus", reason, "; retrying with back-off (up to ",
                std::max<int64_t>(devices_.front()->config.poll_ms, kReconnectCap.count()),
                " ms apart)",
                first_transport_is_rtu() ? " (is the adapter plugged in, and may the "
                                           "fieldgate user open it? group dialout)"
                                         : "");
    }
    connect_error_ = reason;
    next_connect_ =
        Clock::now() + backoff(devices_.front()->config.poll_ms, connect_failures_, kReconnectCap);
    for (auto& d : devices_)
      report_down(*d, reason);
  }

  // The connection broke during a request: reconnect at once, unless it broke before it
  // answered anything (a peer that accepts and hangs up), which counts as a failed connect.
  void connection_dropped(int err) {
    modbus_close(context_.get());
    connected_ = false;
    if (answered_since_connect_) {
      log::info("modbus", "connection to ", endpoint_, " lost (", error_text(err),
                "); reconnecting");
      next_connect_ = Clock::now();
    } else {
      connection_failed(err);
    }
  }

  bool first_transport_is_rtu() const {
    return devices_.front()->config.transport == config::ModbusTransport::Rtu;
  }

  void set_timeout(milliseconds timeout) {
    auto ms = static_cast<uint32_t>(timeout.count());
    modbus_set_response_timeout(context_.get(), ms / 1000, (ms % 1000) * 1000);
  }

  void select(const Device& d) {
    modbus_set_slave(context_.get(), d.config.unit_id);
    set_timeout(milliseconds{d.config.timeout_ms});
  }

  // ---- reading -------------------------------------------------------------------------

  // One request, with up to `retries` retries after timeouts and garbled answers. Returns 0 or
  // the errno of the last failure.
  int read(const ReadRequest& request, unsigned retries, std::vector<uint16_t>& registers,
           std::vector<uint8_t>& bits) {
    int err = 0;
    for (unsigned attempt = 0; attempt <= retries; ++attempt) {
      requests_.fetch_add(1, std::memory_order_relaxed);
      int rc = -1;
      switch (request.table) {
        case ModbusTable::Coil:
          bits.resize(request.count);
          rc = modbus_read_bits(context_.get(), request.address, request.count, bits.data());
          break;
        case ModbusTable::Discrete:
          bits.resize(request.count);
          rc = modbus_read_input_bits(context_.get(), request.address, request.count, bits.data());
          break;
        case ModbusTable::Holding:
          registers.resize(request.count);
          rc = modbus_read_registers(context_.get(), request.address, request.count,
                                     registers.data());
          break;
        case ModbusTable::Input:
          registers.resize(request.count);
          rc = modbus_read_input_registers(context_.get(), request.address, request.count,
                                           registers.data());
          break;
      }
      if (rc == request.count) {
        answered_since_connect_ = true;
        return 0;
      }
      err = rc == -1 ? errno : EMBBADDATA;
      if (exception_code(err) != 0) {
        answered_since_connect_ = true;
        return err;
      }
      if (connection_lost(err)) return err;
      // A late answer to this request must not be taken for the next one's.
      modbus_flush(context_.get());
      if (stop_requested()) break;
    }
    return err;
  }

  void poll(Device& d) {
    Clock::time_point started = Clock::now();
    select(d);
    // A device known to be down gets one request, without retries, until it answers.
    const bool probing = d.online == false;
    const unsigned retries = probing ? 0 : d.config.retries;
    bool answered = false;
    std::string failure;  // why the device did not answer
    int64_t ts = now_ms();
    std::vector<uint16_t> registers;
    std::vector<uint8_t> bits;
    std::vector<bool> served(d.points.size(), false);
    for (size_t i = 0; i < d.plan.size(); ++i) {
      const ReadRequest request = d.plan[i];
      int err = read(request, retries, registers, bits);
      ts = now_ms();
      if (err == 0) {
        answered = true;
        for (const ServedPoint& sp : request.points) {
          served[sp.point] = true;
          deliver(d, sp, request.table, registers, bits, ts);
        }
        continue;
      }
      if (connection_lost(err)) {
        connection_dropped(err);
        return;
      }
      if (exception_code(err) == 0) {
        failure = error_text(err);
        break;  // not answering: the other requests would only wait for their timeouts too
      }
      answered = true;
      if (exception_code(err) == 2) {
        std::vector<ReadRequest> halves = split_request(request);
        if (!halves.empty()) {
          log::debug("modbus", d.config.name, ": ", table_name(request.table), " ", request.address,
                     "+", request.count, " refused (illegal data address); splitting the batch");
          d.plan.erase(d.plan.begin() + static_cast<std::ptrdiff_t>(i));
          d.plan.insert(d.plan.begin() + static_cast<std::ptrdiff_t>(i), halves.begin(),
                        halves.end());
          --i;  // read the first half now
          continue;
        }
      }
      mapping::Reading bad{std::monostate{}, ts, mapping::Quality::Bad, error_text(err)};
      for (const ServedPoint& sp : request.points) {
        served[sp.point] = true;
        sink_->on_reading(d.config.name, d.points[sp.point].name, bad);
      }
    }
    if (!answered) {
      device_down(d, failure);
      return;
    }
    if (!failure.empty()) {  // answered some requests, then stopped: those points are bad
      mapping::Reading bad{std::monostate{}, ts, mapping::Quality::Bad, failure};
      for (size_t p = 0; p < served.size(); ++p)
        if (!served[p]) sink_->on_reading(d.config.name, d.points[p].name, bad);
    }
    device_up(d);
    // A fixed rate, unless the device fell behind by a whole period.
    d.next_poll += milliseconds{d.config.poll_ms};
    if (d.next_poll < started) d.next_poll = started + milliseconds{d.config.poll_ms};
  }

  static std::string_view table_name(ModbusTable table) { return config::to_string(table); }

  void deliver(const Device& d, const ServedPoint& sp, ModbusTable table,
               const std::vector<uint16_t>& registers, const std::vector<uint8_t>& bits,
               int64_t ts) {
    const std::string& point = d.points[sp.point].name;
    mapping::Reading reading;
    reading.ts_ms = ts;
    if (is_bit_table(table)) {
      reading.value = decode_bit(bits[sp.offset]);
    } else {
      Result<mapping::Value> value = decode_registers(
          std::span(registers).subspan(sp.offset, sp.count), d.points[sp.point].encoding);
      if (value) {
        reading.value = std::move(value.value());
      } else {
        reading.quality = mapping::Quality::Bad;
        reading.error = value.error();
      }
    }
    sink_->on_reading(d.config.name, point, reading);
  }

  void device_up(Device& d) {
    if (d.online == false) {
      log::info("modbus", "device '", d.config.name, "' (unit ", d.config.unit_id, " at ",
                endpoint_, ") answers again");
    }
    d.failures = 0;
    d.reported_error.clear();
    if (d.online != true) sink_->on_availability(d.config.name, true);
    d.online = true;
  }

  void device_down(Device& d, const std::string& reason) {
    ++d.failures;
    if (d.online != false || d.reported_error != reason) {
      log::warn("modbus", "device '", d.config.name, "' (unit ", d.config.unit_id, " at ",
                endpoint_, ") does not answer: ", reason,
                "; polling it less often until it does (check its unit id, address and wiring)");
    }
    report_down(d, reason);
    d.next_poll = Clock::now() + backoff(d.config.poll_ms, d.failures, kDeviceBackoffCap);
  }

  // Every point of `d` bad with `reason`, and the device offline.
  void report_down(Device& d, const std::string& reason) {
    mapping::Reading bad{std::monostate{}, now_ms(), mapping::Quality::Bad, reason};
    for (const Point& p : d.points)
      sink_->on_reading(d.config.name, p.name, bad);
    if (d.online != false) sink_->on_availability(d.config.name, false);
    d.online = false;
    d.reported_error = reason;
  }

  // ---- writing -------------------------------------------------------------------------

  void carry_out(WriteJob& job) {
    if (!connected_ && !connect()) {
      job.done({false, connect_error_});
      return;
    }
    Device& d = *job.device;
    const Point& p = d.points[job.point];
    select(d);
    int err = 0;
    for (unsigned attempt = 0; attempt <= d.config.retries; ++attempt) {
      err = write_once(d, job);
      if (err == 0 || exception_code(err) != 0 || connection_lost(err)) break;
      modbus_flush(context_.get());
    }
    if (err != 0) {
      std::string why = error_text(err);
      log::warn("modbus", "write to ", d.config.name, "/", p.name, " failed: ", why);
      if (connection_lost(err)) connection_dropped(err);
      job.done({false, why});
      return;
    }
    answered_since_connect_ = true;
    read_back(d, job.point);
    job.done({true, {}});
  }

  // 0 or the errno of the failure.
  int write_once(Device& d, WriteJob& job) {
    const Point& p = d.points[job.point];
    const int address = p.address;
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (p.table == ModbusTable::Coil) {
      return modbus_write_bit(context_.get(), address, job.coil ? 1 : 0) == 1 ? 0 : errno;
    }
    if (p.encoding.bit) {  // read, change the one bit, write back: the other bits stay as they are
      uint16_t current = 0;
      if (modbus_read_registers(context_.get(), address, 1, &current) != 1) return errno;
      requests_.fetch_add(1, std::memory_order_relaxed);
      Result<uint16_t> next = encode_register_bit(job.value, *p.encoding.bit, current);
      if (!next) return EINVAL;  // checked in write(); cannot happen
      return modbus_write_register(context_.get(), address, next.value()) == 1 ? 0 : errno;
    }
    if (job.registers.size() == 1) {
      return modbus_write_register(context_.get(), address, job.registers[0]) == 1 ? 0 : errno;
    }
    auto count = static_cast<int>(job.registers.size());
    return modbus_write_registers(context_.get(), address, count, job.registers.data()) == count
               ? 0
               : errno;
  }

  // Reads the point just written, so its topic shows what the device holds now.
  void read_back(Device& d, size_t point) {
    const Point& p = d.points[point];
    ReadRequest request{p.table, p.address, p.count, {{point, 0, 0}}};
    request.points[0].count = request.count;
    std::vector<uint16_t> registers;
    std::vector<uint8_t> bits;
    int err = read(request, d.config.retries, registers, bits);
    if (err == 0) {
      deliver(d, request.points[0], p.table, registers, bits, now_ms());
    } else {
      log::warn("modbus", "reading ", d.config.name, "/", p.name,
                " back after a write failed: ", error_text(err));
    }
  }

  const std::string endpoint_;
  std::vector<std::unique_ptr<Device>> devices_;
  adapters::ReadingSink* sink_ = nullptr;
  std::thread thread_;
  std::atomic<uint64_t> requests_{0};

  std::mutex mutex_;  // guards stopping_ and writes_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<WriteJob> writes_;

  // The line thread's own.
  Context context_;
  bool connected_ = false;
  bool answered_since_connect_ = false;
  unsigned connect_failures_ = 0;
  std::string connect_error_;
  Clock::time_point next_connect_{};
};

// ---- the adapter --------------------------------------------------------------------------

ModbusAdapter::ModbusAdapter(std::vector<config::ModbusDevice> devices) {
  // Devices that share an endpoint share a line, in config order.
  std::map<std::string, std::vector<config::ModbusDevice>> by_endpoint;
  std::vector<std::string> order;
  for (config::ModbusDevice& d : devices) {
    std::string endpoint = endpoint_text(d);
    if (!by_endpoint.count(endpoint)) order.push_back(endpoint);
    by_endpoint[endpoint].push_back(std::move(d));
  }
  for (const std::string& endpoint : order) {
    auto line = std::make_unique<Line>(endpoint, std::move(by_endpoint[endpoint]));
    for (const std::string& name : line->device_names())
      line_of_device_[name] = line.get();
    lines_.push_back(std::move(line));
  }
}

ModbusAdapter::~ModbusAdapter() {
  stop();
}

void ModbusAdapter::start(adapters::ReadingSink& sink) {
  for (auto& line : lines_)
    line->start(sink);
}

void ModbusAdapter::stop() {
  for (auto& line : lines_)
    line->stop();
}

void ModbusAdapter::write(std::string_view device, std::string_view point,
                          const mapping::Value& value,
                          std::function<void(const adapters::WriteResult&)> done) {
  auto found = line_of_device_.find(device);
  if (found == line_of_device_.end()) {
    done({false, "no Modbus device named '" + std::string(device) + "'"});
    return;
  }
  Line* line = found->second;
  Device* d = line->find(device);
  // The config (immutable after construction) is safe to read from here.
  const auto& points = d->points;
  auto it =
      std::find_if(points.begin(), points.end(), [&](const Point& p) { return p.name == point; });
  if (it == points.end()) {
    done({false,
          "device '" + std::string(device) + "' has no point named '" + std::string(point) + "'"});
    return;
  }
  const Point& p = *it;
  if (!p.writable) {
    done({false, "point is not writable (set writable = true in the config to allow commands)"});
    return;
  }
  WriteJob job;
  job.device = d;
  job.point = static_cast<size_t>(it - points.begin());
  job.value = value;
  if (p.table == ModbusTable::Coil) {
    Result<bool> state = encode_bit(value);
    if (!state) return done({false, state.error()});
    job.coil = state.value();
  } else if (p.encoding.bit) {
    Result<uint16_t> check = encode_register_bit(value, *p.encoding.bit, 0);
    if (!check) return done({false, check.error()});
  } else {
    Result<std::vector<uint16_t>> registers = encode_registers(value, p.encoding);
    if (!registers) return done({false, registers.error()});
    job.registers = std::move(registers.value());
  }
  job.done = std::move(done);
  line->enqueue(std::move(job));
}

uint64_t ModbusAdapter::requests_sent() const {
  uint64_t total = 0;
  for (const auto& line : lines_)
    total += line->requests_sent();
  return total;
}

}  // namespace fieldgate::modbus
