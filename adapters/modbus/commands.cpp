#include "adapters/modbus/commands.h"

#include <modbus.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numbers>
#include <optional>
#include <sstream>
#include <string_view>

#include "adapters/modbus/codec.h"
#include "adapters/modbus/context.h"
#include "common/log.h"

namespace fieldgate::modbus {
namespace {

using config::ModbusTable;
using config::ValueType;
using config::WordOrder;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitRuntime = 2;

constexpr const char* kProbeUsage = R"(usage: fieldgate probe modbus ENDPOINT [OPTIONS]

reads registers (or bits) once and prints them raw and decoded as every type and word order.

ENDPOINT:
  tcp://HOST[:PORT]          Modbus TCP (port 502 by default; [IPV6]:PORT works too)
  rtu:DEVICE[?baud=9600&parity=N&data_bits=8&stop_bits=1]
                             Modbus RTU on a serial line (parity N, E or O)
OPTIONS:
  --unit N          unit (slave) id, 0..255 (default 1)
  --table TABLE     coil, discrete, holding or input (default holding)
  --address A       first wire address, counting from 0 (default 0); a manual that numbers
                    from 1 (register 1, or 40001 for holding) means A = that number - 1
  --count C         registers (1..125) or bits (1..2000) to read (default 1)
  --timeout-ms T    how long to wait for an answer (default 1000)
)";

constexpr const char* kSimulateUsage =
    R"(usage: fieldgate simulate modbus [--listen HOST:PORT] [--registers N]

serves changing demo values over Modbus TCP (default 127.0.0.1:5020) until SIGINT or SIGTERM,
then prints how many requests it served.
OPTIONS:
  --listen HOST:PORT  where to listen (default 127.0.0.1:5020)
  --registers N       also serve N holding registers at addresses 1000..1000+N-1, zero at
                      start, readable and writable by any client (for load tests; N up to
                      64536, default 0)
)";

int usage(const char* text, const std::string& message) {
  std::cerr << "fieldgate: " << message << "\n\n" << text;
  return kExitUsage;
}

template <typename Int>
bool parse_int(std::string_view text, Int& out) {
  if (text.empty()) return false;
  auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

// Splits "HOST:PORT", "[IPV6]:PORT" or (with a default port) "HOST".
bool split_host_port(std::string_view text, std::string& host, std::string& port,
                     std::optional<std::string_view> default_port) {
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() && default_port) {
      port = std::string(*default_port);
    } else if (rest.size() > 1 && rest.front() == ':') {
      port = std::string(rest.substr(1));
    } else {
      return false;
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      if (!default_port) return false;
      host = std::string(text);
      port = std::string(*default_port);
    } else {
      host = std::string(text.substr(0, colon));
      port = std::string(text.substr(colon + 1));
    }
  }
  uint16_t number = 0;
  return !host.empty() && parse_int(port, number) && number != 0;
}

// ---- probe --------------------------------------------------------------------------------

struct Endpoint {
  bool tcp = true;
  std::string host;
  std::string port;
  std::string device;
  int baud = 9600;
  char parity = 'N';
  int data_bits = 8;
  int stop_bits = 1;
  std::string text;  // as the user wrote it
};

