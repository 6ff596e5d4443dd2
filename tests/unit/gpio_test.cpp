// The GPIO adapter on the simulated backend (sim_backend.h): debounce, edges, outputs with
// active_low and initial values, commands through the mapping, and every failure path (missing
// chip, line out of range, busy line, permission denied, chip unplugged). The real libgpiod
// backend's own error paths are tested at the end: this machine has no GPIO chip (and neither
// gpio-sim nor gpio-mockup), so those are the ones it can reach.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "adapters/gpio/adapter.h"
#include "adapters/gpio/sim_backend.h"
#include "config/config.h"
#include "mapping/command.h"
#include "mapping/engine.h"
#include "tests/unit/recording_sink.h"

namespace {

using namespace std::chrono_literals;
using fieldgate::adapters::WriteResult;
using fieldgate::gpio::GpioAdapter;
using fieldgate::gpio::SimBackend;
using fieldgate::mapping::Quality;
using fieldgate::mapping::Reading;
using fieldgate::mapping::Value;

using fieldgate::test_support::RecordingSink;

struct WriteWaiter {
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<WriteResult> result;
  std::function<void(const WriteResult&)> callback() {
    return [this](const WriteResult& r) {
      std::lock_guard lock(mutex);
      result = r;
      cv.notify_all();
    };
  }
  WriteResult wait() {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(cv.wait_for(lock, 3s, [&] { return result.has_value(); })) << "no write result";
    return result.value_or(WriteResult{false, "no result"});
  }
};

const std::string kBroker = "[[broker.listener]]\nbind = \"127.0.0.1:1883\"\n";

// A Raspberry Pi's button (pull-up, active low) and relay, on `chip`.
const std::string kPanel = R"(
[[gpio]]
name = "panel"
chip = "gpiochip0"

  [[gpio.point]]
  name = "button"
  line = 17
  direction = "in"
  edge = "both"
  debounce_ms = 80
  active_low = true
  bias = "pull-up"

  [[gpio.point]]
  name = "relay"
  line = 27
  direction = "out"
  active_low = true
  initial = true
  writable = true

  [[gpio.point]]
  name = "led"
  line = 22
  direction = "out"
)";

fieldgate::config::Config parse(const std::string& toml) {
  return fieldgate::config::parse(kBroker + "[gateway]\nname = \"gw\"\n" + toml, "test.toml");
}

std::vector<fieldgate::config::GpioChip> chips(const std::string& toml) {
  return parse(toml).gpio;
}

std::string chip_toml(const std::string& chip, const std::string& points) {
  return "[[gpio]]\nname = \"io\"\nchip = \"" + chip + "\"\n" + points;
}

std::string input_toml(const std::string& name, int line, const std::string& extra = "") {
  return "[[gpio.point]]\nname = \"" + name + "\"\nline = " + std::to_string(line) +
         "\ndirection = \"in\"\n" + extra;
}

class GpioTest : public ::testing::Test {
 protected:
  GpioTest() : backend_(std::make_shared<SimBackend>()) { backend_->add_chip("gpiochip0", 32); }
  ~GpioTest() override {
    if (adapter_) adapter_->stop();
  }

  void start(const std::string& toml) {
    adapter_ = std::make_unique<GpioAdapter>(chips(toml), backend_);
    adapter_->start(sink_);
  }

  WriteResult write(const std::string& device, const std::string& point, const Value& value) {
    WriteWaiter waiter;
    adapter_->write(device, point, value, waiter.callback());
    return waiter.wait();
  }

  std::shared_ptr<SimBackend> backend_;
  RecordingSink sink_;
  std::unique_ptr<GpioAdapter> adapter_;
};

TEST_F(GpioTest, PublishesEveryLineAtStartWithPullUpAndActiveLowApplied) {
  start(kPanel);
  ASSERT_TRUE(sink_.wait_online("panel", true));
  // Nothing drives the button: the pull-up holds it high, which active_low reads as "released".
  sink_.wait_value("panel/button", false);
  sink_.wait_value("panel/relay", true);                      // initial = true ...
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), false);  // ... drives an active-low pin low
  sink_.wait_value("panel/led", false);
  EXPECT_EQ(backend_->output_level("gpiochip0", 22), false);
}

