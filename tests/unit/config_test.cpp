// config/: the reference file, every documented default, and each class of error with its
// exact FILE:LINE:COL and message.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

namespace fc = fieldgate::config;
namespace fs = std::filesystem;

namespace {

// tests/fixtures/config, found from this file's own path (CMake compiles it by absolute path).
const fs::path kFixtures = fs::path(__FILE__).parent_path().parent_path() / "fixtures" / "config";
const fs::path kReference = kFixtures / "fieldgate.example.toml";

// A listener, so that a config that tests something else has something to do.
constexpr std::string_view kListener = "[[broker.listener]]\nbind = \"127.0.0.1:1883\"\n";

// Every diagnostic of a config that must fail, formatted as FILE:LINE:COL: message.
std::vector<std::string> errors_of(std::string_view text) {
  try {
    fc::parse(text, "test.toml");
  } catch (const fc::ConfigError& error) {
    std::vector<std::string> lines;
    for (const auto& diagnostic : error.diagnostics())
      lines.push_back(diagnostic.to_string());
    return lines;
  }
  ADD_FAILURE() << "the config was accepted:\n" << text;
  return {};
}

// The one diagnostic of a config that must fail with exactly one.
std::string error_of(std::string_view text) {
  std::vector<std::string> errors = errors_of(text);
  if (errors.size() != 1) {
    std::string all;
    for (const auto& error : errors)
      all += error + "\n";
    ADD_FAILURE() << "expected one error, got " << errors.size() << ":\n" << all;
    return errors.empty() ? "" : errors.front();
  }
  return errors.front();
}

std::string with_listener(std::string_view text) {
  return std::string(text) + std::string(kListener);
}

std::string host_name() {
  char buffer[256] = {};
  gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

}  // namespace

// ---- the reference file -------------------------------------------------------------------

TEST(ConfigReference, ParsesWithEveryValue) {
  fc::Config config = fc::load(kReference);
  EXPECT_EQ(config.file, kReference);

  EXPECT_EQ(config.gateway.name, "gw1");
  EXPECT_EQ(config.gateway.state_dir, "/var/lib/fieldgate");
  EXPECT_EQ(config.gateway.log_level, fc::LogLevel::Info);

  const fc::Broker& broker = config.broker;
  EXPECT_TRUE(broker.enabled);
  EXPECT_TRUE(broker.persistence);
  EXPECT_EQ(broker.durability, fc::Durability::Process);
  EXPECT_FALSE(broker.allow_anonymous);
  EXPECT_EQ(broker.password_file, kFixtures / "files/passwd");
  EXPECT_EQ(broker.acl_file, kFixtures / "files/acl");
  EXPECT_EQ(broker.max_connections, 10000u);
  EXPECT_EQ(broker.max_inflight_messages, 20u);
  EXPECT_EQ(broker.max_queued_messages, 100000u);
  EXPECT_EQ(broker.max_packet_size, 1048576u);
  EXPECT_EQ(broker.max_keepalive_s, 65535);
  EXPECT_EQ(broker.sys_interval_s, 10u);
  EXPECT_EQ(broker.pos, (fc::SourcePos{10, 1}));
  EXPECT_EQ(broker.keys.at("password_file"), (fc::SourcePos{15, 1}));

  ASSERT_EQ(broker.listeners.size(), 3u);
  EXPECT_EQ(broker.listeners[0].host, "0.0.0.0");
  EXPECT_EQ(broker.listeners[0].port, 1883);
  EXPECT_EQ(broker.listeners[0].protocol, fc::ListenerProtocol::Mqtt);
  EXPECT_FALSE(broker.listeners[0].tls());
  EXPECT_EQ(broker.listeners[0].pos, (fc::SourcePos{24, 1}));
  const fc::Listener& tls = broker.listeners[1];
  EXPECT_EQ(tls.port, 8883);
  EXPECT_TRUE(tls.tls());
  EXPECT_EQ(tls.tls_cert, kFixtures / "files/tls/server.crt");
  EXPECT_EQ(tls.tls_key, kFixtures / "files/tls/server.key");
  EXPECT_EQ(tls.tls_ca, kFixtures / "files/tls/ca.crt");
  EXPECT_FALSE(tls.require_client_cert);
  EXPECT_FALSE(tls.use_identity_as_username);
  EXPECT_EQ(broker.listeners[2].protocol, fc::ListenerProtocol::Websockets);

  ASSERT_EQ(config.bridges.size(), 1u);
  const fc::Bridge& bridge = config.bridges[0];
  EXPECT_EQ(bridge.name, "cloud");
  EXPECT_TRUE(bridge.tls);
  EXPECT_EQ(bridge.host, "mqtt.example.com");
  EXPECT_EQ(bridge.port, 8883);
  EXPECT_EQ(bridge.client_id, "gw1-bridge");
  EXPECT_EQ(bridge.username, "gw1");
  EXPECT_FALSE(bridge.password);
  EXPECT_EQ(bridge.password_env, "FIELDGATE_CLOUD_PASSWORD");
  EXPECT_EQ(bridge.tls_ca, kFixtures / "files/ca-certificates.crt");
  EXPECT_EQ(bridge.keepalive_s, 60);
  EXPECT_FALSE(bridge.clean_session);
  EXPECT_EQ(bridge.queue_max_messages, 1000000u);
  EXPECT_EQ(bridge.queue_max_bytes, 268435456u);
  EXPECT_EQ(bridge.availability_topic, "sites/plant7/gw1/availability");
  ASSERT_EQ(bridge.routes.size(), 2u);
  EXPECT_EQ(bridge.routes[0].direction, fc::RouteDirection::Out);
  EXPECT_EQ(bridge.routes[0].local, "gw1/#");
  EXPECT_EQ(bridge.routes[0].local_prefix, "");
  EXPECT_EQ(bridge.routes[0].remote_prefix, "sites/plant7/");
  EXPECT_EQ(bridge.routes[0].qos, 1);
  EXPECT_EQ(bridge.routes[1].direction, fc::RouteDirection::In);
  EXPECT_EQ(bridge.routes[1].local, "gw1/+/+/set");

  EXPECT_EQ(config.mapping.topic, "{gateway}/{device}/{point}");
  EXPECT_EQ(config.mapping.payload, fc::PayloadFormat::Json);
  EXPECT_EQ(config.mapping.qos, 0);
  EXPECT_TRUE(config.mapping.retain);
  EXPECT_EQ(config.mapping.heartbeat_s, 0u);

  ASSERT_EQ(config.modbus.size(), 2u);
  const fc::ModbusDevice& boiler = config.modbus[0];
  EXPECT_EQ(boiler.name, "boiler");
  EXPECT_EQ(boiler.transport, fc::ModbusTransport::Tcp);
  EXPECT_EQ(boiler.host, "192.168.1.10");
  EXPECT_EQ(boiler.port, 502);
  EXPECT_EQ(boiler.unit_id, 1);
  EXPECT_EQ(boiler.address_base, 0);
  EXPECT_EQ(boiler.poll_ms, 1000u);
  EXPECT_EQ(boiler.timeout_ms, 500u);
  EXPECT_EQ(boiler.retries, 2u);
  EXPECT_EQ(boiler.pos, (fc::SourcePos{70, 1}));
  ASSERT_EQ(boiler.points.size(), 4u);
  const fc::ModbusPoint& temperature = boiler.points[0];
  EXPECT_EQ(temperature.pos, (fc::SourcePos{81, 3}));
  EXPECT_EQ(temperature.table, fc::ModbusTable::Holding);
  EXPECT_EQ(temperature.address, 100u);
  EXPECT_EQ(temperature.wire_address, 100);
  EXPECT_EQ(temperature.type, fc::ValueType::Float32);
  EXPECT_EQ(temperature.register_count(), 2);
  EXPECT_EQ(temperature.order, fc::WordOrder::ABCD);
  EXPECT_EQ(temperature.unit, "°C");
  EXPECT_EQ(temperature.deadband, 0.2);
  EXPECT_FALSE(temperature.writable);
  const fc::ModbusPoint& setpoint = boiler.points[1];
  EXPECT_EQ(setpoint.scale, 0.1);
  EXPECT_EQ(setpoint.offset, 0.0);
  EXPECT_TRUE(setpoint.writable);
  EXPECT_EQ(boiler.points[2].bit, 3);
  EXPECT_EQ(boiler.points[3].table, fc::ModbusTable::Coil);
  EXPECT_EQ(boiler.points[3].overrides.qos, 1);
  EXPECT_FALSE(boiler.points[3].overrides.retain);

  const fc::ModbusDevice& meter = config.modbus[1];
  EXPECT_EQ(meter.transport, fc::ModbusTransport::Rtu);
  EXPECT_EQ(meter.serial, "/dev/ttyUSB0");
  EXPECT_EQ(meter.baud, 9600u);
  EXPECT_EQ(meter.parity, fc::Parity::None);
  EXPECT_EQ(meter.data_bits, 8);
  EXPECT_EQ(meter.stop_bits, 1);
  EXPECT_EQ(meter.unit_id, 7);
  EXPECT_EQ(meter.poll_ms, 5000u);
  EXPECT_EQ(meter.timeout_ms, 1000u);  // the documented default, not the 500 of "boiler"
  EXPECT_EQ(meter.points[0].order, fc::WordOrder::CDAB);
  EXPECT_EQ(meter.points[0].scale, 0.01);

  ASSERT_EQ(config.coap.size(), 1u);
  const fc::CoapDevice& climate = config.coap[0];
  EXPECT_EQ(climate.host, "fd00::12");
  EXPECT_EQ(climate.port, 5683);
  EXPECT_FALSE(climate.secure);
  EXPECT_EQ(climate.timeout_ms, 5000u);
  ASSERT_EQ(climate.points.size(), 2u);
  EXPECT_EQ(climate.points[0].mode, fc::CoapMode::Observe);
  EXPECT_EQ(climate.points[0].format, fc::CoapFormat::Json);
  EXPECT_EQ(climate.points[0].json_pointer, "/value");
  EXPECT_EQ(climate.points[0].type, fc::ValueType::Float64);
  EXPECT_EQ(climate.points[1].mode, fc::CoapMode::Poll);
  EXPECT_EQ(climate.points[1].poll_ms, 2000u);
  EXPECT_EQ(climate.points[1].type, fc::ValueType::Bool);
  EXPECT_TRUE(climate.points[1].writable);

  ASSERT_EQ(config.gpio.size(), 1u);
  const fc::GpioChip& io = config.gpio[0];
  EXPECT_EQ(io.chip, "gpiochip0");
  const fc::GpioPoint& door = io.points[0];
  EXPECT_EQ(door.line, 17u);
  EXPECT_EQ(door.direction, fc::GpioDirection::In);
  EXPECT_EQ(door.edge, fc::GpioEdge::Both);
  EXPECT_EQ(door.debounce_ms, 20u);
  EXPECT_TRUE(door.active_low);
  EXPECT_EQ(door.bias, fc::GpioBias::PullUp);
  const fc::GpioPoint& relay = io.points[1];
  EXPECT_EQ(relay.direction, fc::GpioDirection::Out);
  EXPECT_FALSE(relay.initial);
  EXPECT_TRUE(relay.writable);
}

// Every feature of the reference configuration runs: nothing is refused as not supported.
TEST(ConfigReference, EveryFeatureThisBuildCannotRunIsListed) {
  fc::Config config = fc::load(kReference);
  std::vector<std::string> listed;
  for (const auto& diagnostic : fc::unsupported_features(config))
    listed.push_back(diagnostic.to_string());
  EXPECT_EQ(listed, std::vector<std::string>{});
}

TEST(ConfigReference, SummaryShowsListenersDevicesTopicsAndBridges) {
  std::string text = fc::summary(fc::load(kReference));
  for (std::string_view expected : {
           "gateway gw1: state in /var/lib/fieldgate, log level info\n",
           "listeners (3):\n  0.0.0.0:1883  mqtt\n  0.0.0.0:8883  mqtt over TLS\n",
           "devices (4):\n",
           "  modbus  boiler   tcp 192.168.1.10:502, unit 1, every 1000 ms       4 points\n",
           "  gpio    io       gpiochip0                                         2 points\n",
           "points (9):\n",
           "  gw1/boiler/pump         modbus boiler.pump         qos 1, json, retained, writable "
           "(gw1/boiler/pump/set)\n",
           "  gw1/climate/humidity    coap climate.humidity      qos 0, json, retained, unit %\n",
           "bridges (1):\n  cloud: mqtts://mqtt.example.com:8883 as client gw1-bridge",
           "    in   gw1/+/+/set  local prefix \"\", remote prefix \"sites/plant7/\"  qos 1\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n"
                                                      << text;
  }
}

// ---- defaults -----------------------------------------------------------------------------

TEST(ConfigDefaults, EveryKeyLeftOut) {
  fc::Config config = fc::parse(R"(
[[broker.listener]]
bind = "127.0.0.1:1883"

[[bridge]]
name = "cloud"
url = "mqtt://broker.example.com"
  [[bridge.route]]
  direction = "in"
  local = "x/#"

[[modbus]]
name = "plc"
host = "10.0.0.1"
  [[modbus.point]]
  name = "p"
  table = "holding"
  address = 1
  type = "int32"

[[modbus]]
name = "rtu"
transport = "rtu"
serial = "/dev/ttyS0"
  [[modbus.point]]
  name = "p"
  table = "coil"
  address = 1
  type = "bool"

[[coap]]
name = "c"
url = "coaps://sensor.local"
psk_identity = "id"
psk_key = "key"
  [[coap.point]]
  name = "p"
  path = "/t"
  type = "float64"

[[gpio]]
name = "g"
chip = "gpiochip0"
  [[gpio.point]]
  name = "in"
  line = 1
  direction = "in"
  [[gpio.point]]
  name = "out"
  line = 2
  direction = "out"
)",
                                "/etc/fieldgate/fieldgate.toml");
  EXPECT_EQ(config.gateway.name, host_name());
  EXPECT_EQ(config.gateway.state_dir, "/var/lib/fieldgate");
  EXPECT_EQ(config.gateway.log_level, fc::LogLevel::Info);
  EXPECT_FALSE(config.gateway.keys.has("name"));

  const fc::Broker& broker = config.broker;
  EXPECT_TRUE(broker.enabled);
  EXPECT_TRUE(broker.persistence);
  EXPECT_EQ(broker.durability, fc::Durability::Process);
  EXPECT_FALSE(broker.allow_anonymous);
  EXPECT_FALSE(broker.password_file);
  EXPECT_FALSE(broker.acl_file);
  EXPECT_EQ(broker.max_connections, 10000u);
  EXPECT_EQ(broker.max_inflight_messages, 20u);
  EXPECT_EQ(broker.max_queued_messages, 100000u);
  EXPECT_EQ(broker.max_packet_size, 1048576u);
  EXPECT_EQ(broker.max_keepalive_s, 65535);
  EXPECT_EQ(broker.sys_interval_s, 10u);
  const fc::Listener& listener = broker.listeners.at(0);
  EXPECT_EQ(listener.protocol, fc::ListenerProtocol::Mqtt);
  EXPECT_FALSE(listener.tls_cert || listener.tls_key || listener.tls_ca);
  EXPECT_FALSE(listener.require_client_cert);
  EXPECT_FALSE(listener.use_identity_as_username);

  const fc::Bridge& bridge = config.bridges.at(0);
  EXPECT_FALSE(bridge.tls);
  EXPECT_EQ(bridge.port, 1883);
  EXPECT_EQ(bridge.client_id, host_name() + "-cloud");
  EXPECT_FALSE(bridge.username || bridge.password || bridge.password_env);
  EXPECT_EQ(bridge.keepalive_s, 60);
  EXPECT_FALSE(bridge.clean_session);
  EXPECT_EQ(bridge.queue_max_messages, 1000000u);
  EXPECT_EQ(bridge.queue_max_bytes, 268435456u);
  EXPECT_EQ(bridge.availability_topic, host_name() + "/availability");  // no out route
  const fc::BridgeRoute& route = bridge.routes.at(0);
  EXPECT_EQ(route.local_prefix, "");
  EXPECT_EQ(route.remote_prefix, "");
  EXPECT_EQ(route.qos, 0);

  EXPECT_EQ(config.mapping.topic, "{gateway}/{device}/{point}");
  EXPECT_EQ(config.mapping.payload, fc::PayloadFormat::Json);
  EXPECT_EQ(config.mapping.qos, 0);
  EXPECT_TRUE(config.mapping.retain);
  EXPECT_EQ(config.mapping.heartbeat_s, 0u);

  const fc::ModbusDevice& plc = config.modbus.at(0);
  EXPECT_EQ(plc.transport, fc::ModbusTransport::Tcp);
  EXPECT_EQ(plc.port, 502);
  EXPECT_EQ(plc.unit_id, 1);
  EXPECT_EQ(plc.address_base, 0);
  EXPECT_EQ(plc.poll_ms, 1000u);
  EXPECT_EQ(plc.timeout_ms, 1000u);
  EXPECT_EQ(plc.retries, 2u);
  const fc::ModbusPoint& point = plc.points.at(0);
  EXPECT_EQ(point.order, fc::WordOrder::ABCD);
  EXPECT_FALSE(point.bit);
  EXPECT_EQ(point.scale, 1.0);
  EXPECT_EQ(point.offset, 0.0);
  EXPECT_EQ(point.unit, "");
  EXPECT_FALSE(point.deadband);
  EXPECT_FALSE(point.writable);
  EXPECT_FALSE(point.overrides.topic || point.overrides.qos || point.overrides.retain ||
               point.overrides.payload);

  const fc::ModbusDevice& rtu = config.modbus.at(1);
  EXPECT_EQ(rtu.baud, 9600u);
  EXPECT_EQ(rtu.parity, fc::Parity::None);
  EXPECT_EQ(rtu.data_bits, 8);
  EXPECT_EQ(rtu.stop_bits, 1);

  const fc::CoapDevice& coap = config.coap.at(0);
  EXPECT_TRUE(coap.secure);
  EXPECT_EQ(coap.port, 5684);
  EXPECT_EQ(coap.timeout_ms, 5000u);
  EXPECT_EQ(coap.points.at(0).mode, fc::CoapMode::Observe);
  EXPECT_EQ(coap.points.at(0).format, fc::CoapFormat::Text);
  EXPECT_FALSE(coap.points.at(0).json_pointer);

  const fc::GpioPoint& input = config.gpio.at(0).points.at(0);
  EXPECT_EQ(input.edge, fc::GpioEdge::Both);
  EXPECT_EQ(input.debounce_ms, 0u);
  EXPECT_FALSE(input.active_low);
  EXPECT_FALSE(input.bias);
  EXPECT_FALSE(input.writable);
  EXPECT_FALSE(config.gpio.at(0).points.at(1).initial);
}

TEST(ConfigDefaults, PointsFallBackToMappingUnlessOverridden) {
  fc::Config config = fc::parse(R"(
[gateway]
name = "gw"
[mapping]
topic = "site/{protocol}/{device}/{point}"
payload = "value"
qos = 1
retain = false
heartbeat_s = 60
[[gpio]]
name = "io"
chip = "gpiochip0"
  [[gpio.point]]
  name = "a"
  line = 1
  direction = "in"
  [[gpio.point]]
  name = "b"
  line = 2
  direction = "in"
  topic = "custom/{point}"
  qos = 2
  retain = true
  payload = "json"
)",
                                "test.toml");
  std::vector<fc::ResolvedPoint> points = fc::resolved_points(config);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].topic, "site/gpio/io/a");
  EXPECT_EQ(points[0].qos, 1);
  EXPECT_FALSE(points[0].retain);
  EXPECT_EQ(points[0].payload, fc::PayloadFormat::Value);
  EXPECT_EQ(points[1].topic, "custom/b");
  EXPECT_EQ(points[1].qos, 2);
  EXPECT_TRUE(points[1].retain);
  EXPECT_EQ(points[1].payload, fc::PayloadFormat::Json);
  EXPECT_EQ(points[1].pos, (fc::SourcePos{17, 3}));
}

