// The mapping engine and the command path, as SPEC.md ("Topics and payloads") says.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "mapping/command.h"
#include "mapping/engine.h"

namespace fieldgate::mapping {
namespace {

using namespace std::chrono_literals;

struct Message {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  friend bool operator==(const Message&, const Message&) = default;
};

std::ostream& operator<<(std::ostream& out, const Message& m) {
  return out << m.topic << " " << m.payload << " qos=" << int(m.qos) << " retain=" << m.retain;
}

class RecordingOutbox : public Outbox {
 public:
  void publish(std::string topic, std::string payload, uint8_t qos, bool retain) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(Message{std::move(topic), std::move(payload), qos, retain});
  }
  void publish_reply(std::string topic, std::string payload, uint8_t qos,
                     std::optional<std::string> correlation_data) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(Message{std::move(topic), std::move(payload), qos, false});
    correlation_.push_back(std::move(correlation_data));
  }
  // The correlation data of every reply so far.
  std::vector<std::optional<std::string>> correlation() {
    std::lock_guard lock(mutex_);
    return correlation_;
  }
  // The messages published since the last take().
  std::vector<Message> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(messages_, {});
  }
  std::vector<std::string> take_payloads() {
    std::vector<std::string> payloads;
    for (const Message& m : take())
      payloads.push_back(m.payload);
    return payloads;
  }

 private:
  std::mutex mutex_;
  std::vector<Message> messages_;
  std::vector<std::optional<std::string>> correlation_;
};

struct FakeClock {
  Engine::Clock::time_point now{};
  Engine::NowFunction function() {
    return [this] { return now; };
  }
};

PointSettings point(std::string name, std::optional<double> deadband = std::nullopt,
                    config::PayloadFormat payload = config::PayloadFormat::Value) {
  return PointSettings{.device = "dev",
                       .point = name,
                       .topic = "gw/dev/" + name,
                       .payload = payload,
                       .deadband = deadband};
}

Reading good(Value value, int64_t ts = 1000) {
  return Reading{std::move(value), ts, Quality::Good, ""};
}
Reading bad(std::string error, int64_t ts = 1000) {
  return Reading{Value{}, ts, Quality::Bad, std::move(error)};
}

// ---- deadband -----------------------------------------------------------------------------

TEST(EngineDeadband, DoublesPublishOnlyPastTheDeadbandFromTheLastPublishedValue) {
  RecordingOutbox out;
  Engine engine("gw", {point("t", 0.5)}, out);
  for (double v : {20.0, 20.3, 20.49, 20.5, 20.9, 21.0, 20.5})
    engine.on_reading("dev", "t", good(Value{v}));
  // 20.3 and 20.49 are within 0.5 of 20; 20.9 within 0.5 of 20.5; 21 is exactly 0.5 away.
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"20", "20.5", "21", "20.5"}));
}

TEST(EngineDeadband, WithoutDeadbandEveryChangeAndNoRepeat) {
  RecordingOutbox out;
  Engine engine("gw", {point("t")}, out);
  for (double v : {1.0, 1.0, 1.0000001, 1.0000001, 2.0})
    engine.on_reading("dev", "t", good(Value{v}));
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"1", "1.0000001", "2"}));
}

TEST(EngineDeadband, IntegersExactAndAgainstDeadband) {
  RecordingOutbox out;
  Engine engine("gw", {point("i", 10.0), point("u"), point("big", 1.0)}, out);
  for (int64_t v : {100, 105, 109, 110, 90, 90})
    engine.on_reading("dev", "i", good(Value{v}));
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"100", "110", "90"}));

  uint64_t max = std::numeric_limits<uint64_t>::max();
  engine.on_reading("dev", "u", good(Value{max}));
  engine.on_reading("dev", "u", good(Value{max - 1}));  // the same as a double, not as uint64
  engine.on_reading("dev", "u", good(Value{max - 1}));
  EXPECT_EQ(out.take_payloads(),
            (std::vector<std::string>{"18446744073709551615", "18446744073709551614"}));

  int64_t min = std::numeric_limits<int64_t>::min();
  engine.on_reading("dev", "big", good(Value{min}));
  engine.on_reading("dev", "big", good(Value{std::numeric_limits<int64_t>::max()}));  // no overflow
  EXPECT_EQ(out.take().size(), 2u);
}