TEST_F(GpioTest, ABouncingPressIsOneReadingOfTheSettledLevel) {
  start(kPanel);
  sink_.wait_value("panel/button", false);
  const size_t before = sink_.readings("panel/button").size();
  // A press that bounces: the contact closes (low = pressed), opens, closes ... and settles low.
  for (bool level : {false, true, false, true, false, true, false}) {
    backend_->drive("gpiochip0", 17, level);
    std::this_thread::sleep_for(2ms);
  }
  Reading settled = sink_.wait_value("panel/button", true);
  EXPECT_EQ(settled.quality, Quality::Good);
  std::this_thread::sleep_for(200ms);  // well past the debounce time: nothing more comes
  std::vector<Reading> readings = sink_.readings("panel/button");
  ASSERT_EQ(readings.size(), before + 1);
  EXPECT_EQ(readings.back().value, Value{true});
  EXPECT_GE(backend_->events_delivered(), 7u);  // every edge reached the adapter

  // The release bounces too, and is one reading again.
  for (bool level : {true, false, true, false, true}) {
    backend_->drive("gpiochip0", 17, level);
    std::this_thread::sleep_for(2ms);
  }
  sink_.wait_value("panel/button", false);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(sink_.readings("panel/button").size(), before + 2);
}

TEST_F(GpioTest, BounceShorterThanTheDebounceTimeKeepsTheLevel) {
  start(kPanel);
  sink_.wait_value("panel/button", false);
  // A glitch: low for 2 ms, then high again. The settled level is what it was.
  backend_->drive("gpiochip0", 17, false);
  std::this_thread::sleep_for(2ms);
  backend_->drive("gpiochip0", 17, true);
  std::this_thread::sleep_for(250ms);
  for (const Reading& r : sink_.readings("panel/button"))
    EXPECT_EQ(r.value, Value{false});
}

TEST_F(GpioTest, WithoutDebounceEveryEdgeIsPublishedAtOnce) {
  start(chip_toml("gpiochip0", input_toml("door", 5)));
  sink_.wait_value("io/door", false);
  backend_->drive("gpiochip0", 5, true);
  sink_.wait_value("io/door", true);
  backend_->drive("gpiochip0", 5, false);
  sink_.wait_value("io/door", false);
  EXPECT_EQ(sink_.readings("io/door").size(), 3u);
}

TEST_F(GpioTest, OnlyTheConfiguredEdgeRaisesEvents) {
  start(chip_toml("gpiochip0",
                  input_toml("pulse", 6, "edge = \"rising\"\n") +
                      input_toml("alarm", 7, "edge = \"falling\"\nbias = \"pull-up\"\n")));
  sink_.wait_value("io/pulse", false);
  sink_.wait_value("io/alarm", true);
  backend_->drive("gpiochip0", 6, true);
  sink_.wait_value("io/pulse", true);
  backend_->drive("gpiochip0", 6, false);  // falling: not watched
  backend_->drive("gpiochip0", 7, false);  // falling: watched
  sink_.wait_value("io/alarm", false);
  EXPECT_EQ(backend_->events_delivered(), 2u);
  EXPECT_EQ(sink_.readings("io/pulse").back().value, Value{true});
}

TEST_F(GpioTest, CommandsDriveOutputsWithActiveLowInvertedOnThePin) {
  start(kPanel);
  sink_.wait_value("panel/relay", true);
  WriteResult result = write("panel", "relay", Value{false});
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), true);  // active low: off is high
  sink_.wait_value("panel/relay", false);                    // read back and published

  result = write("panel", "relay", Value{std::string("ON")});
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), false);
  sink_.wait_value("panel/relay", true);

  EXPECT_TRUE(write("panel", "relay", Value{int64_t{0}}).ok);
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), true);
}

