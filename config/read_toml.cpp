// TOML -> Config. The only file that includes toml++ (it is slow to compile).
//
// Each table has a list of the keys it allows and a reader function that takes its keys one by
// one, checking the type, the range of single values and the spelling of enums. Rules that
// involve several keys live in validate.cpp.
#include <toml++/toml.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "config/internal.h"

namespace fieldgate::config {
namespace {

// ---- the keys each table allows -----------------------------------------------------------

using KeyList = std::span<const std::string_view>;

constexpr std::string_view kTopLevelKeys[] = {"gateway", "broker", "bridge", "mapping",
                                              "modbus",  "coap",   "gpio"};
constexpr std::string_view kGatewayKeys[] = {"name", "state_dir", "log_level"};
constexpr std::string_view kBrokerKeys[] = {"enabled",
                                            "persistence",
                                            "durability",
                                            "allow_anonymous",
                                            "password_file",
                                            "acl_file",
                                            "max_connections",
                                            "max_inflight_messages",
                                            "max_queued_messages",
                                            "max_packet_size",
                                            "max_keepalive_s",
                                            "sys_interval_s",
                                            "persistent_session_expiry_s",
                                            "listener"};
constexpr std::string_view kListenerKeys[] = {"bind",
                                              "protocol",
                                              "tls_cert",
                                              "tls_key",
                                              "tls_ca",
                                              "require_client_cert",
                                              "use_identity_as_username"};
constexpr std::string_view kBridgeKeys[] = {"name",
                                            "url",
                                            "client_id",
                                            "username",
                                            "password",
                                            "password_env",
                                            "tls_ca",
                                            "tls_cert",
                                            "tls_key",
                                            "keepalive_s",
                                            "clean_session",
                                            "queue_max_messages",
                                            "queue_max_bytes",
                                            "availability_topic",
                                            "route"};
constexpr std::string_view kRouteKeys[] = {"direction", "local", "local_prefix", "remote_prefix",
                                           "qos"};
constexpr std::string_view kMappingKeys[] = {"topic", "payload", "qos", "retain", "heartbeat_s"};
constexpr std::string_view kModbusKeys[] = {"name",       "transport", "host",         "port",
                                            "serial",     "baud",      "parity",       "data_bits",
                                            "stop_bits",  "unit_id",   "address_base", "poll_ms",
                                            "timeout_ms", "retries",   "point"};
constexpr std::string_view kModbusPointKeys[] = {
    "name",   "table", "address",  "type",     "length", "order", "bit",    "scale",
    "offset", "unit",  "deadband", "writable", "topic",  "qos",   "retain", "payload"};
constexpr std::string_view kCoapKeys[] = {"name",    "url",        "psk_identity",
                                          "psk_key", "timeout_ms", "point"};
constexpr std::string_view kCoapPointKeys[] = {
    "name",   "path", "mode",     "poll_ms",  "format", "json_pointer", "type",   "scale",
    "offset", "unit", "deadband", "writable", "topic",  "qos",          "retain", "payload"};
constexpr std::string_view kGpioKeys[] = {"name", "chip", "point"};
constexpr std::string_view kGpioPointKeys[] = {
    "name",    "line",     "direction", "edge", "debounce_ms", "active_low", "bias",
    "initial", "writable", "topic",     "qos",  "retain",      "payload"};

constexpr int64_t kMaxMilliseconds = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

// ---- reading one table --------------------------------------------------------------------

SourcePos position_of(const toml::source_region& region) {
  return SourcePos{region.begin.line, region.begin.column};
}

std::string_view type_phrase(toml::node_type type) {
  switch (type) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string join(std::span<const std::string_view> words) {
  std::string text;
  for (std::string_view word : words) {
    if (!text.empty()) text += ", ";
    text += word;
  }
  return text;
}

// What every reader of one file shares.
struct ReadContext {
  Diagnostics& diagnostics;
  std::filesystem::path base_dir;  // relative paths are taken from here
};

// Reads the keys of one table into struct fields. On construction it records where each key is
// and reports the keys the table does not allow. Each read_* leaves its output as it is (the
// default) when the key is absent, and reports a value of the wrong type or out of range.
class TableReader {
 public:
  TableReader(ReadContext& context, const toml::table& table, std::string path, KeyList allowed,
              KeyPositions& keys)
      : context_(context), table_(table), path_(std::move(path)), allowed_(allowed) {
    for (auto&& [key, node] : table_) {
      SourcePos pos = position_of(key.source());
      if (pos.line == 0) pos = position_of(node.source());
      keys.set(key.str(), pos);
      if (!is_allowed(key.str())) report_unknown_key(key.str(), pos);
    }
  }

  SourcePos pos() const { return position_of(table_.source()); }

  void require(std::initializer_list<std::string_view> required) {
    for (std::string_view key : required) {
      if (!table_.contains(key)) {
        error(pos(), path_ + ": missing required key '" + std::string(key) + "'");
      }
    }
  }

  void read(std::string_view key, bool& out) {
    if (const bool* value = typed_value<bool>(key, "a boolean")) out = *value;
  }
  void read(std::string_view key, std::optional<bool>& out) {
    if (const bool* value = typed_value<bool>(key, "a boolean")) out = *value;
  }
  void read(std::string_view key, std::string& out) {
    if (const std::string* value = typed_value<std::string>(key, "a string")) out = *value;
  }
  void read(std::string_view key, std::optional<std::string>& out) {
    if (const std::string* value = typed_value<std::string>(key, "a string")) out = *value;
  }

  void read_path(std::string_view key, std::filesystem::path& out) {
    if (auto value = path_value(key)) out = *value;
  }
  void read_path(std::string_view key, std::optional<std::filesystem::path>& out) {
    if (auto value = path_value(key)) out = *value;
  }

  template <class Int>
  void read_int(std::string_view key, Int& out, int64_t min, int64_t max) {
    if (auto value = int_value(key, min, max)) out = static_cast<Int>(*value);
  }
  template <class Int>
  void read_int(std::string_view key, std::optional<Int>& out, int64_t min, int64_t max) {
    if (auto value = int_value(key, min, max)) out = static_cast<Int>(*value);
  }

  void read_number(std::string_view key, double& out) {
    if (auto value = number_value(key)) out = *value;
  }
  void read_number(std::string_view key, std::optional<double>& out) {
    if (auto value = number_value(key)) out = *value;
  }

  template <class E, size_t N>
  void read_enum(std::string_view key, E& out, const EnumName<E> (&names)[N]) {
    if (auto value = enum_value(key, names)) out = *value;
  }
  template <class E, size_t N>
  void read_enum(std::string_view key, std::optional<E>& out, const EnumName<E> (&names)[N]) {
    if (auto value = enum_value(key, names)) out = *value;
  }

  // The table under `key` ([header] or inline), or nullptr when absent or not a table.
  const toml::table* table(std::string_view key) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    if (const toml::table* table = node->as_table()) return table;
    error_at(key, "expected a table, got " + std::string(type_phrase(node->type())));
    return nullptr;
  }

  // The tables of the array of tables under `key` (written [[header]]).
  std::vector<const toml::table*> tables(std::string_view key, std::string_view header) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return {};
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      error_at(key, "expected an array of tables (written [[" + std::string(header) + "]]), got " +
                        std::string(type_phrase(node->type())));
      return {};
    }
    std::vector<const toml::table*> result;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      if (const toml::table* table = element.as_table()) {
        result.push_back(table);
      } else {
        error(position_of(element.source()), key_path(key) + "[" + std::to_string(i) +
                                                 "]: expected a table, got " +
                                                 std::string(type_phrase(element.type())));
      }
    }
    return result;
  }

 private:
  std::string key_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  SourcePos key_pos(std::string_view key) const {
    for (auto&& [k, node] : table_) {
      if (k.str() == key) return position_of(k.source());
    }
    return pos();
  }
  void error(SourcePos pos, std::string message) {
    context_.diagnostics.error(pos, std::move(message));
  }
  void error_at(std::string_view key, const std::string& message) {
    error(key_pos(key), key_path(key) + ": " + message);
  }

  bool is_allowed(std::string_view key) const {
    for (std::string_view allowed : allowed_) {
      if (allowed == key) return true;
    }
    return false;
  }

  void report_unknown_key(std::string_view key, SourcePos pos) {
    std::string message = path_.empty() ? "unknown top-level key '" + std::string(key) + "'"
                                        : path_ + ": unknown key '" + std::string(key) + "'";
    if (auto close = closest_match(key, allowed_)) {
      message += "; did you mean '" + std::string(*close) + "'?";
    } else {
      message += "; allowed keys: " + join(allowed_);
    }
    error(pos, message);
  }

  // The value of `key` when present and of type T; reports a value of another type.
  template <class T>
  const T* typed_value(std::string_view key, std::string_view expected) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    if (const toml::value<T>* value = node->as<T>()) return &value->get();
    error_at(key, "expected " + std::string(expected) + ", got " +
                      std::string(type_phrase(node->type())));
    return nullptr;
  }

  std::optional<int64_t> int_value(std::string_view key, int64_t min, int64_t max) {
    const int64_t* value = typed_value<int64_t>(key, "an integer");
    if (value == nullptr) return std::nullopt;
    if (*value < min || *value > max) {
      error_at(key, "expected an integer from " + std::to_string(min) + " to " +
                        std::to_string(max) + ", got " + std::to_string(*value));
      return std::nullopt;
    }
    return *value;
  }

  // Integers are numbers too: `scale = 1` means 1.0.
  std::optional<double> number_value(std::string_view key) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return std::nullopt;
    std::optional<double> value;
    if (const auto* floating = node->as_floating_point()) value = floating->get();
    if (const auto* integer = node->as_integer()) value = static_cast<double>(integer->get());
    if (!value) {
      error_at(key, "expected a number, got " + std::string(type_phrase(node->type())));
    } else if (!std::isfinite(*value)) {
      error_at(key, "expected a finite number, got " + std::to_string(*value));
      value.reset();
    }
    return value;
  }

  std::optional<std::filesystem::path> path_value(std::string_view key) {
    const std::string* text = typed_value<std::string>(key, "a string (a file path)");
    if (text == nullptr) return std::nullopt;
    if (text->empty()) {
      error_at(key, "expected a file path, got an empty string");
      return std::nullopt;
    }
    std::filesystem::path path(*text);
    if (path.is_relative()) path = context_.base_dir / path;
    return path;
  }

  template <class E, size_t N>
  std::optional<E> enum_value(std::string_view key, const EnumName<E> (&names)[N]) {
    const std::string* text = typed_value<std::string>(key, "a string");
    if (text == nullptr) return std::nullopt;
    std::vector<std::string_view> spellings;
    for (const auto& entry : names) {
      if (entry.name == *text) return entry.value;
      spellings.push_back(entry.name);
    }
    std::string message = "expected one of: " + join(spellings) + "; got \"" + *text + "\"";
    if (auto close = closest_match(*text, spellings)) {
      message += "; did you mean \"" + std::string(*close) + "\"?";
    }
    error_at(key, message);
    return std::nullopt;
  }

  ReadContext& context_;
  const toml::table& table_;
  std::string path_;
  KeyList allowed_;
};