TEST(ConfigDefaults, BindAcceptsIpv6InBrackets) {
  fc::Config config = fc::parse("[[broker.listener]]\nbind = \"[::1]:1883\"\n", "test.toml");
  EXPECT_EQ(config.broker.listeners.at(0).host, "::1");
  EXPECT_EQ(config.broker.listeners.at(0).port, 1883);
}

TEST(ConfigDefaults, AddressBaseOneCountsFromOne) {
  fc::Config config = fc::parse(R"([[modbus]]
name = "m"
host = "h"
address_base = 1
  [[modbus.point]]
  name = "top"
  table = "holding"
  address = 65536
  type = "uint16"
)",
                                "test.toml");
  EXPECT_EQ(config.modbus.at(0).points.at(0).wire_address, 65535);
}

TEST(ConfigDefaults, IntegersAreAcceptedAsNumbers) {
  fc::Config config = fc::parse(R"([[modbus]]
name = "m"
host = "h"
  [[modbus.point]]
  name = "p"
  table = "input"
  address = 0
  type = "int16"
  scale = 2
  offset = -1
)",
                                "test.toml");
  EXPECT_EQ(config.modbus.at(0).points.at(0).scale, 2.0);
  EXPECT_EQ(config.modbus.at(0).points.at(0).offset, -1.0);
}

