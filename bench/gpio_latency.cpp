// GPIO publish latency: N input lines on a simulated chip (adapters/gpio/sim_backend.h), each
// toggling at F Hz, through the GPIO adapter and the mapping engine; the latency of each edge is
// the time from SimBackend::drive() to the engine handing the message to its outbox (in the
// gateway: Broker::publish, whose own latency bench/run's latency_qos0 measures). Prints one
// line of figures. Not run by CTest.
//
//   fieldgate-gpio-bench [--lines 100] [--hz 100] [--seconds 10] [--debounce-ms 0] [--burst]
//
// The toggles of the N lines are spread evenly over each period (--burst: all N at once, the
// worst case for the adapter's thread). With --debounce-ms D the figures include the D ms every
// edge waits to settle.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/gpio/adapter.h"
#include "adapters/gpio/sim_backend.h"
#include "config/config.h"
#include "mapping/engine.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  int lines = 100;
  int hz = 100;
  int seconds = 10;
  int debounce_ms = 0;
  bool burst = false;
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (arg == "--lines") {
      o.lines = value();
    } else if (arg == "--hz") {
      o.hz = value();
    } else if (arg == "--seconds") {
      o.seconds = value();
    } else if (arg == "--debounce-ms") {
      o.debounce_ms = value();
    } else if (arg == "--burst") {
      o.burst = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--lines N] [--hz F] [--seconds S] [--debounce-ms D] [--burst]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  if (o.lines < 1 || o.lines > 1000 || o.hz < 1 || o.seconds < 1 || o.debounce_ms < 0) {
    std::fprintf(stderr, "lines 1..1000, hz >= 1, seconds >= 1, debounce-ms >= 0\n");
    std::exit(2);
  }
  return o;
}

// When each line was last driven, and the latencies measured at the outbox.
class Recorder final : public fieldgate::mapping::Outbox {
 public:
  explicit Recorder(int lines) : driven_(static_cast<size_t>(lines)) {
    for (int i = 0; i < lines; ++i)
      line_of_topic_["bench/chip/l" + std::to_string(i)] = i;
  }
  // Returns the time since the line was last driven (ns; 0 the first time).
  int64_t driven(int line) {
    int64_t now = now_ns();
    int64_t before = driven_[static_cast<size_t>(line)].exchange(now);
    return before == 0 ? 0 : now - before;
  }
  void publish(std::string topic, std::string, uint8_t, bool) override {
    int64_t now = now_ns();
    auto found = line_of_topic_.find(topic);
    if (found == line_of_topic_.end()) return;  // availability
    int64_t at = driven_[static_cast<size_t>(found->second)].load();
    std::lock_guard lock(mutex_);
    if (recording_ && at != 0) latencies_.push_back(now - at);
  }
  void record(bool on) {
    std::lock_guard lock(mutex_);
    recording_ = on;
  }
  std::vector<int64_t> take() {
    std::lock_guard lock(mutex_);
    return std::move(latencies_);
  }

 private:
  std::map<std::string, int, std::less<>> line_of_topic_;  // read-only once running
  std::vector<std::atomic<int64_t>> driven_;
  std::mutex mutex_;
  bool recording_ = false;
  std::vector<int64_t> latencies_;
};

struct Forward final : fieldgate::adapters::ReadingSink {
  explicit Forward(fieldgate::mapping::Engine& e) : engine(e) {}
  void on_reading(std::string_view d, std::string_view p,
                  const fieldgate::mapping::Reading& r) override {
    engine.on_reading(d, p, r);
  }
  void on_availability(std::string_view d, bool online) override {
    engine.on_availability(d, online);
  }
  fieldgate::mapping::Engine& engine;
};

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  std::string toml =
      "[gateway]\nname = \"bench\"\n[[broker.listener]]\nbind = \"127.0.0.1:1883\"\n"
      "[[gpio]]\nname = \"chip\"\nchip = \"gpiochip0\"\n";
  for (int i = 0; i < o.lines; ++i) {
    toml +=
        "[[gpio.point]]\nname = \"l" + std::to_string(i) + "\"\nline = " + std::to_string(i) +
        "\ndirection = \"in\"\nedge = \"both\"\ndebounce_ms = " + std::to_string(o.debounce_ms) +
        "\n";
  }
  fieldgate::config::Config config = fieldgate::config::parse(toml, "bench.toml");

  auto backend = std::make_shared<fieldgate::gpio::SimBackend>();
  backend->add_chip("gpiochip0", static_cast<uint32_t>(o.lines));
  Recorder recorder(o.lines);
  fieldgate::mapping::Engine engine(config, recorder);
  Forward forward(engine);
  fieldgate::gpio::GpioAdapter adapter(config.gpio, backend);
  adapter.start(forward);
  std::this_thread::sleep_for(200ms);  // the lines requested and their first values published

  // Each line toggles every period; line i at offset i * period / lines (0 with --burst).
  const auto period = std::chrono::nanoseconds(1'000'000'000 / o.hz);
  const auto step = o.burst ? std::chrono::nanoseconds(0) : period / o.lines;
  std::vector<bool> level(static_cast<size_t>(o.lines), false);
  recorder.record(true);
  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(o.seconds);
  uint64_t driven = 0;
  // Toggles that came less than debounce_ms after the line's previous one, because this thread
  // ran late: the adapter rightly merges such a pair into no change (two publishes fewer).
  uint64_t short_gaps = 0;
  const int64_t debounce_ns = int64_t{o.debounce_ms} * 1'000'000;
  for (auto cycle = start; cycle < end; cycle += period) {
    for (int i = 0; i < o.lines; ++i) {
      std::this_thread::sleep_until(cycle + step * i);
      size_t line = static_cast<size_t>(i);
      level[line] = !level[line];
      int64_t gap = recorder.driven(i);
      if (gap != 0 && gap < debounce_ns) ++short_gaps;
      backend->drive("gpiochip0", static_cast<uint32_t>(i), level[line]);
      ++driven;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(o.debounce_ms) + 100ms);  // the last ones
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_before;
  recorder.record(false);
  adapter.stop();

  std::vector<int64_t> latencies = recorder.take();
  if (latencies.empty()) {
    std::fprintf(stderr, "no publishes measured\n");
    return 1;
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    size_t index = std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()));
    return static_cast<double>(latencies[index]) / 1000.0;  // µs
  };
  std::printf(
      "gpio lines=%d hz=%d debounce_ms=%d %s: edges %llu (%llu within debounce_ms of the "
      "previous), published %zu (%.0f/s), latency us p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max "
      "%.0f, cpu %.0f%% of one core (incl. the simulated toggling)\n",
      o.lines, o.hz, o.debounce_ms, o.burst ? "burst" : "spread",
      static_cast<unsigned long long>(driven), static_cast<unsigned long long>(short_gaps),
      latencies.size(), static_cast<double>(latencies.size()) / elapsed, pct(0.50), pct(0.90),
      pct(0.99), pct(0.999), static_cast<double>(latencies.back()) / 1000.0, 100.0 * cpu / elapsed);
  // Every edge published, but for the pairs merged by design.
  return latencies.size() + 2 * short_gaps >= driven ? 0 : 1;
}