// The name written in an element of an array of tables, for naming it in messages.
std::string name_in(const toml::table& table) {
  return table["name"].value_or(std::string());
}

// ---- one reader per table -----------------------------------------------------------------

void read_gateway(ReadContext& context, const toml::table& table, Gateway& gateway) {
  TableReader reader(context, table, "gateway", kGatewayKeys, gateway.keys);
  gateway.pos = reader.pos();
  reader.read("name", gateway.name);
  reader.read_path("state_dir", gateway.state_dir);
  reader.read_enum("log_level", gateway.log_level, kLogLevelNames);
}

void read_listener(ReadContext& context, const toml::table& table, std::string path,
                   Listener& listener) {
  TableReader reader(context, table, std::move(path), kListenerKeys, listener.keys);
  listener.pos = reader.pos();
  reader.require({"bind"});
  reader.read("bind", listener.bind);
  reader.read_enum("protocol", listener.protocol, kListenerProtocolNames);
  reader.read_path("tls_cert", listener.tls_cert);
  reader.read_path("tls_key", listener.tls_key);
  reader.read_path("tls_ca", listener.tls_ca);
  reader.read("require_client_cert", listener.require_client_cert);
  reader.read("use_identity_as_username", listener.use_identity_as_username);
}

void read_broker(ReadContext& context, const toml::table& table, Broker& broker) {
  TableReader reader(context, table, "broker", kBrokerKeys, broker.keys);
  broker.pos = reader.pos();
  reader.read("enabled", broker.enabled);
  reader.read("persistence", broker.persistence);
  reader.read_enum("durability", broker.durability, kDurabilityNames);
  reader.read("allow_anonymous", broker.allow_anonymous);
  reader.read_path("password_file", broker.password_file);
  reader.read_path("acl_file", broker.acl_file);
  reader.read_int("max_connections", broker.max_connections, 1, 1000000);
  reader.read_int("max_inflight_messages", broker.max_inflight_messages, 1, 65535);
  reader.read_int("max_queued_messages", broker.max_queued_messages, 1, kMaxUint32);
  reader.read_int("max_packet_size", broker.max_packet_size, 2, 268435455);
  reader.read_int("max_keepalive_s", broker.max_keepalive_s, 1, 65535);
  reader.read_int("sys_interval_s", broker.sys_interval_s, 0, 86400);
  reader.read_int("persistent_session_expiry_s", broker.persistent_session_expiry_s, 0, kMaxUint32);
  auto listeners = reader.tables("listener", "broker.listener");
  for (size_t i = 0; i < listeners.size(); ++i) {
    read_listener(context, *listeners[i], element_name("broker.listener", "", i),
                  broker.listeners.emplace_back());
  }
}