// ---- reading the file ---------------------------------------------------------------------

TEST(ConfigErrors, MissingFile) {
  try {
    fc::load("/nonexistent/fieldgate.toml");
    FAIL() << "loaded a file that does not exist";
  } catch (const fc::ConfigError& error) {
    EXPECT_STREQ(error.what(),
                 "/nonexistent/fieldgate.toml: cannot read: No such file or directory");
    ASSERT_EQ(error.diagnostics().size(), 1u);
    EXPECT_EQ(error.diagnostics()[0].line, 0u);
  }
}

TEST(ConfigErrors, UnreadableFile) {
  try {
    fc::load(kFixtures);  // a directory
    FAIL() << "loaded a directory";
  } catch (const fc::ConfigError& error) {
    EXPECT_EQ(std::string(error.what()), kFixtures.string() + ": cannot read: Is a directory");
  }
}

TEST(ConfigErrors, SyntaxErrorWithTomlPosition) {
  EXPECT_EQ(error_of("[broker]\nmax_connections = = 1\n"),
            "test.toml:2:19: Error while parsing value: could not determine value type");
  EXPECT_EQ(error_of("[broker]\nenabled = true\nenabled = false\n"),
            "test.toml:3:11: Error while parsing key-value pair: cannot redefine existing "
            "boolean 'enabled'");
}