TEST_F(GpioTest, CommandsThatCannotBeCarriedOutSayWhy) {
  start(kPanel);
  ASSERT_TRUE(sink_.wait_online("panel", true));
  WriteResult r = write("panel", "relay", Value{int64_t{2}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "a GPIO output takes true or false (or 1 or 0, \"on\" or \"off\"), got 2");
  r = write("panel", "button", Value{true});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "point is an input (direction = \"in\"): only outputs can be written");
  r = write("panel", "led", Value{true});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "point is not writable (set writable = true in the config to allow commands)");
  EXPECT_EQ(backend_->output_level("gpiochip0", 22), false);
  r = write("panel", "fan", Value{true});
  EXPECT_EQ(r.error, "device 'panel' has no point named 'fan'");
  r = write("nope", "relay", Value{true});
  EXPECT_EQ(r.error, "no GPIO device named 'nope'");
}

TEST_F(GpioTest, AMissingChipIsOfflineWithTheReasonUntilItAppears) {
  start(chip_toml("gpiochip7", input_toml("door", 5, "bias = \"pull-up\"\n")));
  ASSERT_TRUE(sink_.wait_online("io", false));
  Reading bad = sink_.wait_bad("io/door");
  EXPECT_EQ(bad.value, Value{});
  EXPECT_EQ(bad.error,
            "no GPIO chip 'gpiochip7' on this machine (`gpiodetect` lists the chips there are; "
            "set `chip` to one of them, e.g. \"gpiochip0\", or its path or label)");
  // Commands fail with the same reason while it is missing.
  WriteResult r = write("io", "door", Value{true});
  EXPECT_FALSE(r.ok);
  // Plugged in: the next retry (1 s after the first failure) opens it.
  backend_->add_chip("gpiochip7", 8);
  ASSERT_TRUE(sink_.wait_online("io", true, 4000ms));
  sink_.wait_value("io/door", true);
  EXPECT_EQ(sink_.availability("io"), (std::vector<bool>{false, true}));
}

TEST_F(GpioTest, AChipThatGoesAwayIsOfflineAndReopened) {
  start(kPanel);
  ASSERT_TRUE(sink_.wait_online("panel", true));
  backend_->remove_chip("gpiochip0");
  ASSERT_TRUE(sink_.wait_online("panel", false));
  EXPECT_EQ(sink_.wait_bad("panel/button").error,
            "GPIO chip 'gpiochip0' went away (unplugged, or its driver unloaded)");
  backend_->add_chip("gpiochip0", 32);
  ASSERT_TRUE(sink_.wait_online("panel", true, 4000ms));
  sink_.wait_value("panel/relay", true);  // requested again with its initial value
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), false);
  backend_->drive("gpiochip0", 17, false);
  sink_.wait_value("panel/button", true);
}

TEST_F(GpioTest, ABusyLineNamesTheLineAndIsRequestedAgainOnceFree) {
  backend_->hold("gpiochip0", 17, true);
  start(kPanel);
  Reading bad = sink_.wait_bad("panel/button");
  EXPECT_EQ(bad.error,
            "line 17 of GPIO chip 'gpiochip0' is busy: another program holds it (`gpioinfo "
            "gpiochip0` names it as the consumer); stop that program or use another line");
  // The other lines work: the device is online.
  ASSERT_TRUE(sink_.wait_online("panel", true));
  sink_.wait_value("panel/relay", true);
  backend_->hold("gpiochip0", 17, false);
  sink_.wait_reading(
      "panel/button", [](const Reading& r) { return r.quality == Quality::Good; }, 4000ms);
}

TEST_F(GpioTest, ALineOutOfRangeSaysHowManyLinesTheChipHas) {
  start(chip_toml("gpiochip0", input_toml("door", 40)));
  EXPECT_EQ(sink_.wait_bad("io/door").error,
            "GPIO chip 'gpiochip0' has no line 40 (it has 32 lines, 0 to 31; `gpioinfo gpiochip0` "
            "lists them)");
  // Its only line cannot be used: the device is offline.
  EXPECT_TRUE(sink_.wait_online("io", false));
}