void read_route(ReadContext& context, const toml::table& table, std::string path,
                BridgeRoute& route) {
  TableReader reader(context, table, std::move(path), kRouteKeys, route.keys);
  route.pos = reader.pos();
  reader.require({"direction", "local"});
  reader.read_enum("direction", route.direction, kRouteDirectionNames);
  reader.read("local", route.local);
  reader.read("local_prefix", route.local_prefix);
  reader.read("remote_prefix", route.remote_prefix);
  reader.read_int("qos", route.qos, 0, 2);
}

void read_bridge(ReadContext& context, const toml::table& table, const std::string& path,
                 Bridge& bridge) {
  TableReader reader(context, table, path, kBridgeKeys, bridge.keys);
  bridge.pos = reader.pos();
  reader.require({"name", "url"});
  reader.read("name", bridge.name);
  reader.read("url", bridge.url);
  reader.read("client_id", bridge.client_id);
  reader.read("username", bridge.username);
  reader.read("password", bridge.password);
  reader.read("password_env", bridge.password_env);
  reader.read_path("tls_ca", bridge.tls_ca);
  reader.read_path("tls_cert", bridge.tls_cert);
  reader.read_path("tls_key", bridge.tls_key);
  reader.read_int("keepalive_s", bridge.keepalive_s, 0, 65535);
  reader.read("clean_session", bridge.clean_session);
  reader.read_int("queue_max_messages", bridge.queue_max_messages, 1, kMaxInt64);
  reader.read_int("queue_max_bytes", bridge.queue_max_bytes, 1, kMaxInt64);
  reader.read("availability_topic", bridge.availability_topic);
  auto routes = reader.tables("route", "bridge.route");
  for (size_t i = 0; i < routes.size(); ++i) {
    read_route(context, *routes[i], element_name(path + ".route", "", i),
               bridge.routes.emplace_back());
  }
}