// ---- types, unknown keys, enums, ranges, required keys -----------------------------------

TEST(ConfigErrors, WrongType) {
  EXPECT_EQ(error_of(with_listener("[broker]\nmax_connections = \"many\"\n")),
            "test.toml:2:1: broker.max_connections: expected an integer, got a string");
  EXPECT_EQ(error_of(with_listener("[broker]\nallow_anonymous = 1\n")),
            "test.toml:2:1: broker.allow_anonymous: expected a boolean, got an integer");
  EXPECT_EQ(error_of(with_listener("gateway = 3\n")),
            "test.toml:1:1: gateway: expected a table, got an integer");
  EXPECT_EQ(error_of(with_listener("[modbus]\nname = \"x\"\n")),
            "test.toml:1:2: modbus: expected an array of tables (written [[modbus]]), got a table");
}

TEST(ConfigErrors, UnknownKeyWithSuggestion) {
  EXPECT_EQ(error_of(R"([[modbus]]
name = "m"
host = "h"
pol_ms = 100
  [[modbus.point]]
  name = "p"
  table = "holding"
  address = 0
  type = "int16"
)"),
            "test.toml:4:1: modbus[m]: unknown key 'pol_ms'; did you mean 'poll_ms'?");
  EXPECT_EQ(error_of(with_listener("[gateway]\nlog_levle = \"info\"\n")),
            "test.toml:2:1: gateway: unknown key 'log_levle'; did you mean 'log_level'?");
  EXPECT_EQ(error_of(with_listener("[brokr]\n")),
            "test.toml:1:2: unknown top-level key 'brokr'; did you mean 'broker'?");
}

TEST(ConfigErrors, UnknownKeyWithoutSuggestionListsTheAllowedOnes) {
  EXPECT_EQ(error_of(with_listener("[gateway]\ncolour = \"blue\"\n")),
            "test.toml:2:1: gateway: unknown key 'colour'; allowed keys: name, state_dir, "
            "log_level");
}

