// The Modbus adapter against a libmodbus TCP server in the test process, which records every
// request and can refuse addresses, stop answering per unit, and go away. (The end-to-end tests
// run the same paths against pymodbus.)
#include "adapters/modbus/adapter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "config/config.h"
#include "tests/unit/recording_sink.h"

namespace {

using namespace std::chrono_literals;
using fieldgate::mapping::Quality;
using fieldgate::mapping::Reading;
using fieldgate::mapping::Value;

struct Request {
  int unit;
  int function;
  int address;
  int count;
};

class FakeServer {
 public:
  FakeServer() : mapping_(modbus_mapping_new(100, 100, 200, 100)) {
    ctx_ = modbus_new_tcp("127.0.0.1", 0);
    start();
  }
  ~FakeServer() {
    stop();
    modbus_free(ctx_);
    modbus_mapping_free(mapping_);
  }

  uint16_t port() const { return port_; }

  // Listens again on the same port (after stop()).
  void start() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(listener_, 8);
    stopping_ = false;
    thread_ = std::thread([this] { serve(); });
  }

  // Closes the listener and every connection, as a device that is switched off.
  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    thread_.join();
  }

  void set_register(int address, uint16_t value) {
    std::lock_guard lock(mutex_);
    mapping_->tab_registers[address] = value;
  }
  uint16_t holding(int address) {
    std::lock_guard lock(mutex_);
    return mapping_->tab_registers[address];
  }
  void set_coil(int address, bool on) {
    std::lock_guard lock(mutex_);
    mapping_->tab_bits[address] = on ? 1 : 0;
  }
  bool coil(int address) {
    std::lock_guard lock(mutex_);
    return mapping_->tab_bits[address] != 0;
  }
  // Reads touching this holding register are refused with exception 2.
  void refuse_holding(int address) {
    std::lock_guard lock(mutex_);
    refused_.insert(address);
  }
  void mute(int unit, bool muted) {
    std::lock_guard lock(mutex_);
    if (muted) {
      muted_.insert(unit);
    } else {
      muted_.erase(unit);
    }
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  void clear_requests() {
    std::lock_guard lock(mutex_);
    requests_.clear();
  }
  int count(int unit, int function = 0) {
    int n = 0;
    for (const Request& r : requests())
      n += r.unit == unit && (function == 0 || r.function == function);
    return n;
  }

 private:
  void serve() {
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    while (!stopping_) {
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      std::vector<pollfd> accepted;
      for (pollfd& p : fds) {
        if (p.revents == 0) continue;
        if (p.fd == listener_) {
          int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
          if (client != -1) accepted.push_back({client, POLLIN, 0});
          continue;
        }
        modbus_set_socket(ctx_, p.fd);
        int length = modbus_receive(ctx_, query);
        if (length > 0) {
          handle(query, length);
        } else if (length == -1) {
          close(p.fd);
          p.fd = -1;
        }
      }
      std::erase_if(fds, [](const pollfd& p) { return p.fd == -1; });
      fds.insert(fds.end(), accepted.begin(), accepted.end());
    }
    for (const pollfd& p : fds)
      close(p.fd);
  }

  void handle(const uint8_t* req, int length) {
    int unit = req[6];
    int function = req[7];
    int address = (req[8] << 8) | req[9];
    int count = (function == 5 || function == 6) ? 1 : (req[10] << 8) | req[11];
    std::lock_guard lock(mutex_);
    requests_.push_back({unit, function, address, count});
    if (muted_.count(unit)) return;
    if (function == 3) {
      for (int a = address; a < address + count; ++a) {
        if (refused_.count(a)) {
          modbus_reply_exception(ctx_, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
          return;
        }
      }
    }
    (void)length;
    modbus_reply(ctx_, req, length, mapping_);
  }

  modbus_mapping_t* mapping_;
  modbus_t* ctx_ = nullptr;
  uint16_t port_ = 0;
  int listener_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<Request> requests_;
  std::set<int> refused_;
  std::set<int> muted_;
};

using fieldgate::test_support::RecordingSink;

std::vector<fieldgate::config::ModbusDevice> devices(const std::string& toml) {
  return fieldgate::config::parse(toml, "test.toml").modbus;
}

std::string device_toml(const std::string& name, uint16_t port, int unit, int poll_ms,
                        int timeout_ms = 200, int retries = 0) {
  return "[[modbus]]\nname = \"" + name +
         "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
         "\nunit_id = " + std::to_string(unit) + "\npoll_ms = " + std::to_string(poll_ms) +
         "\ntimeout_ms = " + std::to_string(timeout_ms) + "\nretries = " + std::to_string(retries) +
         "\n";
}

std::string point_toml(const std::string& name, const std::string& table, int address,
                       const std::string& type, const std::string& extra = "") {
  return "[[modbus.point]]\nname = \"" + name + "\"\ntable = \"" + table +
         "\"\naddress = " + std::to_string(address) + "\ntype = \"" + type + "\"\n" + extra;
}

const std::string kBroker = "[[broker.listener]]\nbind = \"127.0.0.1:1883\"\n";

struct WriteWaiter {
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<fieldgate::adapters::WriteResult> result;
  std::function<void(const fieldgate::adapters::WriteResult&)> callback() {
    return [this](const fieldgate::adapters::WriteResult& r) {
      std::lock_guard lock(mutex);
      result = r;
      cv.notify_all();
    };
  }
  fieldgate::adapters::WriteResult wait() {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, 3s, [&] { return result.has_value(); });
    return result.value_or(fieldgate::adapters::WriteResult{false, "no result"});
  }
};