TEST(EngineDeadband, BoolsAndStringsPublishOnAnyChangeDeadbandOrNot) {
  RecordingOutbox out;
  Engine engine("gw", {point("b", 5.0), point("s", 5.0)}, out);
  for (bool v : {false, false, true, true, false})
    engine.on_reading("dev", "b", good(Value{v}));
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"false", "true", "false"}));
  for (const char* v : {"idle", "idle", "run", "idle"}) {
    engine.on_reading("dev", "s", good(Value{std::string(v)}));
  }
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"idle", "run", "idle"}));
}

TEST(ValueChanged, KindsAndNaN) {
  EXPECT_TRUE(value_changed(Value{int64_t{1}}, Value{1.0}, 5.0));  // another kind
  EXPECT_FALSE(value_changed(Value{std::nan("")}, Value{std::nan("")}, std::nullopt));
  EXPECT_TRUE(value_changed(Value{1.0}, Value{std::nan("")}, 5.0));
  EXPECT_FALSE(value_changed(Value{}, Value{}, std::nullopt));
  EXPECT_FALSE(value_changed(Value{1.0}, Value{1.0}, 0.0));  // deadband 0: a change is needed
  EXPECT_TRUE(value_changed(Value{1.0}, Value{1.5}, 0.0));
}

// ---- quality and errors -------------------------------------------------------------------

TEST(EngineQuality, BadOnceUntilTheErrorChangesThenGoodAgainDespiteDeadband) {
  RecordingOutbox out;
  PointSettings settings = point("t", 100.0, config::PayloadFormat::Json);
  settings.unit = "°C";
  Engine engine("gw", {settings}, out);
  engine.on_reading("dev", "t", good(Value{21.5}, 1));
  engine.on_reading("dev", "t", bad("timeout", 2));
  engine.on_reading("dev", "t", bad("timeout", 3));
  engine.on_reading("dev", "t", Reading{Value{99.0}, 4, Quality::Bad, "timeout"});
  engine.on_reading("dev", "t", bad("connection refused", 5));
  engine.on_reading("dev", "t", good(Value{21.5}, 6));  // same value, quality changed
  EXPECT_EQ(out.take_payloads(),
            (std::vector<std::string>{
                R"({"value":21.5,"ts":1,"quality":"good","unit":"°C"})",
                R"({"value":null,"ts":2,"quality":"bad","unit":"°C","error":"timeout"})",
                R"({"value":null,"ts":5,"quality":"bad","unit":"°C","error":"connection refused"})",
                R"({"value":21.5,"ts":6,"quality":"good","unit":"°C"})"}));
}

TEST(EngineQuality, FirstReadingBadIsPublished) {
  RecordingOutbox out;
  Engine engine("gw", {point("t")}, out);
  engine.on_reading("dev", "t", bad("Modbus exception 2 (illegal data address)"));
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"null"}));
}

TEST(EngineQuality, UnknownPointsAreIgnoredAndCounted) {
  RecordingOutbox out;
  Engine engine("gw", {point("t")}, out);
  engine.on_reading("dev", "nope", good(Value{1.0}));
  engine.on_reading("other", "t", good(Value{1.0}));
  EXPECT_TRUE(out.take().empty());
  EXPECT_EQ(engine.unknown_readings(), 2u);
}

// ---- heartbeat ----------------------------------------------------------------------------