TEST(ConfigErrors, EnumValueNotAllowed) {
  EXPECT_EQ(error_of(with_listener("[gateway]\nlog_level = \"verbose\"\n")),
            "test.toml:2:1: gateway.log_level: expected one of: trace, debug, info, warn, error; "
            "got \"verbose\"");
  EXPECT_EQ(error_of(R"([[modbus]]
name = "m"
host = "h"
  [[modbus.point]]
  name = "p"
  table = "holdings"
  address = 0
  type = "int16"
)"),
            "test.toml:6:3: modbus[m].point[p].table: expected one of: coil, discrete, holding, "
            "input; got \"holdings\"; did you mean \"holding\"?");
}

TEST(ConfigErrors, RequiredKeysMissing) {
  EXPECT_EQ(errors_of(R"([[modbus]]
host = "h"
  [[modbus.point]]
  name = "p"
  table = "holding"
)"),
            (std::vector<std::string>{
                "test.toml:1:1: modbus[0]: missing required key 'name'",
                "test.toml:3:3: modbus[0].point[p]: missing required key 'address'",
                "test.toml:3:3: modbus[0].point[p]: missing required key 'type'",
            }));
  EXPECT_EQ(error_of("[[broker.listener]]\nprotocol = \"mqtt\"\n"),
            "test.toml:1:1: broker.listener[0]: missing required key 'bind'");
}

TEST(ConfigErrors, BrokerLimitsOutOfRange) {
  EXPECT_EQ(
      error_of(with_listener("[broker]\nmax_packet_size = 1\n")),
      "test.toml:2:1: broker.max_packet_size: expected an integer from 2 to 268435455, got 1");
  EXPECT_EQ(error_of(with_listener("[broker]\nmax_packet_size = 268435456\n")),
            "test.toml:2:1: broker.max_packet_size: expected an integer from 2 to 268435455, got "
            "268435456");
  EXPECT_EQ(error_of(with_listener("[broker]\nmax_connections = 0\n")),
            "test.toml:2:1: broker.max_connections: expected an integer from 1 to 1000000, got 0");
  EXPECT_EQ(error_of(with_listener("[mapping]\nqos = 3\n")),
            "test.toml:2:1: mapping.qos: expected an integer from 0 to 2, got 3");
}

TEST(ConfigErrors, ListenerBind) {
  EXPECT_EQ(error_of("[[broker.listener]]\nbind = \"0.0.0.0:70000\"\n"),
            "test.toml:2:1: broker.listener[0].bind: expected \"HOST:PORT\" (IPv6 as "
            "\"[::1]:1883\"), got \"0.0.0.0:70000\": the port must be from 1 to 65535, got 70000");
  EXPECT_EQ(error_of("[[broker.listener]]\nbind = \"0.0.0.0\"\n"),
            "test.toml:2:1: broker.listener[0].bind: expected \"HOST:PORT\" (IPv6 as "
            "\"[::1]:1883\"), got \"0.0.0.0\": the port is missing");
  EXPECT_EQ(error_of("[[broker.listener]]\nbind = \"::1:1883\"\n"),
            "test.toml:2:1: broker.listener[0].bind: expected \"HOST:PORT\" (IPv6 as "
            "\"[::1]:1883\"), got \"::1:1883\": an IPv6 address must be written in brackets, "
            "e.g. [::1]:1883");
}

// A modbus device around one point, the point's keys starting on line 8.
std::string modbus_point(std::string_view point_keys, std::string_view device_keys = "") {
  return "[[modbus]]\nname = \"m\"\nhost = \"h\"\n" + std::string(device_keys) +
         "  [[modbus.point]]\n  name = \"p\"\n" + std::string(point_keys);
}

TEST(ConfigErrors, ModbusPointRanges) {
  EXPECT_EQ(
      error_of(modbus_point("  table = \"holding\"\n  address = 65536\n  type = \"uint16\"\n")),
      "test.toml:7:3: modbus[m].point[p].address: expected an integer from 0 to 65535 with "
      "address_base = 0, got 65536");
  EXPECT_EQ(error_of(modbus_point("  table = \"holding\"\n  address = 0\n  type = \"uint16\"\n",
                                  "address_base = 1\n")),
            "test.toml:8:3: modbus[m].point[p].address: expected an integer from 1 to 65536 with "
            "address_base = 1, got 0");
  EXPECT_EQ(
      error_of(modbus_point("  table = \"holding\"\n  address = 65534\n  type = \"float64\"\n")),
      "test.toml:7:3: modbus[m].point[p].address: a float64 of 4 registers at 65534 runs past "
      "the last register");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"holding\"\n  address = 0\n  type = \"bool\"\n  bit = 16\n")),
            "test.toml:9:3: modbus[m].point[p].bit: expected an integer from 0 to 15, got 16");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"holding\"\n  address = 0\n  type = \"int16\"\n  scale = 0\n")),
            "test.toml:9:3: modbus[m].point[p].scale: must not be 0");
  EXPECT_EQ(error_of(modbus_point("  table = \"holding\"\n  address = 0\n  type = \"int16\"\n",
                                  "poll_ms = 0\n")),
            "test.toml:4:1: modbus[m].poll_ms: expected an integer from 1 to 2147483647, got 0");
  EXPECT_EQ(
      error_of(modbus_point("  table = \"holding\"\n  address = 0\n  type = \"int16\"\n",
                            "timeout_ms = -5\n")),
      "test.toml:4:1: modbus[m].timeout_ms: expected an integer from 1 to 2147483647, got -5");
  EXPECT_EQ(error_of(modbus_point("  table = \"holding\"\n  address = 0\n  type = \"int16\"\n",
                                  "unit_id = 256\n")),
            "test.toml:4:1: modbus[m].unit_id: expected an integer from 0 to 255, got 256");
}