TEST(ModbusAdapter, ReadsEveryPointWithOneRequestPerTable) {
  FakeServer server;
  // 21.5f = 0x41AC0000; uint32 123456 = 0x0001E240 in CDAB: E240 0001
  server.set_register(0, 0x41AC);
  server.set_register(1, 0x0000);
  server.set_register(2, static_cast<uint16_t>(-215));
  server.set_register(4, 0xE240);
  server.set_register(5, 0x0001);
  server.set_register(6, 0x4142);  // "AB"
  server.set_register(7, 0x4300);  // "C"
  server.set_coil(1, true);
  std::string toml = kBroker + device_toml("dev", server.port(), 1, 100) +
                     point_toml("temp", "holding", 0, "float32") +
                     point_toml("offset", "holding", 2, "int16", "scale = 0.1\n") +
                     point_toml("energy", "holding", 4, "uint32", "order = \"CDAB\"\n") +
                     point_toml("label", "holding", 6, "string", "length = 2\n") +
                     point_toml("pump", "coil", 0, "bool") + point_toml("fan", "coil", 1, "bool");
  fieldgate::modbus::ModbusAdapter adapter(devices(toml));
  RecordingSink sink;
  adapter.start(sink);
  EXPECT_EQ(sink.wait_good("dev/temp").value, Value(21.5));
  EXPECT_EQ(sink.wait_good("dev/offset").value, Value(-21.5));
  EXPECT_EQ(sink.wait_good("dev/energy").value, Value(uint64_t{123456}));
  EXPECT_EQ(sink.wait_good("dev/label").value, Value(std::string("ABC")));
  EXPECT_EQ(sink.wait_good("dev/pump").value, Value(false));
  EXPECT_EQ(sink.wait_good("dev/fan").value, Value(true));
  EXPECT_TRUE(sink.wait_online("dev", true));
  adapter.stop();
  // Every poll: one read of holding 0..7 and one of coils 0..1.
  std::vector<Request> requests = server.requests();
  ASSERT_GE(requests.size(), 2u);
  ASSERT_EQ(requests.size() % 2, 0u);
  for (size_t i = 0; i < requests.size(); i += 2) {
    EXPECT_EQ(requests[i].function, 1);
    EXPECT_EQ(requests[i].count, 2);
    EXPECT_EQ(requests[i + 1].function, 3);
    EXPECT_EQ(requests[i + 1].address, 0);
    EXPECT_EQ(requests[i + 1].count, 8);
  }
}