TEST(EngineHeartbeat, RepublishesTheLatestValueWhenDue) {
  RecordingOutbox out;
  FakeClock clock;
  PointSettings settings = point("t", 1.0);
  settings.heartbeat_s = 10;
  Engine engine("gw", {settings, point("quiet")}, out, clock.function());
  engine.on_reading("dev", "t", good(Value{20.0}));
  engine.on_reading("dev", "quiet", good(Value{1.0}));
  out.take();

  clock.now += 9s;
  engine.tick(clock.now);
  EXPECT_TRUE(out.take().empty());
  engine.on_reading("dev", "t", good(Value{20.4}));  // within deadband: kept, not published
  EXPECT_TRUE(out.take().empty());

  clock.now += 1s;
  engine.tick(clock.now);
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"20.4"}));  // the latest value
  engine.tick(clock.now + 5s);
  EXPECT_TRUE(out.take().empty());

  clock.now += 7s;
  engine.on_reading("dev", "t", good(Value{30.0}));  // a change restarts the period
  out.take();
  engine.tick(clock.now + 9s);
  EXPECT_TRUE(out.take().empty());
  engine.tick(clock.now + 10s);
  EXPECT_EQ(out.take_payloads(), (std::vector<std::string>{"30"}));
}

TEST(EngineHeartbeat, NothingBeforeTheFirstReadingAndNoRepeatOfBad) {
  RecordingOutbox out;
  FakeClock clock;
  PointSettings settings = point("t");
  settings.heartbeat_s = 1;
  Engine engine("gw", {settings}, out, clock.function());
  engine.tick(clock.now + 100s);
  EXPECT_TRUE(out.take().empty());
  engine.on_reading("dev", "t", bad("timeout"));
  out.take();
  engine.tick(clock.now + 200s);
  EXPECT_TRUE(out.take().empty());
}

// ---- availability -------------------------------------------------------------------------

TEST(EngineAvailability, RetainedOnlineOfflineOnChanges) {
  RecordingOutbox out;
  Engine engine("gw", {point("t")}, out);
  engine.publish_gateway_online();
  engine.on_availability("dev", true);
  engine.on_availability("dev", true);
  engine.on_availability("dev", false);
  engine.on_availability("dev", false);
  engine.on_availability("other", false);
  engine.on_availability("dev", true);
  EXPECT_EQ(out.take(),
            (std::vector<Message>{{"gw/availability", "online", kAvailabilityQos, true},
                                  {"gw/availability/dev", "online", kAvailabilityQos, true},
                                  {"gw/availability/dev", "offline", kAvailabilityQos, true},
                                  {"gw/availability/other", "offline", kAvailabilityQos, true},
                                  {"gw/availability/dev", "online", kAvailabilityQos, true}}));
  EXPECT_EQ(engine.gateway_availability_topic(), "gw/availability");
}

// ---- from a config ------------------------------------------------------------------------

constexpr std::string_view kConfig = R"(
[gateway]
name = "gw"
[mapping]
qos = 1
heartbeat_s = 30
[[modbus]]
name = "plc"
host = "10.0.0.1"
  [[modbus.point]]
  name = "temp"
  table = "input"
  address = 1
  type = "int16"
  scale = 0.1
  unit = "°C"
  deadband = 0.5
  [[modbus.point]]
  name = "setpoint"
  table = "holding"
  address = 2
  type = "uint16"
  writable = true
  topic = "site/{protocol}/{device}/sp"
  qos = 2
  retain = false
  payload = "value"
[[gpio]]
name = "io"
chip = "gpiochip0"
  [[gpio.point]]
  name = "door"
  line = 4
  direction = "in"
)";

TEST(EngineConfig, PointSettingsApplyMappingAndOverrides) {
  config::Config config = config::parse(kConfig, "test.toml");
  std::vector<PointSettings> points = point_settings(config);
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].topic, "gw/plc/temp");
  EXPECT_EQ(points[0].qos, 1);
  EXPECT_TRUE(points[0].retain);
  EXPECT_EQ(points[0].payload, config::PayloadFormat::Json);
  EXPECT_EQ(points[0].unit, "°C");
  EXPECT_EQ(points[0].deadband, 0.5);
  EXPECT_EQ(points[0].heartbeat_s, 30u);
  EXPECT_FALSE(points[0].writable);
  EXPECT_EQ(points[1].topic, "site/modbus/plc/sp");
  EXPECT_EQ(points[1].qos, 2);
  EXPECT_FALSE(points[1].retain);
  EXPECT_EQ(points[1].payload, config::PayloadFormat::Value);
  EXPECT_EQ(points[1].deadband, std::nullopt);
  EXPECT_TRUE(points[1].writable);
  EXPECT_EQ(points[2].topic, "gw/io/door");
  EXPECT_EQ(points[2].deadband, std::nullopt);
}

