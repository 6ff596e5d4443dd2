// The gateway's configuration: one TOML file read into typed, validated structs.
//
// load() and parse() either return a Config in which every value is in range and every rule of
// shared/spec/fieldgate.example.toml holds (names unique, keys that belong together present,
// files that must be read readable, topic templates valid), or throw ConfigError listing every
// problem found, each with the FILE:LINE:COL where it was written. Nothing else in the gateway
// needs to check the config again.
//
// Defaults are the ones the reference file documents; a field's initializer below is its default.
// Relative paths in the file (password_file, tls_cert, state_dir, ...) are taken relative to the
// directory of the config file, and are stored resolved that way.
//
// Every table keeps where it was written (`pos`) and where each of its keys was set (`keys`), so
// later stages (start-up, reload, unsupported_features) can point at the line that asked for
// something.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fieldgate::config {

// A place in the config file. Lines and columns count from 1; 0 means "not written in the file".
struct SourcePos {
  uint32_t line = 0;
  uint32_t column = 0;
  friend bool operator==(const SourcePos&, const SourcePos&) = default;
};

// Where each key of one table was set. A key that is absent was left to its default.
class KeyPositions {
 public:
  void set(std::string_view key, SourcePos pos);
  bool has(std::string_view key) const;
  // The position of `key`, or std::nullopt when the file does not set it.
  std::optional<SourcePos> at(std::string_view key) const;

 private:
  // A table sets a handful of keys: a flat vector costs a third of a map (10,000 points keep
  // theirs in memory).
  std::vector<std::pair<std::string, SourcePos>> positions_;
};

// One problem found in a config file. line == 0 when it concerns the file as a whole.
struct Diagnostic {
  std::filesystem::path file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;

  // "FILE:LINE:COL: message", or "FILE: message" when there is no line.
  std::string to_string() const;
};

// Thrown by load() and parse(): every problem found, in file order. what() is every diagnostic
// formatted by Diagnostic::to_string(), one per line.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// ---- [gateway] ----------------------------------------------------------------------------

enum class LogLevel { Trace, Debug, Info, Warn, Error };

struct Gateway {
  std::string name;  // {gateway} in topics; default: the host name (gethostname)
  std::filesystem::path state_dir = "/var/lib/fieldgate";  // fieldgate.db lives here
  LogLevel log_level = LogLevel::Info;
  SourcePos pos;
  KeyPositions keys;
};

// ---- [broker] and [[broker.listener]] -----------------------------------------------------

enum class Durability { Process, Power };
enum class ListenerProtocol { Mqtt, Websockets };

struct Listener {
  std::string bind;   // as written: "HOST:PORT" or "[IPV6]:PORT"
  std::string host;   // from bind, without the brackets of an IPv6 address
  uint16_t port = 0;  // from bind, 1..65535
  ListenerProtocol protocol = ListenerProtocol::Mqtt;
  std::optional<std::filesystem::path> tls_cert;  // set: the listener speaks TLS
  std::optional<std::filesystem::path> tls_key;   // set exactly when tls_cert is
  std::optional<std::filesystem::path> tls_ca;
  bool require_client_cert = false;       // needs tls_ca
  bool use_identity_as_username = false;  // needs require_client_cert
  bool tls() const { return tls_cert.has_value(); }
  SourcePos pos;
  KeyPositions keys;
};

struct Broker {
  bool enabled = true;
  bool persistence = true;
  Durability durability = Durability::Process;
  bool allow_anonymous = false;
  std::optional<std::filesystem::path> password_file;  // Mosquitto format
  std::optional<std::filesystem::path> acl_file;       // Mosquitto ACL format
  uint32_t max_connections = 10000;
  uint32_t max_inflight_messages = 20;  // 1..65535 (MQTT 5 receive maximum)
  uint32_t max_queued_messages = 100000;
  uint32_t max_packet_size = 1048576;  // 2..268435455
  uint16_t max_keepalive_s = 65535;    // 1..65535
  uint32_t sys_interval_s = 10;        // 0: no $SYS statistics
  // Persistent sessions whose client has been away this long are removed; 0: never.
  uint32_t persistent_session_expiry_s = 0;
  std::vector<Listener> listeners;
  SourcePos pos;
  KeyPositions keys;
};

// ---- [[bridge]] and [[bridge.route]] ------------------------------------------------------

enum class RouteDirection { Out, In, Both };

struct BridgeRoute {
  RouteDirection direction = RouteDirection::Out;  // required in the file
  std::string local;                               // a local topic filter; required
  std::string local_prefix;                        // default: empty
  std::string remote_prefix;                       // default: empty
  uint8_t qos = 0;                                 // default: 0 (as Mosquitto's bridge)
  SourcePos pos;
  KeyPositions keys;
};