// Parses the ENDPOINT argument; on failure returns the reason.
std::optional<std::string> parse_endpoint(std::string_view text, Endpoint& out) {
  out.text = std::string(text);
  if (text.starts_with("tcp://")) {
    out.tcp = true;
    std::string_view rest = text.substr(6);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (!split_host_port(rest, out.host, out.port, "502")) {
      return "bad TCP endpoint '" + out.text + "': expected tcp://HOST[:PORT] with PORT 1..65535";
    }
    return std::nullopt;
  }
  if (text.starts_with("rtu:")) {
    out.tcp = false;
    std::string_view rest = text.substr(4);
    if (rest.starts_with("//")) rest.remove_prefix(2);
    std::string_view query;
    if (size_t q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    if (rest.empty()) return "bad RTU endpoint '" + out.text + "': expected rtu:DEVICE";
    out.device = std::string(rest);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      std::string_view key = pair.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      std::string bad = "bad RTU option '" + std::string(pair) + "' in '" + out.text + "': ";
      if (key == "baud") {
        if (!parse_int(value, out.baud) || out.baud <= 0) return bad + "baud must be a number";
      } else if (key == "parity") {
        if (value == "N" || value == "n" || value == "none") {
          out.parity = 'N';
        } else if (value == "E" || value == "e" || value == "even") {
          out.parity = 'E';
        } else if (value == "O" || value == "o" || value == "odd") {
          out.parity = 'O';
        } else {
          return bad + "parity must be N, E or O";
        }
      } else if (key == "data_bits") {
        if (!parse_int(value, out.data_bits) || out.data_bits < 5 || out.data_bits > 8) {
          return bad + "data_bits must be 5..8";
        }
      } else if (key == "stop_bits") {
        if (!parse_int(value, out.stop_bits) || (out.stop_bits != 1 && out.stop_bits != 2)) {
          return bad + "stop_bits must be 1 or 2";
        }
      } else {
        return bad + "known options are baud, parity, data_bits and stop_bits";
      }
    }
    return std::nullopt;
  }
  return "unknown endpoint '" + out.text + "': expected tcp://HOST[:PORT] or rtu:DEVICE[?baud=..]";
}

struct ProbeOptions {
  Endpoint endpoint;
  int unit = 1;
  ModbusTable table = ModbusTable::Holding;
  uint32_t address = 0;
  uint32_t count = 1;
  uint32_t timeout_ms = 1000;
};

std::optional<ModbusTable> parse_table(std::string_view text) {
  for (ModbusTable t :
       {ModbusTable::Coil, ModbusTable::Discrete, ModbusTable::Holding, ModbusTable::Input}) {
    if (text == config::to_string(t)) return t;
  }
  if (text == "coils") return ModbusTable::Coil;
  if (text == "discrete_input" || text == "discrete_inputs") return ModbusTable::Discrete;
  if (text == "input_register" || text == "input_registers") return ModbusTable::Input;
  if (text == "holding_register" || text == "holding_registers") return ModbusTable::Holding;
  return std::nullopt;
}

bool is_bit_table(ModbusTable table) {
  return table == ModbusTable::Coil || table == ModbusTable::Discrete;
}

std::string table_words(ModbusTable table) {
  switch (table) {
    case ModbusTable::Coil:
      return "coils";
    case ModbusTable::Discrete:
      return "discrete inputs";
    case ModbusTable::Holding:
      return "holding registers";
    case ModbusTable::Input:
      return "input registers";
  }
  return "registers";
}

std::string hex4(uint16_t word) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "0x%04X", word);
  return buffer;
}

std::string pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

std::string pad_left(std::string text, size_t width) {
  if (text.size() < width) text.insert(0, width - text.size(), ' ');
  return text;
}