TEST_F(GpioTest, PermissionDeniedNamesTheGpioGroup) {
  backend_->fail_open("gpiochip0", EACCES);
  start(kPanel);
  ASSERT_TRUE(sink_.wait_online("panel", false));
  EXPECT_EQ(sink_.wait_bad("panel/relay").error,
            "permission denied to open GPIO chip 'gpiochip0': the user fieldgate runs as must be "
            "in the 'gpio' group (sudo usermod -aG gpio USER, then restart fieldgate; the "
            "packaged service already has SupplementaryGroups=gpio)");
}

TEST_F(GpioTest, StopReleasesTheLinesForTheNextAdapter) {
  start(kPanel);
  ASSERT_TRUE(sink_.wait_online("panel", true));
  adapter_->stop();
  // As a reload does: a new adapter on the same lines.
  RecordingSink sink;
  GpioAdapter next(chips(kPanel), backend_);
  next.start(sink);
  ASSERT_TRUE(sink.wait_online("panel", true));
  sink.wait_value("panel/button", false);
  next.stop();
}

// A command on "<topic>/set" goes through the mapping's router to the adapter and the line;
// its result and the new value are published (what the gateway does with MQTT messages).
TEST_F(GpioTest, CommandsFromTheMappingReachTheLine) {
  struct Outbox : fieldgate::mapping::Outbox {
    void publish(std::string topic, std::string payload, uint8_t, bool) override {
      std::lock_guard lock(mutex);
      messages.emplace_back(std::move(topic), std::move(payload));
      cv.notify_all();
    }
    bool wait_for(const std::string& topic, const std::string& payload) {
      std::unique_lock lock(mutex);
      return cv.wait_for(lock, 3s, [&] {
        for (const auto& m : messages)
          if (m.first == topic && m.second == payload) return true;
        return false;
      });
    }
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::pair<std::string, std::string>> messages;
  } outbox;
  fieldgate::config::Config config = parse(kPanel + "[mapping]\npayload = \"value\"\n");
  fieldgate::mapping::Engine engine(config, outbox);
  struct Forward : fieldgate::adapters::ReadingSink {
    explicit Forward(fieldgate::mapping::Engine& e) : engine(e) {}
    void on_reading(std::string_view d, std::string_view p, const Reading& r) override {
      engine.on_reading(d, p, r);
    }
    void on_availability(std::string_view d, bool online) override {
      engine.on_availability(d, online);
    }
    fieldgate::mapping::Engine& engine;
  } forward(engine);
  GpioAdapter adapter(config.gpio, backend_);
  fieldgate::mapping::CommandRouter router(
      fieldgate::mapping::point_settings(config),
      [&](std::string_view device, std::string_view point, const Value& value,
          std::function<void(const fieldgate::mapping::WriteOutcome&)> done) {
        adapter.write(device, point, value, [done = std::move(done)](const WriteResult& r) {
          done({r.ok, r.error});
        });
      },
      outbox);
  adapter.start(forward);
  ASSERT_TRUE(outbox.wait_for("gw/panel/relay", "true"));
  ASSERT_TRUE(outbox.wait_for("gw/availability/panel", "online"));
  EXPECT_TRUE(router.handle("gw/panel/relay/set", "false"));
  EXPECT_TRUE(outbox.wait_for("gw/panel/relay/set/result", R"({"ok":true})"));
  EXPECT_TRUE(outbox.wait_for("gw/panel/relay", "false"));
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), true);
  router.handle("gw/panel/led/set", "true");
  EXPECT_TRUE(outbox.wait_for("gw/panel/led/set/result",
                              R"({"ok":false,"error":"point panel/led is not writable"})"));
  adapter.stop();
}