void read_mapping(ReadContext& context, const toml::table& table, Mapping& mapping) {
  TableReader reader(context, table, "mapping", kMappingKeys, mapping.keys);
  mapping.pos = reader.pos();
  reader.read("topic", mapping.topic);
  reader.read_enum("payload", mapping.payload, kPayloadFormatNames);
  reader.read_int("qos", mapping.qos, 0, 2);
  reader.read("retain", mapping.retain);
  reader.read_int("heartbeat_s", mapping.heartbeat_s, 0, kMaxUint32);
}

void read_overrides(TableReader& reader, PointOverrides& overrides) {
  reader.read("topic", overrides.topic);
  reader.read_int("qos", overrides.qos, 0, 2);
  reader.read("retain", overrides.retain);
  reader.read_enum("payload", overrides.payload, kPayloadFormatNames);
}

void read_modbus_point(ReadContext& context, const toml::table& table, std::string path,
                       ModbusPoint& point) {
  TableReader reader(context, table, std::move(path), kModbusPointKeys, point.keys);
  point.pos = reader.pos();
  reader.require({"name", "table", "address", "type"});
  reader.read("name", point.name);
  reader.read_enum("table", point.table, kModbusTableNames);
  reader.read_int("address", point.address, 0, 65536);
  reader.read_enum("type", point.type, kValueTypeNames);
  reader.read_int("length", point.length, 1, 125);
  reader.read_enum("order", point.order, kWordOrderNames);
  reader.read_int("bit", point.bit, 0, 15);
  reader.read_number("scale", point.scale);
  reader.read_number("offset", point.offset);
  reader.read("unit", point.unit);
  reader.read_number("deadband", point.deadband);
  reader.read("writable", point.writable);
  read_overrides(reader, point.overrides);
}