// The table a user reads to find a point's type and order: the registers, then each start
// address decoded as every type that fits, in the four orders.
void print_registers(std::ostream& out, const ProbeOptions& o, std::span<const uint16_t> regs) {
  out << "address     hex  unsigned  signed  text\n";
  for (size_t i = 0; i < regs.size(); ++i) {
    uint16_t w = regs[i];
    std::array<uint16_t, 1> one{w};
    out << pad_left(std::to_string(o.address + i), 7) << "  " << hex4(w) << "  "
        << pad_left(std::to_string(w), 8) << "  "
        << pad_left(std::to_string(static_cast<int16_t>(w)), 6) << "  "
        << mapping::json_string(decode_text(one, WordOrder::ABCD)) << "\n";
  }
  constexpr std::array<WordOrder, 4> kOrders = {WordOrder::ABCD, WordOrder::CDAB, WordOrder::BADC,
                                                WordOrder::DCBA};
  constexpr std::array<ValueType, 8> kTypes = {
      ValueType::UInt16,  ValueType::Int16,  ValueType::UInt32, ValueType::Int32,
      ValueType::Float32, ValueType::UInt64, ValueType::Int64,  ValueType::Float64};
  constexpr size_t kColumn = 24;
  for (size_t start = 0; start < regs.size(); ++start) {
    size_t available = regs.size() - start;
    out << "\ndecoded from address " << o.address + start << ":\n";
    std::string header = "  " + pad("type", 9);
    for (WordOrder order : kOrders)
      header += pad(std::string(config::to_string(order)), kColumn);
    while (header.back() == ' ')
      header.pop_back();
    out << header << "\n";
    for (ValueType type : kTypes) {
      Encoding e;
      e.type = type;
      uint16_t n = register_count(e);
      if (n > available) continue;
      std::string line = "  " + pad(std::string(config::to_string(type)), 9);
      for (WordOrder order : kOrders) {
        e.order = order;
        Result<mapping::Value> v = decode_registers(regs.subspan(start, n), e);
        line += pad(v ? value_text(v.value()) : v.error(), kColumn);
      }
      while (!line.empty() && line.back() == ' ')
        line.pop_back();
      out << line << "\n";
    }
    std::string line = "  " + pad("string", 9);
    for (WordOrder order : kOrders) {
      line += pad(mapping::json_string(decode_text(regs.subspan(start), order)), kColumn);
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out << line << "\n";
  }
  out << "\n(16-bit types: BADC and DCBA show the register's bytes swapped; `order` applies to "
         "32-bit, 64-bit and string points.)\n";
}

void print_bits(std::ostream& out, const ProbeOptions& o, std::span<const uint8_t> bits) {
  out << "address  value\n";
  for (size_t i = 0; i < bits.size(); ++i) {
    out << pad_left(std::to_string(o.address + i), 7) << "  "
        << (bits[i] ? "1 (true)" : "0 (false)") << "\n";
  }
}

std::string read_failure_hint(int errnum) {
  switch (exception_code(errnum)) {
    case 1:
      return "the device does not support reading this table";
    case 2:
      return "the device has no such address in this table; check --table, --address (counted "
             "from 0 on the wire) and --count";
    default:
      break;
  }
  if (errnum == ETIMEDOUT) {
    return "no answer; check --unit and the device's settings (over RTU: baud, parity, wiring)";
  }
  return "";
}

int run_probe(const ProbeOptions& o) {
  const Endpoint& ep = o.endpoint;
  Context ctx(
      ep.tcp ? modbus_new_tcp_pi(ep.host.c_str(), ep.port.c_str())
             : modbus_new_rtu(ep.device.c_str(), ep.baud, ep.parity, ep.data_bits, ep.stop_bits));
  if (!ctx) {
    std::cerr << "fieldgate: cannot set up " << ep.text << ": " << error_text(errno) << "\n";
    return kExitRuntime;
  }
  if (modbus_set_slave(ctx.get(), o.unit) == -1) {
    std::cerr << "fieldgate: unit " << o.unit << " is not valid for " << ep.text << ": "
              << error_text(errno) << "\n";
    return kExitUsage;
  }
  modbus_set_response_timeout(ctx.get(), o.timeout_ms / 1000, (o.timeout_ms % 1000) * 1000);
  if (modbus_connect(ctx.get()) == -1) {
    int err = errno;
    std::cerr << "fieldgate: cannot connect to " << ep.text << ": " << error_text(err);
    if (ep.tcp) {
      std::cerr << " (is the device, or `fieldgate simulate modbus`, listening there?)";
    } else {
      std::cerr << " (is the adapter plugged in, and may this user open " << ep.device << "?)";
    }
    std::cerr << "\n";
    return kExitRuntime;
  }
  std::string what = table_words(o.table) + " " + std::to_string(o.address) + ".." +
                     std::to_string(o.address + o.count - 1) + " of unit " +
                     std::to_string(o.unit) + " at " + ep.text;
  std::vector<uint16_t> regs(is_bit_table(o.table) ? 0 : o.count);
  std::vector<uint8_t> bits(is_bit_table(o.table) ? o.count : 0);
  int address = static_cast<int>(o.address);
  int count = static_cast<int>(o.count);
  int rc = -1;
  switch (o.table) {
    case ModbusTable::Coil:
      rc = modbus_read_bits(ctx.get(), address, count, bits.data());
      break;
    case ModbusTable::Discrete:
      rc = modbus_read_input_bits(ctx.get(), address, count, bits.data());
      break;
    case ModbusTable::Holding:
      rc = modbus_read_registers(ctx.get(), address, count, regs.data());
      break;
    case ModbusTable::Input:
      rc = modbus_read_input_registers(ctx.get(), address, count, regs.data());
      break;
  }
  if (rc == -1) {
    int err = errno;
    std::cerr << "fieldgate: reading " << what << " failed: " << error_text(err);
    std::string hint = read_failure_hint(err);
    if (!hint.empty()) std::cerr << "\n  " << hint;
    std::cerr << "\n";
    return kExitRuntime;
  }
  std::ostringstream out;
  out << what << " (wire addresses, counting from 0)\n\n";
  if (is_bit_table(o.table)) {
    print_bits(out, o, bits);
  } else {
    print_registers(out, o, regs);
  }
  std::cout << out.str() << std::flush;
  return kExitOk;
}

// ---- simulate -----------------------------------------------------------------------------

volatile sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int signal) {
  g_stop_signal = signal;
}