TEST(ModbusAdapter, RefusedAddressMakesOnlyItsPointBad) {
  FakeServer server;
  server.set_register(0, 10);
  server.set_register(1, 11);
  server.set_register(2, 12);
  server.refuse_holding(1);
  std::string toml = kBroker + device_toml("dev", server.port(), 1, 100) +
                     point_toml("a", "holding", 0, "uint16") +
                     point_toml("b", "holding", 1, "uint16") +
                     point_toml("c", "holding", 2, "uint16");
  fieldgate::modbus::ModbusAdapter adapter(devices(toml));
  RecordingSink sink;
  adapter.start(sink);
  EXPECT_EQ(sink.wait_good("dev/a").value, Value(uint64_t{10}));
  EXPECT_EQ(sink.wait_good("dev/c").value, Value(uint64_t{12}));
  Reading b = sink.wait_reading("dev/b", [](const Reading&) { return true; });
  EXPECT_EQ(b.quality, Quality::Bad);
  EXPECT_EQ(b.error, "Modbus exception 2 (illegal data address)");
  EXPECT_TRUE(sink.wait_online("dev", true));
  // The split plan is kept: later polls read the three spans separately, not the batch again.
  server.clear_requests();
  std::this_thread::sleep_for(350ms);
  adapter.stop();
  for (const Request& r : server.requests())
    EXPECT_EQ(r.count, 1) << "address " << r.address;
}

TEST(ModbusAdapter, DeadUnitGoesOfflineWithoutStallingItsNeighbour) {
  FakeServer server;
  server.set_register(0, 7);
  std::string toml = kBroker + device_toml("live", server.port(), 1, 100, 150) +
                     point_toml("x", "holding", 0, "uint16") +
                     device_toml("dead", server.port(), 2, 100, 150) +
                     point_toml("x", "holding", 0, "uint16");
  fieldgate::modbus::ModbusAdapter adapter(devices(toml));
  RecordingSink sink;
  server.mute(2, true);
  adapter.start(sink);
  EXPECT_TRUE(sink.wait_online("dead", false));
  Reading dead = sink.wait_reading("dead/x", [](const Reading&) { return true; });
  EXPECT_EQ(dead.quality, Quality::Bad);
  EXPECT_EQ(dead.error, "timeout");
  EXPECT_EQ(sink.wait_good("live/x").value, Value(uint64_t{7}));
  server.clear_requests();
  std::this_thread::sleep_for(2000ms);
  // 20 polls nominal; the dead unit costs at most one 150 ms timeout per back-off period
  // (doubling from 100 ms up to 5 s): a handful at the start of the window at most.
  EXPECT_GE(server.count(1), 14);
  EXPECT_LE(server.count(2), 5);
  server.mute(2, false);
  EXPECT_TRUE(sink.wait_online("dead", true, 8000ms));
  EXPECT_EQ(sink.wait_good("dead/x").value, Value(uint64_t{7}));
  adapter.stop();
}

TEST(ModbusAdapter, ServerGoneThenBack) {
  FakeServer server;
  server.set_register(0, 1);
  std::string toml =
      kBroker + device_toml("dev", server.port(), 1, 100) + point_toml("x", "holding", 0, "uint16");
  fieldgate::modbus::ModbusAdapter adapter(devices(toml));
  RecordingSink sink;
  adapter.start(sink);
  EXPECT_EQ(sink.wait_good("dev/x").value, Value(uint64_t{1}));
  server.stop();
  EXPECT_TRUE(sink.wait_online("dev", false));
  Reading gone =
      sink.wait_reading("dev/x", [](const Reading& r) { return r.quality == Quality::Bad; });
  EXPECT_NE(gone.error.find("connection refused"), std::string::npos) << gone.error;
  server.set_register(0, 2);
  server.start();
  EXPECT_TRUE(sink.wait_online("dev", true, 5000ms));
  EXPECT_EQ(sink.wait_good("dev/x").value, Value(uint64_t{2}));
  adapter.stop();
}