// examples/raspberry-pi-gpio.toml on a simulated Pi: a press (with bounce) and the relay.
TEST_F(GpioTest, TheRaspberryPiExampleRuns) {
  const auto example = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                       "examples" / "raspberry-pi-gpio.toml";
  fieldgate::config::Config config = fieldgate::config::load(example);
  ASSERT_EQ(config.gpio.size(), 1u);
  adapter_ = std::make_unique<GpioAdapter>(config.gpio, backend_);
  adapter_->start(sink_);
  sink_.wait_value("panel/button", false);
  sink_.wait_value("panel/relay", false);
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), true);  // active low: off is high
  for (bool level : {false, true, false})
    backend_->drive("gpiochip0", 17, level);
  sink_.wait_value("panel/button", true);
  EXPECT_TRUE(write("panel", "relay", Value{true}).ok);
  EXPECT_EQ(backend_->output_level("gpiochip0", 27), false);
}

// ---- the real libgpiod v1 backend --------------------------------------------------------

TEST(LibgpiodBackend, NoSuchChip) {
  auto backend = fieldgate::gpio::libgpiod_backend();
  int error = 0;
  EXPECT_EQ(backend->open("gpiochip-fieldgate-test", error), nullptr);
  EXPECT_EQ(error, ENOENT);
  EXPECT_EQ(fieldgate::gpio::error_text(error, "gpiochip-fieldgate-test", std::nullopt, "open"),
            "no GPIO chip 'gpiochip-fieldgate-test' on this machine (`gpiodetect` lists the chips "
            "there are; set `chip` to one of them, e.g. \"gpiochip0\", or its path or label)");
  EXPECT_EQ(backend->open("/dev/gpiochip-fieldgate-test", error), nullptr);
  EXPECT_EQ(error, ENOENT);
}

TEST(LibgpiodBackend, NotAGpioChip) {
  auto backend = fieldgate::gpio::libgpiod_backend();
  int error = 0;
  EXPECT_EQ(backend->open("/dev/null", error), nullptr);
  EXPECT_EQ(error, ENOTTY);
  EXPECT_EQ(fieldgate::gpio::error_text(error, "/dev/null", std::nullopt, "open"),
            "'/dev/null' is not a GPIO chip (set `chip` to one `gpiodetect` lists, e.g. "
            "\"gpiochip0\")");
}

// The adapter on the real backend: the chip is missing, so the device is offline, not an error.
TEST(LibgpiodBackend, AdapterReportsAMissingChipOffline) {
  RecordingSink sink;
  GpioAdapter adapter(chips(chip_toml("gpiochip-fieldgate-test", input_toml("door", 5))));
  adapter.start(sink);
  ASSERT_TRUE(sink.wait_online("io", false));
  Reading bad = sink.wait_bad("io/door");
  EXPECT_NE(bad.error.find("no GPIO chip 'gpiochip-fieldgate-test'"), std::string::npos)
      << bad.error;
  WriteWaiter waiter;
  adapter.write("io", "door", Value{true}, waiter.callback());
  EXPECT_FALSE(waiter.wait().ok);
  adapter.stop();
}

TEST(GpioErrorText, OtherErrorsNameWhatFailed) {
  using fieldgate::gpio::error_text;
  EXPECT_EQ(error_text(EPERM, "gpiochip0", 4u, "request"),
            "permission denied to request line 4 of GPIO chip 'gpiochip0': the user fieldgate runs "
            "as must be in the 'gpio' group (sudo usermod -aG gpio USER, then restart fieldgate; "
            "the packaged service already has SupplementaryGroups=gpio)");
  EXPECT_EQ(error_text(EOPNOTSUPP, "gpiochip0", 4u, "request"),
            "cannot request line 4 of GPIO chip 'gpiochip0' as configured: the kernel or the chip "
            "does not support it (bias needs Linux 5.5 or later; remove `bias` to leave the "
            "line's bias as it is)");
  EXPECT_EQ(error_text(EIO, "gpiochip0", 4u, "read"),
            "cannot read line 4 of GPIO chip 'gpiochip0': Input/output error");
}

}  // namespace