TEST(EngineConfig, PublishesWithEachPointsTopicQosRetainAndPayload) {
  config::Config config = config::parse(kConfig, "test.toml");
  RecordingOutbox out;
  Engine engine(config, out);
  engine.on_reading("plc", "temp", good(Value{21.5}, 1764070000123));
  engine.on_reading("plc", "temp", good(Value{21.9}, 1764070000124));  // within 0.5
  engine.on_reading("plc", "setpoint", good(Value{uint64_t{42}}));
  engine.on_reading("io", "door", good(Value{true}, 7));
  engine.on_availability("plc", false);
  EXPECT_EQ(out.take(),
            (std::vector<Message>{
                {"gw/plc/temp", R"({"value":21.5,"ts":1764070000123,"quality":"good","unit":"°C"})",
                 1, true},
                {"site/modbus/plc/sp", "42", 2, false},
                {"gw/io/door", R"({"value":true,"ts":7,"quality":"good"})", 1, true},
                {"gw/availability/plc", "offline", kAvailabilityQos, true}}));
}

TEST(EngineThreads, ReadingsFromManyThreadsArePublishedOnceEach) {
  RecordingOutbox out;
  std::vector<PointSettings> points;
  for (int i = 0; i < 4; ++i)
    points.push_back(point("p" + std::to_string(i)));
  Engine engine("gw", points, out);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&engine, i] {
      for (int64_t v = 0; v < 1000; ++v) {
        engine.on_reading("dev", "p" + std::to_string(i), good(Value{v}));
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(out.take().size(), 4000u);
}

// ---- command parsing ----------------------------------------------------------------------

Value parsed(std::string_view payload) {
  ParsedCommand command = parse_command(payload);
  EXPECT_TRUE(command.ok()) << payload << ": " << command.error;
  return command.value;
}

std::string rejected(std::string_view payload) {
  ParsedCommand command = parse_command(payload);
  EXPECT_FALSE(command.ok()) << payload;
  return command.error;
}

TEST(ParseCommand, PlainValues) {
  EXPECT_EQ(parsed("21.5"), Value{21.5});
  EXPECT_EQ(parsed(" 21.5\n"), Value{21.5});
  EXPECT_EQ(parsed("1"), Value{int64_t{1}});
  EXPECT_EQ(parsed("-3"), Value{int64_t{-3}});
  EXPECT_EQ(parsed("1e3"), Value{1000.0});
  EXPECT_EQ(parsed("-0.25"), Value{-0.25});
  EXPECT_EQ(parsed("9223372036854775807"), Value{std::numeric_limits<int64_t>::max()});
  EXPECT_EQ(parsed("-9223372036854775808"), Value{std::numeric_limits<int64_t>::min()});
  EXPECT_EQ(parsed("18446744073709551615"), Value{std::numeric_limits<uint64_t>::max()});
  EXPECT_EQ(parsed("18446744073709551616"), Value{18446744073709551616.0});  // beyond: a double
  EXPECT_EQ(parsed("true"), Value{true});
  EXPECT_EQ(parsed("false"), Value{false});
  EXPECT_EQ(parsed("null"), Value{});
  EXPECT_EQ(parsed("on"), Value{std::string("on")});
  EXPECT_EQ(parsed("hello world"), Value{std::string("hello world")});
  EXPECT_EQ(parsed("+5"), Value{std::string("+5")});  // not JSON: text, the adapter decides
  EXPECT_EQ(parsed("0x10"), Value{std::string("0x10")});
  EXPECT_EQ(parsed("inf"), Value{std::string("inf")});
  EXPECT_EQ(parsed(R"("quoted \"text\" \u00b0C \ud83d\ude00")"),
            Value{std::string("quoted \"text\" °C \xF0\x9F\x98\x80")});
}

TEST(ParseCommand, JsonObjects) {
  EXPECT_EQ(parsed(R"({"value": 21.5})"), Value{21.5});
  EXPECT_EQ(parsed(R"( { "value" : -3 } )"), Value{int64_t{-3}});
  EXPECT_EQ(parsed(R"({"value":18446744073709551615})"),
            Value{std::numeric_limits<uint64_t>::max()});
  EXPECT_EQ(parsed(R"({"value": true})"), Value{true});
  EXPECT_EQ(parsed(R"({"value": false})"), Value{false});
  EXPECT_EQ(parsed(R"({"value": null})"), Value{});
  EXPECT_EQ(parsed(R"({"value": "a\nb\/c"})"), Value{std::string("a\nb/c")});
}

TEST(ParseCommand, Rejected) {
  EXPECT_NE(rejected("").find("empty command"), std::string::npos);
  EXPECT_NE(rejected("  \n").find("empty command"), std::string::npos);
  EXPECT_NE(rejected("[1]").find("arrays"), std::string::npos);
  EXPECT_NE(rejected("{}").find("no \"value\""), std::string::npos);
  EXPECT_NE(rejected(R"({"val": 1})").find("unknown member \"val\""), std::string::npos);
  EXPECT_NE(rejected(R"({"value": 1, "ts": 2})").find("unknown member \"ts\""), std::string::npos);
  EXPECT_NE(rejected(R"({"value": 1, "value": 2})").find("twice"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": {"a": 1}})").find("must be a number"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": [1]})").find("must be a number"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": 1} x)").find("after the JSON"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": 1)").find("expected '}'"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": 1,})").find("expected '\"'"), std::string::npos);
  EXPECT_NE(rejected(R"({"value" 1})").find("expected ':'"), std::string::npos);
  EXPECT_NE(rejected(R"({value: 1})").find("expected '\"'"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": tru})").find("expected a number"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": trueish})").find("expected '}'"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": 01})").find("expected '}'"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": .5})").find("expected a number"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": 1e999})").find("out of range"), std::string::npos);
  EXPECT_NE(rejected("1e999").find("out of range"), std::string::npos);
  EXPECT_NE(rejected(R"({"value": "abc)").find("unterminated"), std::string::npos);
  EXPECT_NE(rejected(R"("abc)").find("unterminated"), std::string::npos);
  EXPECT_NE(rejected(R"("a" b)").find("after the JSON"), std::string::npos);
  EXPECT_NE(rejected(R"("\x")").find("unknown escape"), std::string::npos);
  EXPECT_NE(rejected(R"("\u12")").find("\\u escape"), std::string::npos);
  EXPECT_NE(rejected(R"("\ud83d")").find("surrogate"), std::string::npos);
  EXPECT_NE(rejected(R"("\ude00")").find("surrogate"), std::string::npos);
  EXPECT_NE(rejected("\"a\x01\"").find("control character"), std::string::npos);
}

// ---- command router -----------------------------------------------------------------------

struct RecordedWrite {
  std::string device;
  std::string point;
  Value value;
  std::function<void(const WriteOutcome&)> done;
};

class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : router_(
            points(),
            [this](std::string_view device, std::string_view point, const Value& value,
                   std::function<void(const WriteOutcome&)> done) {
              writes_.push_back(
                  RecordedWrite{std::string(device), std::string(point), value, std::move(done)});
            },
            out_) {}

  static std::vector<PointSettings> points() {
    PointSettings sp = point("sp");
    sp.writable = true;
    sp.qos = 1;
    return {sp, point("temp")};
  }

  RecordingOutbox out_;
  std::vector<RecordedWrite> writes_;
  CommandRouter router_;
};

TEST_F(RouterTest, CommandTopics) {
  EXPECT_EQ(router_.command_topics(),
            (std::vector<std::string>{"gw/dev/sp/set", "gw/dev/temp/set"}));
}

TEST_F(RouterTest, WritesAndPublishesTheResult) {
  EXPECT_TRUE(router_.handle("gw/dev/sp/set", R"({"value": 21.5})"));
  ASSERT_EQ(writes_.size(), 1u);
  EXPECT_EQ(writes_[0].device, "dev");
  EXPECT_EQ(writes_[0].point, "sp");
  EXPECT_EQ(writes_[0].value, Value{21.5});
  EXPECT_TRUE(out_.take().empty());  // nothing until the device answered
  writes_[0].done(WriteOutcome{true, ""});
  EXPECT_EQ(out_.take(),
            (std::vector<Message>{{"gw/dev/sp/set/result", R"({"ok":true})", 1, false}}));
}

TEST_F(RouterTest, AnMqtt5RequestGetsItsResultOnItsResponseTopic) {
  router_.handle("gw/dev/sp/set", "21", ReplyTo{"app/replies/7", std::string("\x01\x02", 2)});
  ASSERT_EQ(writes_.size(), 1u);
  writes_[0].done(WriteOutcome{true, ""});
  router_.handle("gw/dev/temp/set", "1", ReplyTo{"app/replies/8", std::nullopt});
  EXPECT_EQ(out_.take(),
            (std::vector<Message>{
                {"app/replies/7", R"({"ok":true})", 1, false},
                {"app/replies/8", R"({"ok":false,"error":"point dev/temp is not writable"})", 0,
                 false}}));
  EXPECT_EQ(out_.correlation(),
            (std::vector<std::optional<std::string>>{std::string("\x01\x02", 2), std::nullopt}));
}

TEST_F(RouterTest, PassesTheAdaptersErrorThrough) {
  router_.handle("gw/dev/sp/set", "70000");
  ASSERT_EQ(writes_.size(), 1u);
  EXPECT_EQ(writes_[0].value, Value{int64_t{70000}});
  writes_[0].done(WriteOutcome{false, "70000 is out of range for uint16 (0..65535)"});
  EXPECT_EQ(out_.take_payloads(),
            (std::vector<std::string>{
                R"j({"ok":false,"error":"70000 is out of range for uint16 (0..65535)"})j"}));
}

TEST_F(RouterTest, NotWritableIsAnErrorResultWithoutAWrite) {
  EXPECT_TRUE(router_.handle("gw/dev/temp/set", "1"));
  EXPECT_TRUE(writes_.empty());
  EXPECT_EQ(out_.take(),
            (std::vector<Message>{{"gw/dev/temp/set/result",
                                   R"({"ok":false,"error":"point dev/temp is not writable"})", 0,
                                   false}}));
}

TEST_F(RouterTest, MalformedCommandIsAnErrorResultWithoutAWrite) {
  EXPECT_TRUE(router_.handle("gw/dev/sp/set", R"({"value": [1]})"));
  EXPECT_TRUE(writes_.empty());
  std::vector<Message> messages = out_.take();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].topic, "gw/dev/sp/set/result");
  EXPECT_TRUE(messages[0].payload.starts_with(R"({"ok":false,"error":"invalid JSON command: )"))
      << messages[0].payload;
}

TEST_F(RouterTest, OtherTopicsAreNotOurs) {
  EXPECT_FALSE(router_.handle("gw/dev/sp", "1"));
  EXPECT_FALSE(router_.handle("gw/dev/sp/set/result", R"({"ok":true})"));
  EXPECT_FALSE(router_.handle("gw/dev/nope/set", "1"));
  EXPECT_TRUE(writes_.empty());
  EXPECT_TRUE(out_.take().empty());
}

TEST(ResultPayload, EscapesTheError) {
  EXPECT_EQ(result_payload(WriteOutcome{true, ""}), R"({"ok":true})");
  EXPECT_EQ(result_payload(WriteOutcome{false, "bad \"x\""}),
            R"({"ok":false,"error":"bad \"x\""})");
}

}  // namespace
}  // namespace fieldgate::mapping