void read_modbus_device(ReadContext& context, const toml::table& table, const std::string& path,
                        ModbusDevice& device) {
  TableReader reader(context, table, path, kModbusKeys, device.keys);
  device.pos = reader.pos();
  reader.require({"name"});
  reader.read("name", device.name);
  reader.read_enum("transport", device.transport, kModbusTransportNames);
  reader.read("host", device.host);
  reader.read_int("port", device.port, 1, 65535);
  reader.read("serial", device.serial);
  reader.read_int("baud", device.baud, 1, 4000000);
  reader.read_enum("parity", device.parity, kParityNames);
  reader.read_int("data_bits", device.data_bits, 5, 8);
  reader.read_int("stop_bits", device.stop_bits, 1, 2);
  reader.read_int("unit_id", device.unit_id, 0, 255);
  reader.read_int("address_base", device.address_base, 0, 1);
  reader.read_int("poll_ms", device.poll_ms, 1, kMaxMilliseconds);
  reader.read_int("timeout_ms", device.timeout_ms, 1, kMaxMilliseconds);
  reader.read_int("retries", device.retries, 0, 100);
  auto points = reader.tables("point", "modbus.point");
  for (size_t i = 0; i < points.size(); ++i) {
    read_modbus_point(context, *points[i], element_name(path + ".point", name_in(*points[i]), i),
                      device.points.emplace_back());
  }
}

void read_coap_point(ReadContext& context, const toml::table& table, std::string path,
                     CoapPoint& point) {
  TableReader reader(context, table, std::move(path), kCoapPointKeys, point.keys);
  point.pos = reader.pos();
  reader.require({"name", "path", "type"});
  reader.read("name", point.name);
  reader.read("path", point.path);
  reader.read_enum("mode", point.mode, kCoapModeNames);
  reader.read_int("poll_ms", point.poll_ms, 1, kMaxMilliseconds);
  reader.read_enum("format", point.format, kCoapFormatNames);
  reader.read("json_pointer", point.json_pointer);
  reader.read_enum("type", point.type, kCoapValueTypeNames);
  reader.read_number("scale", point.scale);
  reader.read_number("offset", point.offset);
  reader.read("unit", point.unit);
  reader.read_number("deadband", point.deadband);
  reader.read("writable", point.writable);
  read_overrides(reader, point.overrides);
}