// SIGINT and SIGTERM blocked except inside ppoll(), so a stop request is never missed; the
// previous mask and handlers come back on scope exit.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old_mask_);
    wait_mask_ = old_mask_;
    sigdelset(&wait_mask_, SIGINT);
    sigdelset(&wait_mask_, SIGTERM);
  }
  ~StopSignals() {
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  const sigset_t* wait_mask() const { return &wait_mask_; }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  sigset_t old_mask_{};
  sigset_t wait_mask_{};
};

struct MappingDeleter {
  void operator()(modbus_mapping_t* m) const { modbus_mapping_free(m); }
};

// What the simulator serves (printed at start).
constexpr uint16_t kTemperature = 0;  // holding 0-1, float32 ABCD
constexpr uint16_t kSetpoint = 2;     // holding 2, int16, scale 0.1, writable
constexpr uint16_t kStatus = 10;      // holding 10, uint16 bit field
constexpr uint16_t kName = 20;        // holding 20-27, string of 8 registers
constexpr uint16_t kNameLength = 8;
constexpr uint16_t kPump = 0;     // coil 0, writable
constexpr uint16_t kDoor = 0;     // discrete 0
constexpr uint16_t kEnergy = 0;   // input 0-1, uint32 CDAB
constexpr uint16_t kOutdoor = 2;  // input 2, int16, scale 0.1
constexpr uint32_t kEnergyStart = 100000;
// The --registers block for load tests: holding registers from this wire address on, far
// enough from the demo's that a client reading one never touches the other.
constexpr uint32_t kLoadStart = 1000;
constexpr uint32_t kMaxLoadRegisters = 65536 - kLoadStart;

constexpr const char* kServes = R"(  table     address  type     order  name         notes
  holding   0-1      float32  ABCD   temperature  °C, oscillates slowly around 21.5
  holding   2        int16           setpoint     writable; scale 0.1 (starts at 215 = 21.5 °C)
  holding   10       uint16          status       bit 0 pump on, bit 1 heating, bit 2 heartbeat
  holding   20-27    string   ABCD   name         length 8: "fieldgate-sim"
  coil      0        bool            pump         writable (starts off)
  discrete  0        bool            door_closed  toggles every 30 s
  input     0-1      uint32   CDAB   energy       Wh, counts up by 7 every second
  input     2        int16           outdoor      scale 0.1 (°C), oscillates around 4.0
)";
constexpr const char* kRefused =
    "  writes to anything else are refused with Modbus exception 2 (illegal data address)\n";

class Simulator {
 public:
  // `load` (may be null) holds the --registers block.
  Simulator(modbus_mapping_t* m, modbus_mapping_t* load)
      : m_(m), load_(load), start_(std::chrono::steady_clock::now()) {
    m_->tab_registers[kSetpoint] = 215;
    Encoding e;
    e.type = ValueType::String;
    e.length = kNameLength;
    Result<std::vector<uint16_t>> words = encode_registers(std::string("fieldgate-sim"), e);
    if (words) std::copy(words.value().begin(), words.value().end(), m_->tab_registers + kName);
    update();
  }