TEST(ConfigErrors, ModbusPointKeysThatDependOnTableAndType) {
  EXPECT_EQ(error_of(modbus_point("  table = \"coil\"\n  address = 0\n  type = \"int16\"\n")),
            "test.toml:8:3: modbus[m].point[p].type: a coil point must be type \"bool\", got "
            "\"int16\"");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"input\"\n  address = 0\n  type = \"int16\"\n  writable = true\n")),
            "test.toml:9:3: modbus[m].point[p].writable: only coil and holding points can be "
            "written, not input points");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"holding\"\n  address = 0\n  type = \"int16\"\n  bit = 2\n")),
            "test.toml:9:3: modbus[m].point[p].bit: only for bool points in holding or input "
            "registers");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"discrete\"\n  address = 0\n  type = \"bool\"\n  bit = 2\n")),
            "test.toml:9:3: modbus[m].point[p].bit: only for bool points in holding or input "
            "registers");
  EXPECT_EQ(error_of(modbus_point("  table = \"holding\"\n  address = 0\n  type = \"string\"\n")),
            "test.toml:4:3: modbus[m].point[p]: missing required key 'length' (registers of a "
            "string point)");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"holding\"\n  address = 0\n  type = \"int32\"\n  length = 2\n")),
            "test.toml:9:3: modbus[m].point[p].length: only for type \"string\"");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"holding\"\n  address = 0\n  type = \"uint16\"\n  order = \"CDAB\"\n")),
            "test.toml:9:3: modbus[m].point[p].order: only for types that span several registers "
            "(32- and 64-bit types and string), not \"uint16\"");
  EXPECT_EQ(error_of(modbus_point(
                "  table = \"holding\"\n  address = 0\n  type = \"bool\"\n  scale = 2\n")),
            "test.toml:9:3: modbus[m].point[p].scale: only for numeric types, not \"bool\"");
}

TEST(ConfigErrors, ModbusTransportKeys) {
  EXPECT_EQ(error_of(modbus_point("  table = \"holding\"\n  address = 0\n  type = \"int16\"\n",
                                  "baud = 19200\n")),
            "test.toml:4:1: modbus[m].baud: only for transport = \"rtu\"; this device uses tcp");
  EXPECT_EQ(errors_of(R"([[modbus]]
name = "m"
transport = "rtu"
host = "h"
unit_id = 0
  [[modbus.point]]
  name = "p"
  table = "holding"
  address = 0
  type = "int16"
)"),
            (std::vector<std::string>{
                "test.toml:1:1: modbus[m]: missing required key 'serial' (transport is \"rtu\")",
                "test.toml:4:1: modbus[m].host: only for transport = \"tcp\"; this device uses rtu",
                "test.toml:5:1: modbus[m].unit_id: expected an integer from 1 to 247 on an rtu "
                "line, got 0",
            }));
}

TEST(ConfigErrors, ModbusDevicesSharingALine) {
  std::string point =
      "  [[modbus.point]]\n  name = \"p\"\n  table = \"input\"\n  address = 0\n"
      "  type = \"int16\"\n";
  std::string text = "[[modbus]]\nname = \"a\"\ntransport = \"rtu\"\nserial = \"/dev/ttyUSB0\"\n" +
                     point +  // lines 1-9
                     "[[modbus]]\nname = \"b\"\ntransport = \"rtu\"\nserial = \"/dev/ttyUSB0\"\n"
                     "baud = 19200\nparity = \"E\"\nunit_id = 1\n" +
                     point;  // lines 10-21
  EXPECT_EQ(errors_of(text),
            (std::vector<std::string>{
                "test.toml:14:1: modbus[b].baud: /dev/ttyUSB0 is already used with baud 9600 by "
                "modbus[a] (line 1); devices on one serial line must share its settings",
                "test.toml:15:1: modbus[b].parity: /dev/ttyUSB0 is already used with parity \"N\" "
                "by modbus[a] (line 1); devices on one serial line must share its settings",
                "test.toml:16:1: modbus[b].unit_id: unit 1 on /dev/ttyUSB0 is already used by "
                "modbus[a] (line 1)",
            }));
  std::string tcp = "[[modbus]]\nname = \"a\"\nhost = \"10.0.0.1\"\nunit_id = 3\n" + point +
                    "[[modbus]]\nname = \"b\"\nhost = \"10.0.0.1\"\nunit_id = 3\n" + point;
  EXPECT_EQ(error_of(tcp),
            "test.toml:13:1: modbus[b].unit_id: unit 3 on 10.0.0.1:502 is already used by "
            "modbus[a] (line 1)");
}

TEST(ConfigErrors, DuplicateNames) {
  EXPECT_EQ(errors_of(R"([[modbus]]
name = "boiler"
host = "h"
  [[modbus.point]]
  name = "t"
  table = "input"
  address = 0
  type = "int16"
  [[modbus.point]]
  name = "t"
  table = "input"
  address = 1
  type = "int16"
[[gpio]]
name = "boiler"
chip = "gpiochip0"
  [[gpio.point]]
  name = "x"
  line = 1
  direction = "in"
)"),
            (std::vector<std::string>{
                "test.toml:10:3: modbus[boiler].point[t].name: point name \"t\" is already used "
                "in this device (line 4)",
                "test.toml:15:1: gpio[boiler].name: device name \"boiler\" is already used by "
                "modbus[boiler] (line 2)",
            }));
  EXPECT_EQ(error_of(R"([[broker.listener]]
bind = "0.0.0.0:1883"
[[broker.listener]]
bind = "0.0.0.0:1883"
)"),
            "test.toml:4:1: broker.listener[1].bind: \"0.0.0.0:1883\" is already used by "
            "broker.listener[0] (line 1)");
}

// A bridge named "b" with one out route (lines 4-6) and the given keys from line 3 on.
std::string bridge(std::string_view keys) {
  return with_listener("[[bridge]]\nname = \"b\"\n" + std::string(keys) +
                       "  [[bridge.route]]\n  direction = \"out\"\n  local = \"gw/#\"\n");
}