void read_coap_device(ReadContext& context, const toml::table& table, const std::string& path,
                      CoapDevice& device) {
  TableReader reader(context, table, path, kCoapKeys, device.keys);
  device.pos = reader.pos();
  reader.require({"name", "url"});
  reader.read("name", device.name);
  reader.read("url", device.url);
  reader.read("psk_identity", device.psk_identity);
  reader.read("psk_key", device.psk_key);
  reader.read_int("timeout_ms", device.timeout_ms, 1, kMaxMilliseconds);
  auto points = reader.tables("point", "coap.point");
  for (size_t i = 0; i < points.size(); ++i) {
    read_coap_point(context, *points[i], element_name(path + ".point", name_in(*points[i]), i),
                    device.points.emplace_back());
  }
}

void read_gpio_point(ReadContext& context, const toml::table& table, std::string path,
                     GpioPoint& point) {
  TableReader reader(context, table, std::move(path), kGpioPointKeys, point.keys);
  point.pos = reader.pos();
  reader.require({"name", "line", "direction"});
  reader.read("name", point.name);
  reader.read_int("line", point.line, 0, 65535);
  reader.read_enum("direction", point.direction, kGpioDirectionNames);
  reader.read_enum("edge", point.edge, kGpioEdgeNames);
  reader.read_int("debounce_ms", point.debounce_ms, 0, kMaxMilliseconds);
  reader.read("active_low", point.active_low);
  reader.read_enum("bias", point.bias, kGpioBiasNames);
  reader.read("initial", point.initial);
  reader.read("writable", point.writable);
  read_overrides(reader, point.overrides);
}

void read_gpio_chip(ReadContext& context, const toml::table& table, const std::string& path,
                    GpioChip& chip) {
  TableReader reader(context, table, path, kGpioKeys, chip.keys);
  chip.pos = reader.pos();
  reader.require({"name", "chip"});
  reader.read("name", chip.name);
  reader.read("chip", chip.chip);
  auto points = reader.tables("point", "gpio.point");
  for (size_t i = 0; i < points.size(); ++i) {
    read_gpio_point(context, *points[i], element_name(path + ".point", name_in(*points[i]), i),
                    chip.points.emplace_back());
  }
}

// Reads each table of the array `key` at the top level with `read_one`, into `out`.
template <class T, class ReadOne>
void read_array(TableReader& root, std::string_view key, std::vector<T>& out, ReadOne read_one) {
  auto tables = root.tables(key, key);
  for (size_t i = 0; i < tables.size(); ++i) {
    read_one(*tables[i], element_name(key, name_in(*tables[i]), i), out.emplace_back());
  }
}

}  // namespace

std::optional<Config> read_toml(std::string_view text, const std::filesystem::path& base_dir,
                                Diagnostics& diagnostics) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(diagnostics.file().string()));
  } catch (const toml::parse_error& error) {
    diagnostics.error(position_of(error.source()), std::string(error.description()));
    return std::nullopt;
  }

  ReadContext context{diagnostics, base_dir};
  Config config;
  KeyPositions top_level_keys;
  TableReader reader(context, root, "", kTopLevelKeys, top_level_keys);
  if (const toml::table* table = reader.table("gateway")) {
    read_gateway(context, *table, config.gateway);
  }
  if (const toml::table* table = reader.table("broker")) {
    read_broker(context, *table, config.broker);
  }
  if (const toml::table* table = reader.table("mapping")) {
    read_mapping(context, *table, config.mapping);
  }
  read_array(reader, "bridge", config.bridges,
             [&](auto& table, auto path, auto& out) { read_bridge(context, table, path, out); });
  read_array(reader, "modbus", config.modbus, [&](auto& table, auto path, auto& out) {
    read_modbus_device(context, table, path, out);
  });
  read_array(reader, "coap", config.coap, [&](auto& table, auto path, auto& out) {
    read_coap_device(context, table, path, out);
  });
  read_array(reader, "gpio", config.gpio,
             [&](auto& table, auto path, auto& out) { read_gpio_chip(context, table, path, out); });
  return config;
}

}  // namespace fieldgate::config