  // Moves the demo values on to now.
  void update() {
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double temperature = 21.5 + 1.5 * std::sin(2 * std::numbers::pi * t / 120.0);
    disassemble(std::bit_cast<uint32_t>(static_cast<float>(temperature)), WordOrder::ABCD,
                std::span(m_->tab_registers + kTemperature, 2));
    auto seconds = static_cast<uint32_t>(t);
    disassemble(kEnergyStart + 7u * seconds, WordOrder::CDAB,
                std::span(m_->tab_input_registers + kEnergy, 2));
    double outdoor = 4.0 + 3.0 * std::sin(2 * std::numbers::pi * t / 600.0);
    m_->tab_input_registers[kOutdoor] =
        static_cast<uint16_t>(static_cast<int16_t>(std::lround(outdoor * 10)));
    m_->tab_input_bits[kDoor] = (seconds / 30) % 2 == 0 ? 1 : 0;
    bool pump = m_->tab_bits[kPump] != 0;
    bool heating = temperature * 10 < static_cast<int16_t>(m_->tab_registers[kSetpoint]);
    bool heartbeat = seconds % 2 == 0;
    m_->tab_registers[kStatus] =
        static_cast<uint16_t>((pump ? 1 : 0) | (heating ? 2 : 0) | (heartbeat ? 4 : 0));
  }

  // Answers one request; writes outside the writable points get exception 2.
  void handle(modbus_t* ctx, const uint8_t* req, int length) {
    int h = modbus_get_header_length(ctx);
    if (length < h + 1) return;
    ++served_;
    uint8_t function = req[h];
    auto word_at = [&](int offset) -> int {
      if (length < h + offset + 2) return -1;
      return (req[h + offset] << 8) | req[h + offset + 1];
    };
    int address = word_at(1);
    if (for_load_block(function, word_at)) {
      // Load-test registers: anyone may read and write them, and writes are not logged (a
      // load test makes many).
      if (modbus_reply(ctx, req, length, load_) == -1) {
        log::debug("simulate", "reply failed: ", error_text(errno));
      }
      return;
    }
    bool is_write = false;
    bool allowed = false;
    std::string target;
    switch (function) {
      case 0x05:  // write single coil
        is_write = true;
        allowed = address == kPump;
        target = "coil " + std::to_string(address);
        break;
      case 0x0F:  // write multiple coils
        is_write = true;
        allowed = address == kPump && word_at(3) == 1;
        target = "coils " + std::to_string(address) + " (" + std::to_string(word_at(3)) + ")";
        break;
      case 0x06:  // write single register
      case 0x16:  // mask write register
        is_write = true;
        allowed = address == kSetpoint;
        target = "holding " + std::to_string(address);
        break;
      case 0x10:  // write multiple registers
        is_write = true;
        allowed = address == kSetpoint && word_at(3) == 1;
        target = "holding " + std::to_string(address) + " (" + std::to_string(word_at(3)) + ")";
        break;
      case 0x17:  // read/write multiple registers: the write part
        is_write = true;
        allowed = word_at(5) == kSetpoint && word_at(7) == 1;
        target = "holding " + std::to_string(word_at(5)) + " (" + std::to_string(word_at(7)) + ")";
        break;
      default:
        break;
    }
    if (is_write && !allowed) {
      log::warn("simulate", "refused a write to ", target,
                ": not writable (answered Modbus exception 2)");
      modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
      return;
    }
    if (modbus_reply(ctx, req, length, m_) == -1) {
      log::debug("simulate", "reply failed: ", error_text(errno));
      return;
    }
    if (!is_write) return;
    if (function == 0x05 || function == 0x0F) {
      log::info("simulate", "write: coil ", kPump,
                " (pump) = ", m_->tab_bits[kPump] ? "on" : "off");
    } else {
      auto raw = static_cast<int16_t>(m_->tab_registers[kSetpoint]);
      log::info("simulate", "write: holding ", kSetpoint, " (setpoint) = ", raw, " (",
                double_text(raw * 0.1), " °C)");
    }
    update();
  }

  uint64_t served() const { return served_; }