TEST(ConfigErrors, Bridge) {
  EXPECT_EQ(error_of(bridge("url = \"http://cloud\"\n")),
            "test.toml:3:1: bridge[b].url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], "
            "got \"http://cloud\": unsupported scheme");
  EXPECT_EQ(error_of(bridge("url = \"mqtt://cloud\"\npassword = \"x\"\npassword_env = \"Y\"\n")),
            "test.toml:5:1: bridge[b].password_env: set either password or password_env, not both");
  EXPECT_EQ(error_of(bridge("url = \"mqtt://cloud\"\ntls_ca = \"/etc/hostname\"\n")),
            "test.toml:4:1: bridge[b].tls_ca: only with an mqtts:// url");
  EXPECT_EQ(error_of(with_listener(R"([[bridge]]
name = "b"
url = "mqtts://cloud:8884"
  [[bridge.route]]
  direction = "sideways"
  local = "gw/#"
)")),
            "test.toml:5:3: bridge[b].route[0].direction: expected one of: out, in, both; got "
            "\"sideways\"");
  EXPECT_EQ(errors_of(with_listener(R"([[bridge]]
name = "b"
url = "mqtts://cloud:8884"
  [[bridge.route]]
  direction = "in"
  local = "gw/#/x"
  qos = 5
[[bridge]]
name = "b"
url = "mqtt://other"
)")),
            (std::vector<std::string>{
                "test.toml:6:3: bridge[b].route[0].local: \"gw/#/x\": '#' must be the last topic "
                "level",
                "test.toml:7:3: bridge[b].route[0].qos: expected an integer from 0 to 2, got 5",
                "test.toml:8:1: bridge[b]: no routes; add at least one [[bridge.route]]",
                "test.toml:9:1: bridge[b].name: bridge name \"b\" is already used (line 1)",
            }));
}

TEST(ConfigErrors, Coap) {
  std::string point = "  [[coap.point]]\n  name = \"p\"\n  path = \"/t\"\n  type = \"float64\"\n";
  EXPECT_EQ(error_of("[[coap]]\nname = \"c\"\nurl = \"http://x\"\n" + point),
            "test.toml:3:1: coap[c].url: expected coap://HOST[:PORT] or coaps://HOST[:PORT], got "
            "\"http://x\": unsupported scheme");
  EXPECT_EQ(error_of("[[coap]]\nname = \"c\"\nurl = \"coap://x\"\npsk_key = \"k\"\n" + point),
            "test.toml:4:1: coap[c].psk_key: only with a coaps:// url");
  EXPECT_EQ(error_of("[[coap]]\nname = \"c\"\nurl = \"coaps://x\"\npsk_key = \"k\"\n" + point),
            "test.toml:1:1: coap[c]: missing required key 'psk_identity' (a coaps:// url needs "
            "psk_identity and psk_key)");
  EXPECT_EQ(error_of("[[coap]]\nname = \"c\"\nurl = \"coap://x\"\n" + point +
                     "  json_pointer = \"/v\"\n"),
            "test.toml:8:3: coap[c].point[p].json_pointer: only with format = \"json\"");
  EXPECT_EQ(error_of("[[coap]]\nname = \"c\"\nurl = \"coap://x\"\n" + point +
                     "  format = \"json\"\n  json_pointer = \"v\"\n"),
            "test.toml:9:3: coap[c].point[p].json_pointer: must start with '/' (e.g. \"/value\"), "
            "got \"v\"");
  EXPECT_EQ(error_of("[[coap]]\nname = \"c\"\nurl = \"coap://x\"\n" + point + "  poll_ms = 10\n"),
            "test.toml:8:3: coap[c].point[p].poll_ms: only with mode = \"poll\"");
}

TEST(ConfigErrors, Gpio) {
  std::string chip =
      "[[gpio]]\nname = \"g\"\nchip = \"gpiochip0\"\n  [[gpio.point]]\n"
      "  name = \"p\"\n  line = 4\n";
  EXPECT_EQ(error_of(chip + "  direction = \"in\"\n  writable = true\n"),
            "test.toml:8:3: gpio[g].point[p].writable: only outputs (direction = \"out\") can be "
            "written");
  EXPECT_EQ(error_of(chip + "  direction = \"in\"\n  initial = true\n"),
            "test.toml:8:3: gpio[g].point[p].initial: only for outputs (direction = \"out\")");
  EXPECT_EQ(errors_of(chip + "  direction = \"out\"\n  edge = \"rising\"\n  bias = \"pull-up\"\n"),
            (std::vector<std::string>{
                "test.toml:8:3: gpio[g].point[p].edge: only for inputs (direction = \"in\")",
                "test.toml:9:3: gpio[g].point[p].bias: only for inputs (direction = \"in\")",
            }));
  EXPECT_EQ(error_of(chip + "  direction = \"in\"\n  [[gpio.point]]\n  name = \"q\"\n  line = 4\n"
                            "  direction = \"in\"\n"),
            "test.toml:10:3: gpio[g].point[q].line: line 4 of gpiochip0 is already used by "
            "gpio[g].point[p] (line 4)");
}

TEST(ConfigErrors, FilesThatMustBeRead) {
  EXPECT_EQ(error_of(with_listener("[broker]\npassword_file = \"/nonexistent/passwd\"\n")),
            "test.toml:2:1: broker.password_file: /nonexistent/passwd: No such file or directory; "
            "create it with `fieldgate passwd /nonexistent/passwd USER`");
  EXPECT_EQ(error_of(with_listener("[broker]\nacl_file = \"/nonexistent/acl\"\n")),
            "test.toml:2:1: broker.acl_file: /nonexistent/acl: No such file or directory; create "
            "it (Mosquitto ACL format) or remove acl_file");
  std::string tls = "[[broker.listener]]\nbind = \"0.0.0.0:8883\"\ntls_cert = \"" +
                    kFixtures.string() + "\"\ntls_key = \"" +
                    (kFixtures / "files/tls/server.key").string() + "\"\n";
  EXPECT_EQ(error_of(tls), "test.toml:3:1: broker.listener[0].tls_cert: " + kFixtures.string() +
                               ": Is a directory; point it at a PEM file the gateway can read");
}

TEST(ConfigErrors, RelativeFilesAreTakenFromTheConfigDirectory) {
  fc::Config config = fc::parse(with_listener("[broker]\npassword_file = \"files/passwd\"\n"),
                                kFixtures / "inline.toml");
  EXPECT_EQ(config.broker.password_file, kFixtures / "files/passwd");
}

TEST(ConfigErrors, ListenerTlsKeysBelongTogether) {
  std::string cert = (kFixtures / "files/tls/server.crt").string();
  EXPECT_EQ(errors_of("[[broker.listener]]\nbind = \"0.0.0.0:8883\"\ntls_cert = \"" + cert +
                      "\"\nrequire_client_cert = true\nuse_identity_as_username = true\n"),
            (std::vector<std::string>{
                "test.toml:1:1: broker.listener[0]: missing required key 'tls_key' (tls_cert "
                "needs it)",
                "test.toml:4:1: broker.listener[0].require_client_cert: needs tls_ca (the CA "
                "that signs client certificates)",
            }));
}

TEST(ConfigErrors, NothingToDo) {
  EXPECT_EQ(error_of(""),
            "test.toml: a config needs at least one listener or one device: the broker is enabled "
            "but has no [[broker.listener]], and there is no [[modbus]], [[coap]] or [[gpio]] "
            "device");
  EXPECT_EQ(error_of("[broker]\nenabled = false\n"),
            "test.toml: a config needs at least one listener or one device: the broker is "
            "disabled, and there is no [[modbus]], [[coap]] or [[gpio]] device");
}

TEST(ConfigErrors, TopicTemplates) {
  EXPECT_EQ(error_of(with_listener("[mapping]\ntopic = \"{gateway}/{devce}/{point}\"\n")),
            "test.toml:2:1: mapping.topic: \"{gateway}/{devce}/{point}\": unknown variable "
            "{devce}; use {gateway}, {protocol}, {device} or {point} (did you mean {device}?)");
  EXPECT_EQ(error_of(with_listener("[mapping]\ntopic = \"{gateway}/+/{point}\"\n")),
            "test.toml:2:1: mapping.topic: \"{gateway}/+/{point}\": '+' is a wildcard and cannot "
            "be part of a topic name");
  EXPECT_EQ(error_of(modbus_point("  table = \"input\"\n  address = 0\n  type = \"int16\"\n"
                                  "  topic = \"x/{point\"\n")),
            "test.toml:9:3: modbus[m].point[p].topic: \"x/{point\": '{' without a matching '}'");
  EXPECT_EQ(error_of(modbus_point("  table = \"input\"\n  address = 0\n  type = \"int16\"\n"
                                  "  topic = \"fixed\"\n"
                                  "  [[modbus.point]]\n  name = \"q\"\n  table = \"input\"\n"
                                  "  address = 1\n  type = \"int16\"\n  topic = \"fixed\"\n")),
            "test.toml:10:3: modbus[m].point[q]: topic \"fixed\" is also the topic of "
            "modbus[m].point[p] (line 4)");
  EXPECT_EQ(error_of(with_listener("[gateway]\nname = \"a/b\"\n")),
            "test.toml:2:1: gateway.name: \"a/b\" cannot be used in topics: a name must not be "
            "empty or contain '/', '+' or '#'");
}

TEST(ConfigTopics, RenderTopic) {
  fc::TopicVars vars{"gw1", "modbus", "boiler", "temperature"};
  EXPECT_EQ(fc::render_topic("{gateway}/{device}/{point}", vars), "gw1/boiler/temperature");
  EXPECT_EQ(fc::render_topic("plant/{protocol}/{device}-{point}/v", vars),
            "plant/modbus/boiler-temperature/v");
  EXPECT_EQ(fc::render_topic("literal/topic", vars), "literal/topic");
  EXPECT_FALSE(fc::check_topic_template("{gateway}/{protocol}/{device}/{point}"));
  EXPECT_EQ(fc::check_topic_template("a/#"),
            "'#' is a wildcard and cannot be part of a topic name");
  EXPECT_EQ(fc::check_topic_template("$SYS/x"),
            "a topic must not start with '$' (reserved for the broker's own topics)");
  EXPECT_EQ(fc::check_topic_template(""), "a topic must not be empty");
}

// ---- several errors at once ---------------------------------------------------------------

TEST(ConfigErrors, EveryErrorIsReportedInFileOrder) {
  const std::string_view text = R"([gateway]
log_level = "loud"
[broker]
max_connections = "many"
max_inflight = 5
[[broker.listener]]
bind = "0.0.0.0:0"
[[modbus]]
name = "m"
host = "h"
  [[modbus.point]]
  name = "p"
  table = "coil"
  address = 0
  type = "float32"
)";
  std::vector<std::string> expected = {
      "test.toml:2:1: gateway.log_level: expected one of: trace, debug, info, warn, error; got "
      "\"loud\"",
      "test.toml:4:1: broker.max_connections: expected an integer, got a string",
      "test.toml:5:1: broker: unknown key 'max_inflight'; allowed keys: enabled, persistence, "
      "durability, allow_anonymous, password_file, acl_file, max_connections, "
      "max_inflight_messages, max_queued_messages, max_packet_size, max_keepalive_s, "
      "sys_interval_s, persistent_session_expiry_s, listener",
      "test.toml:7:1: broker.listener[0].bind: expected \"HOST:PORT\" (IPv6 as \"[::1]:1883\"), "
      "got \"0.0.0.0:0\": the port must be from 1 to 65535, got 0",
      "test.toml:15:3: modbus[m].point[p].type: a coil point must be type \"bool\", got "
      "\"float32\"",
  };
  EXPECT_EQ(errors_of(text), expected);
  try {
    fc::parse(text, "test.toml");
  } catch (const fc::ConfigError& error) {
    std::string joined;
    for (const auto& line : expected)
      joined += (joined.empty() ? "" : "\n") + line;
    EXPECT_EQ(error.what(), joined);
  }
}

// ---- unsupported features -----------------------------------------------------------------

TEST(ConfigUnsupported, PlainMqttListenersAndLimitsRun) {
  fc::Config config = fc::parse(R"([gateway]
name = "gw"
[broker]
allow_anonymous = true
persistence = false
max_connections = 50
sys_interval_s = 0
[[broker.listener]]
bind = "127.0.0.1:1883"
protocol = "mqtt"
[mapping]
qos = 1
)",
                                "test.toml");
  EXPECT_TRUE(fc::unsupported_features(config).empty());
}

TEST(ConfigUnsupported, PersistenceAndDurabilityRun) {
  fc::Config config =
      fc::parse(with_listener("[broker]\npersistence = true\ndurability = \"power\"\n"
                              "persistent_session_expiry_s = 86400\n"),
                "test.toml");
  EXPECT_EQ(config.broker.durability, fc::Durability::Power);
  EXPECT_EQ(config.broker.persistent_session_expiry_s, 86400u);
  EXPECT_TRUE(fc::unsupported_features(config).empty());
}