struct Bridge {
  std::string name;
  std::string url;        // as written: mqtt://HOST[:PORT] or mqtts://HOST[:PORT]
  bool tls = false;       // mqtts://
  std::string host;       // from url, without IPv6 brackets
  uint16_t port = 0;      // from url; default 1883 (mqtt) or 8883 (mqtts)
  std::string client_id;  // default: "<gateway.name>-<name>"
  std::optional<std::string> username;
  std::optional<std::string> password;          // at most one of password and password_env
  std::optional<std::string> password_env;      // the environment variable holding the password
  std::optional<std::filesystem::path> tls_ca;  // tls_* only with mqtts://
  std::optional<std::filesystem::path> tls_cert;
  std::optional<std::filesystem::path> tls_key;  // set exactly when tls_cert is
  uint16_t keepalive_s = 60;
  bool clean_session = false;
  uint64_t queue_max_messages = 1000000;
  uint64_t queue_max_bytes = 268435456;
  // Remote topic; default: the first out (or both) route's remote_prefix +
  // "<gateway>/availability".
  std::string availability_topic;
  std::vector<BridgeRoute> routes;  // at least one
  SourcePos pos;
  KeyPositions keys;
};

// ---- [mapping] and the per-point overrides ------------------------------------------------

enum class PayloadFormat { Json, Value };

struct Mapping {
  std::string topic = "{gateway}/{device}/{point}";  // a topic template, see render_topic()
  PayloadFormat payload = PayloadFormat::Json;
  uint8_t qos = 0;
  bool retain = true;
  uint32_t heartbeat_s = 0;  // 0: publish on change only
  SourcePos pos;
  KeyPositions keys;
};

// A point's own topic/qos/retain/payload; each one left unset falls back to [mapping].
struct PointOverrides {
  std::optional<std::string> topic;
  std::optional<uint8_t> qos;
  std::optional<bool> retain;
  std::optional<PayloadFormat> payload;
};

// The value types a point can carry. Modbus points use all of them; CoAP points use Bool,
// Int64, UInt64, Float64 and String; GPIO points are always Bool.
enum class ValueType {
  Bool,
  Int16,
  UInt16,
  Int32,
  UInt32,
  Int64,
  UInt64,
  Float32,
  Float64,
  String
};

// ---- [[modbus]] and [[modbus.point]] ------------------------------------------------------

enum class ModbusTransport { Tcp, Rtu };
enum class Parity { None, Even, Odd };
enum class ModbusTable { Coil, Discrete, Holding, Input };
enum class WordOrder { ABCD, CDAB, BADC, DCBA };

// Registers a value of `type` takes; `length` for strings (in registers).
uint16_t register_count(ValueType type, uint16_t length);

struct ModbusPoint {
  std::string name;
  ModbusTable table = ModbusTable::Holding;  // required in the file
  uint32_t address = 0;                      // as written; counts from the device's address_base
  uint16_t wire_address = 0;                 // address - address_base: what goes on the wire
  ValueType type = ValueType::UInt16;        // required in the file
  uint16_t length = 0;                       // registers; String only (required there)
  WordOrder order = WordOrder::ABCD;         // multi-register types only
  std::optional<uint8_t> bit;  // a Bool from one bit (0..15) of a holding/input register
  double scale = 1.0;          // value = raw * scale + offset; never 0
  double offset = 0.0;
  std::string unit;                // empty: none
  std::optional<double> deadband;  // unset: publish every change
  bool writable = false;           // Coil and Holding only
  PointOverrides overrides;
  // How many registers (or bits, for Coil and Discrete) the point spans: 1 for Bool and 16-bit
  // types, 2 for 32-bit, 4 for 64-bit, `length` for String.
  uint16_t register_count() const { return config::register_count(type, length); }
  SourcePos pos;
  KeyPositions keys;
};

struct ModbusDevice {
  std::string name;
  ModbusTransport transport = ModbusTransport::Tcp;
  std::string host;     // tcp only; required there
  uint16_t port = 502;  // tcp only
  std::string serial;   // rtu only; required there
  uint32_t baud = 9600;
  Parity parity = Parity::None;
  uint8_t data_bits = 8;     // 5..8
  uint8_t stop_bits = 1;     // 1 or 2
  uint8_t unit_id = 1;       // 0..255 over tcp, 1..247 over rtu
  uint8_t address_base = 0;  // 0: addresses as on the wire; 1: as device manuals print them
  uint32_t poll_ms = 1000;
  uint32_t timeout_ms = 1000;
  uint32_t retries = 2;
  std::vector<ModbusPoint> points;  // at least one
  SourcePos pos;
  KeyPositions keys;
};

// ---- [[coap]] and [[coap.point]] ----------------------------------------------------------

enum class CoapMode { Observe, Poll };
enum class CoapFormat { Text, Json };

struct CoapPoint {
  std::string name;
  std::string path;  // starts with '/'
  CoapMode mode = CoapMode::Observe;
  uint32_t poll_ms = 1000;  // Poll mode only
  CoapFormat format = CoapFormat::Text;
  std::optional<std::string> json_pointer;  // Json format only; starts with '/'
  ValueType type = ValueType::Float64;      // required in the file
  double scale = 1.0;
  double offset = 0.0;
  std::string unit;
  std::optional<double> deadband;
  bool writable = false;  // PUT
  PointOverrides overrides;
  SourcePos pos;
  KeyPositions keys;
};