 private:
  // Whether a request touches holding registers in the --registers block only. Requests that
  // reach outside it go the demo's way (reads answered with exception 2, writes refused and
  // logged).
  template <typename WordAt>
  bool for_load_block(uint8_t function, WordAt word_at) const {
    if (load_ == nullptr) return false;
    auto inside = [&](int address, int count) {
      return address >= static_cast<int>(kLoadStart) && count >= 1 &&
             address + count <= load_->start_registers + load_->nb_registers;
    };
    switch (function) {
      case 0x03:  // read holding registers
      case 0x10:  // write multiple registers
        return inside(word_at(1), word_at(3));
      case 0x06:  // write single register
      case 0x16:  // mask write register
        return inside(word_at(1), 1);
      case 0x17:  // read/write multiple registers
        return inside(word_at(1), word_at(3)) && inside(word_at(5), word_at(7));
      default:
        return false;
    }
  }

  modbus_mapping_t* m_;
  modbus_mapping_t* load_;
  std::chrono::steady_clock::time_point start_;
  uint64_t served_ = 0;
};

int run_simulate(const std::string& host, const std::string& port, uint32_t load_registers) {
  Context ctx(modbus_new_tcp_pi(host.c_str(), port.c_str()));
  if (!ctx) {
    std::cerr << "fieldgate: cannot set up a Modbus TCP server on " << host << ":" << port << ": "
              << error_text(errno) << "\n";
    return kExitRuntime;
  }
  std::unique_ptr<modbus_mapping_t, MappingDeleter> mapping(modbus_mapping_new(16, 16, 64, 16));
  if (!mapping) {
    std::cerr << "fieldgate: cannot allocate the register tables: " << error_text(errno) << "\n";
    return kExitRuntime;
  }
  std::unique_ptr<modbus_mapping_t, MappingDeleter> load;
  if (load_registers > 0) {
    load.reset(modbus_mapping_new_start_address(0, 0, 0, 0, kLoadStart,
                                                static_cast<int>(load_registers), 0, 0));
    if (!load) {
      std::cerr << "fieldgate: cannot allocate " << load_registers
                << " load-test registers: " << error_text(errno) << "\n";
      return kExitRuntime;
    }
  }
  StopSignals signals;
  int server = modbus_tcp_pi_listen(ctx.get(), 16);
  if (server == -1) {
    std::cerr << "fieldgate: cannot listen on " << host << ":" << port << ": " << error_text(errno)
              << " (is another server using that port?)\n";
    return kExitRuntime;
  }
  Simulator sim(mapping.get(), load.get());
  std::cout << "fieldgate simulate modbus: Modbus TCP server on " << host << ":" << port
            << " (any unit id); serving:\n"
            << kServes;
  if (load) {
    std::string range =
        std::to_string(kLoadStart) + "-" + std::to_string(kLoadStart + load_registers - 1);
    std::cout << "  holding   " << pad(range, 8) << " uint16          load         "
              << load_registers << " registers for load tests: zero at start, writable\n";
  }
  std::cout << kRefused << "SIGINT (Ctrl-C) or SIGTERM stops it.\n" << std::flush;

  std::vector<pollfd> fds{{server, POLLIN, 0}};
  uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
  const timespec tick{0, 250'000'000};
  while (g_stop_signal == 0) {
    int ready = ppoll(fds.data(), fds.size(), &tick, signals.wait_mask());
    if (ready == -1 && errno != EINTR) {
      log::error("simulate", "poll failed: ", error_text(errno));
      break;
    }
    sim.update();
    if (ready <= 0) continue;
    std::vector<pollfd> accepted;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == server) {
        // accept4 rather than modbus_tcp_pi_accept, which may close the listening socket on
        // a failed accept.
        int client = accept4(server, nullptr, nullptr, SOCK_CLOEXEC);
        if (client == -1) {
          log::warn("simulate", "accept failed: ", error_text(errno));
        } else {
          log::info("simulate", "client connected");
          accepted.push_back({client, POLLIN, 0});
        }
        continue;
      }
      modbus_set_socket(ctx.get(), fds[i].fd);
      int length = modbus_receive(ctx.get(), query);
      if (length > 0) {
        sim.handle(ctx.get(), query, length);
      } else if (length == -1) {
        if (errno != ECONNRESET && errno != 0) {
          log::debug("simulate", "closing a client: ", error_text(errno));
        }
        log::info("simulate", "client disconnected");
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
    std::erase_if(fds, [](const pollfd& p) { return p.fd == -1; });
    fds.insert(fds.end(), accepted.begin(), accepted.end());
  }
  for (const pollfd& p : fds)
    close(p.fd);
  modbus_set_socket(ctx.get(), -1);
  std::cout << "fieldgate simulate modbus: stopped ("
            << (g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM") << "); served " << sim.served()
            << " requests\n"
            << std::flush;
  return kExitOk;
}

}  // namespace