TEST(ModbusAdapter, WritesAreCheckedWrittenAndReadBack) {
  FakeServer server;
  server.set_register(5, 0x00F0);
  std::string toml =
      kBroker + device_toml("dev", server.port(), 1, 1000) +
      point_toml("pump", "coil", 3, "bool", "writable = true\n") +
      point_toml("setpoint", "holding", 2, "int16", "scale = 0.1\nwritable = true\n") +
      point_toml("flow", "holding", 10, "float32", "order = \"CDAB\"\nwritable = true\n") +
      point_toml("flag", "holding", 5, "bool", "bit = 0\nwritable = true\n") +
      point_toml("status", "holding", 20, "uint16");
  fieldgate::modbus::ModbusAdapter adapter(devices(toml));
  RecordingSink sink;
  adapter.start(sink);
  sink.wait_good("dev/setpoint");

  WriteWaiter coil;
  adapter.write("dev", "pump", Value(true), coil.callback());
  EXPECT_TRUE(coil.wait().ok);
  EXPECT_TRUE(server.coil(3));
  EXPECT_EQ(sink.wait_good("dev/pump").value, Value(true));

  WriteWaiter setpoint;
  adapter.write("dev", "setpoint", Value(21.5), setpoint.callback());
  EXPECT_TRUE(setpoint.wait().ok);
  EXPECT_EQ(server.holding(2), 215);
  EXPECT_EQ(
      sink.wait_reading("dev/setpoint", [](const Reading& r) { return r.value == Value(21.5); })
          .quality,
      Quality::Good);

  WriteWaiter flow;  // 1.5f = 0x3FC00000, low word first
  adapter.write("dev", "flow", Value(1.5), flow.callback());
  EXPECT_TRUE(flow.wait().ok);
  EXPECT_EQ(server.holding(10), 0x0000);
  EXPECT_EQ(server.holding(11), 0x3FC0);
  EXPECT_EQ(server.count(1, 16), 1);

  WriteWaiter flag;  // the other bits of the register stay
  adapter.write("dev", "flag", Value(true), flag.callback());
  EXPECT_TRUE(flag.wait().ok);
  EXPECT_EQ(server.holding(5), 0x00F1);

  int writes = server.count(1, 5) + server.count(1, 6) + server.count(1, 16);
  WriteWaiter too_big, text, read_only, unknown;
  adapter.write("dev", "setpoint", Value(4000.0), too_big.callback());
  adapter.write("dev", "setpoint", Value(std::string("warm")), text.callback());
  adapter.write("dev", "status", Value(int64_t{1}), read_only.callback());
  adapter.write("dev", "nothing", Value(int64_t{1}), unknown.callback());
  EXPECT_FALSE(too_big.wait().ok);
  EXPECT_NE(too_big.wait().error.find("out of range"), std::string::npos) << too_big.wait().error;
  EXPECT_FALSE(text.wait().ok);
  EXPECT_FALSE(read_only.wait().ok);
  EXPECT_FALSE(unknown.wait().ok);
  adapter.stop();
  EXPECT_EQ(server.count(1, 5) + server.count(1, 6) + server.count(1, 16), writes);
}

TEST(ModbusAdapter, WriteToUnreachableDeviceFailsWithTheReason) {
  uint16_t port = 0;
  {
    FakeServer server;  // a port that was free a moment ago and now refuses
    port = server.port();
  }
  std::string toml = kBroker + device_toml("dev", port, 1, 100) +
                     point_toml("pump", "coil", 0, "bool", "writable = true\n");
  fieldgate::modbus::ModbusAdapter adapter(devices(toml));
  RecordingSink sink;
  adapter.start(sink);
  EXPECT_TRUE(sink.wait_online("dev", false));
  WriteWaiter w;
  adapter.write("dev", "pump", Value(true), w.callback());
  fieldgate::adapters::WriteResult result = w.wait();
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("connection refused"), std::string::npos) << result.error;
  adapter.stop();
}

}  // namespace