struct CoapDevice {
  std::string name;
  std::string url;                          // as written: coap://HOST[:PORT] or coaps://HOST[:PORT]
  bool secure = false;                      // coaps://
  std::string host;                         // from url, without IPv6 brackets
  uint16_t port = 0;                        // from url; default 5683 (coap) or 5684 (coaps)
  std::optional<std::string> psk_identity;  // coaps only, with psk_key
  std::optional<std::string> psk_key;
  uint32_t timeout_ms = 5000;  // no answer for this long marks the device offline
  std::vector<CoapPoint> points;
  SourcePos pos;
  KeyPositions keys;
};

// ---- [[gpio]] and [[gpio.point]] ----------------------------------------------------------

enum class GpioDirection { In, Out };
enum class GpioEdge { Rising, Falling, Both };
enum class GpioBias { PullUp, PullDown, Disabled };

struct GpioPoint {
  std::string name;
  uint32_t line = 0;
  GpioDirection direction = GpioDirection::In;  // required in the file
  GpioEdge edge = GpioEdge::Both;               // inputs only
  uint32_t debounce_ms = 0;                     // inputs only
  bool active_low = false;
  std::optional<GpioBias> bias;  // inputs only; unset: leave the line's bias as it is
  bool initial = false;          // outputs only
  bool writable = false;         // outputs only
  PointOverrides overrides;
  SourcePos pos;
  KeyPositions keys;
};

struct GpioChip {
  std::string name;
  std::string chip;  // "gpiochip0" or a path such as "/dev/gpiochip0"
  std::vector<GpioPoint> points;
  SourcePos pos;
  KeyPositions keys;
};

// ---- the whole file -----------------------------------------------------------------------

struct Config {
  std::filesystem::path file;  // as given to load() or parse()
  Gateway gateway;
  Broker broker;
  std::vector<Bridge> bridges;
  Mapping mapping;
  std::vector<ModbusDevice> modbus;
  std::vector<CoapDevice> coap;
  std::vector<GpioChip> gpio;
};

// Reads and validates `file`. Throws ConfigError with every problem found, including
// "FILE: cannot read: REASON" when the file cannot be read.
Config load(const std::filesystem::path& file);

// As load(), on text already in memory; `name_for_messages` is the FILE of diagnostics and the
// base of relative paths.
Config parse(std::string_view toml_text, const std::filesystem::path& name_for_messages);

// ---- topics -------------------------------------------------------------------------------

struct TopicVars {
  std::string_view gateway;
  std::string_view protocol;  // "modbus", "coap" or "gpio"
  std::string_view device;
  std::string_view point;
};

// Replaces {gateway}, {protocol}, {device} and {point} in a template that
// check_topic_template() accepts; other text is copied as it is.
std::string render_topic(std::string_view topic_template, const TopicVars& vars);

// Why `topic_template` is not a valid template (an unknown or unclosed {variable}, '+' or '#',
// empty), or std::nullopt when it is valid.
std::optional<std::string> check_topic_template(std::string_view topic_template);

enum class Protocol { Modbus, Coap, Gpio };

// One point of any protocol with [mapping] applied: what the mapping publishes and where.
struct ResolvedPoint {
  Protocol protocol = Protocol::Modbus;
  std::string device;
  std::string point;
  std::string topic;  // rendered; commands arrive on topic + "/set"
  uint8_t qos = 0;
  bool retain = true;
  PayloadFormat payload = PayloadFormat::Json;
  bool writable = false;
  std::string unit;
  SourcePos pos;
};

// Every point of every device, in file order (modbus, then coap, then gpio).
std::vector<ResolvedPoint> resolved_points(const Config& config);

// ---- reports ------------------------------------------------------------------------------

// The one-screen summary `fieldgate check` prints for a valid config: listeners, devices,
// points with their topics, bridges and their routes.
std::string summary(const Config& config);

// What this build validates but cannot run yet, each at the position of the key (or table) that
// asks for it, with the message "not supported yet: KEY". `fieldgate run` refuses to start when
// the list is not empty.
std::vector<Diagnostic> unsupported_features(const Config& config);

// The spelling used in the config file, e.g. to_string(ModbusTable::Holding) == "holding".
std::string_view to_string(LogLevel value);
std::string_view to_string(Durability value);
std::string_view to_string(ListenerProtocol value);
std::string_view to_string(RouteDirection value);
std::string_view to_string(PayloadFormat value);
std::string_view to_string(ValueType value);
std::string_view to_string(ModbusTransport value);
std::string_view to_string(Parity value);
std::string_view to_string(ModbusTable value);
std::string_view to_string(WordOrder value);
std::string_view to_string(CoapMode value);
std::string_view to_string(CoapFormat value);
std::string_view to_string(GpioDirection value);
std::string_view to_string(GpioEdge value);
std::string_view to_string(GpioBias value);
std::string_view to_string(Protocol value);

}  // namespace fieldgate::config