int probe_command(const std::vector<std::string>& args) {
  ProbeOptions o;
  bool have_endpoint = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kProbeUsage;
      return kExitOk;
    }
    std::string value;
    bool option = arg.starts_with("--");
    if (option) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usage(kProbeUsage, "option " + arg + " needs a value");
      }
    }
    auto bad = [&](const std::string& expected) {
      return usage(kProbeUsage, "bad " + arg + " '" + value + "': expected " + expected);
    };
    if (arg == "--unit") {
      if (!parse_int(value, o.unit) || o.unit < 0 || o.unit > 255) return bad("0..255");
    } else if (arg == "--table") {
      auto table = parse_table(value);
      if (!table) return bad("coil, discrete, holding or input");
      o.table = *table;
    } else if (arg == "--address") {
      if (!parse_int(value, o.address) || o.address > 65535) return bad("0..65535");
    } else if (arg == "--count") {
      if (!parse_int(value, o.count) || o.count == 0) return bad("a positive number");
    } else if (arg == "--timeout-ms") {
      if (!parse_int(value, o.timeout_ms) || o.timeout_ms == 0) return bad("milliseconds > 0");
    } else if (option || arg.starts_with("-")) {
      return usage(kProbeUsage, "unknown option '" + arg + "'");
    } else if (have_endpoint) {
      return usage(kProbeUsage, "unexpected argument '" + arg + "'");
    } else {
      if (auto problem = parse_endpoint(arg, o.endpoint)) return usage(kProbeUsage, *problem);
      have_endpoint = true;
    }
  }
  if (!have_endpoint)
    return usage(kProbeUsage, "no endpoint given (tcp://HOST:PORT or rtu:DEVICE)");
  uint32_t limit = is_bit_table(o.table) ? 2000 : 125;
  if (o.count > limit) {
    return usage(kProbeUsage, "--count " + std::to_string(o.count) + " is more than one request " +
                                  "can read from " + table_words(o.table) + " (at most " +
                                  std::to_string(limit) + ")");
  }
  if (o.address + o.count > 65536) {
    return usage(kProbeUsage, "--address " + std::to_string(o.address) + " with --count " +
                                  std::to_string(o.count) + " runs past address 65535");
  }
  if (!o.endpoint.tcp && (o.unit < 1 || o.unit > 247)) {
    return usage(kProbeUsage, "over RTU --unit must be 1..247");
  }
  return run_probe(o);
}

int simulate_command(const std::vector<std::string>& args) {
  std::string listen = "127.0.0.1:5020";
  uint32_t registers = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kSimulateUsage;
      return kExitOk;
    }
    if (!arg.starts_with("--")) return usage(kSimulateUsage, "unexpected argument '" + arg + "'");
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg == "--listen" || arg == "--registers") {
      if (i + 1 >= args.size()) {
        return usage(kSimulateUsage,
                     "option " + arg + " needs " + (arg == "--listen" ? "HOST:PORT" : "a number"));
      }
      value = args[++i];
    }
    if (arg == "--listen") {
      listen = value;
    } else if (arg == "--registers") {
      if (!parse_int(value, registers) || registers > kMaxLoadRegisters) {
        return usage(kSimulateUsage, "bad --registers '" + value + "': expected 0.." +
                                         std::to_string(kMaxLoadRegisters) +
                                         " (the block starts at address " +
                                         std::to_string(kLoadStart) + " and ends by 65535)");
      }
    } else {
      return usage(kSimulateUsage, "unknown option '" + arg + "'");
    }
  }
  std::string host;
  std::string port;
  if (!split_host_port(listen, host, port, std::nullopt)) {
    return usage(kSimulateUsage,
                 "bad --listen '" + listen + "': expected HOST:PORT with PORT 1..65535");
  }
  return run_simulate(host, port, registers);
}

}  // namespace fieldgate::modbus
