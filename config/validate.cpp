// The rules that span several keys, tables or the file system, and the fields derived from
// other keys (listener host and port, URLs, wire addresses, defaults such as the host name).
// Every message starts with the key it concerns and is placed at that key when the file sets it,
// else at its table.
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <set>

#include "config/internal.h"

namespace fieldgate::config {
namespace {

// Where `key` of `item` was set, or where `item` itself starts.
template <class Item>
SourcePos where(const Item& item, std::string_view key) {
  return item.keys.at(key).value_or(item.pos);
}

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string line_ref(SourcePos pos) {
  return "(line " + std::to_string(pos.line) + ")";
}

// ---- names, files, addresses --------------------------------------------------------------

// Names end up in topics, so they must be one non-empty topic level without wildcards.
bool is_valid_name(std::string_view name) {
  return !name.empty() && name.find_first_of("/+#") == std::string_view::npos;
}

// A name the file leaves out is reported as missing, or has a default that is valid.
template <class Item>
void check_name(const Item& item, const std::string& path, Diagnostics& diagnostics) {
  if (!item.keys.has("name") || is_valid_name(item.name)) return;
  diagnostics.error(where(item, "name"),
                    path + ".name: " + in_quotes(item.name) +
                        " cannot be used in topics: a name must not be empty or contain "
                        "'/', '+' or '#'");
}

// Why `file` cannot be read, or std::nullopt when it can.
std::optional<std::string> unreadable_reason(const std::filesystem::path& file) {
  if (::access(file.c_str(), R_OK) != 0) return std::strerror(errno);
  std::error_code error;
  if (std::filesystem::is_directory(file, error)) return std::strerror(EISDIR);
  return std::nullopt;
}

void check_readable(Diagnostics& diagnostics, SourcePos pos, const std::string& key_path,
                    const std::optional<std::filesystem::path>& file, std::string_view advice) {
  if (!file) return;
  if (auto reason = unreadable_reason(*file)) {
    diagnostics.error(
        pos, key_path + ": " + file->string() + ": " + *reason + "; " + std::string(advice));
  }
}

constexpr std::string_view kTlsFileAdvice = "point it at a PEM file the gateway can read";

struct HostPort {
  std::string host;
  std::optional<uint16_t> port;
};

// Splits "HOST", "HOST:PORT", "[IPV6]" or "[IPV6]:PORT"; on failure says why in `problem`.
std::optional<HostPort> split_host_port(std::string_view text, std::string& problem) {
  HostPort result;
  std::string_view rest;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      problem = "'[' without a matching ']'";
      return std::nullopt;
    }
    result.host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      problem = "expected ':PORT' after ']'";
      return std::nullopt;
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      problem = "an IPv6 address must be written in brackets, e.g. [::1]:1883";
      return std::nullopt;
    }
    result.host = text.substr(0, colon);
    if (colon != std::string_view::npos) rest = text.substr(colon);
  }
  if (result.host.empty()) {
    problem = "the host is empty";
    return std::nullopt;
  }
  if (rest.empty()) return result;
  std::string_view digits = rest.substr(1);
  unsigned port = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    problem = "the port " + in_quotes(digits) + " is not a number";
    return std::nullopt;
  }
  if (port < 1 || port > 65535) {
    problem = "the port must be from 1 to 65535, got " + std::string(digits);
    return std::nullopt;
  }
  result.port = static_cast<uint16_t>(port);
  return result;
}

struct Url {
  std::string scheme;
  HostPort authority;
};

// Splits "SCHEME://HOST[:PORT]" (a trailing '/' is allowed) for one of `schemes`.
std::optional<Url> split_url(std::string_view text, std::initializer_list<std::string_view> schemes,
                             std::string& problem) {
  size_t separator = text.find("://");
  Url url;
  if (separator != std::string_view::npos) url.scheme = text.substr(0, separator);
  bool known = false;
  for (std::string_view scheme : schemes)
    known = known || url.scheme == scheme;
  if (!known) {
    problem = "unsupported scheme";
    return std::nullopt;
  }
  std::string_view authority = text.substr(separator + 3);
  if (authority.ends_with('/')) authority.remove_suffix(1);
  auto host_port = split_host_port(authority, problem);
  if (!host_port) return std::nullopt;
  url.authority = *host_port;
  return url;
}

// ---- [gateway], [broker], listeners ---------------------------------------------------------

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0) return "fieldgate";
  return buffer;
}

void validate_gateway(Gateway& gateway, Diagnostics& diagnostics) {
  if (!gateway.keys.has("name")) gateway.name = host_name();
  check_name(gateway, "gateway", diagnostics);
}

void validate_listener(Listener& listener, const std::string& path, Diagnostics& diagnostics) {
  if (listener.keys.has("bind")) {
    std::string problem;
    auto host_port = split_host_port(listener.bind, problem);
    if (host_port && !host_port->port) problem = "the port is missing";
    if (host_port && host_port->port) {
      listener.host = host_port->host;
      listener.port = *host_port->port;
    } else {
      diagnostics.error(where(listener, "bind"),
                        path + ".bind: expected \"HOST:PORT\" (IPv6 as \"[::1]:1883\"), got " +
                            in_quotes(listener.bind) + ": " + problem);
    }
  }
  if (listener.tls_cert && !listener.tls_key) {
    diagnostics.error(listener.pos, path + ": missing required key 'tls_key' (tls_cert needs it)");
  }
  if (listener.tls_key && !listener.tls_cert) {
    diagnostics.error(where(listener, "tls_key"), path + ".tls_key: only with tls_cert");
  }
  if (listener.tls_ca && !listener.tls_cert) {
    diagnostics.error(where(listener, "tls_ca"),
                      path + ".tls_ca: only on a TLS listener (one with tls_cert)");
  }
  if (listener.require_client_cert && !listener.tls_ca) {
    diagnostics.error(where(listener, "require_client_cert"),
                      path +
                          ".require_client_cert: needs tls_ca (the CA that signs client "
                          "certificates)");
  }
  if (listener.use_identity_as_username && !listener.require_client_cert) {
    diagnostics.error(where(listener, "use_identity_as_username"),
                      path + ".use_identity_as_username: needs require_client_cert = true");
  }
  check_readable(diagnostics, where(listener, "tls_cert"), path + ".tls_cert", listener.tls_cert,
                 kTlsFileAdvice);
  check_readable(diagnostics, where(listener, "tls_key"), path + ".tls_key", listener.tls_key,
                 kTlsFileAdvice);
  check_readable(diagnostics, where(listener, "tls_ca"), path + ".tls_ca", listener.tls_ca,
                 kTlsFileAdvice);
}

void validate_broker(Broker& broker, Diagnostics& diagnostics) {
  if (broker.password_file) {
    check_readable(diagnostics, where(broker, "password_file"), "broker.password_file",
                   broker.password_file,
                   "create it with `fieldgate passwd " + broker.password_file->string() + " USER`");
  }
  check_readable(diagnostics, where(broker, "acl_file"), "broker.acl_file", broker.acl_file,
                 "create it (Mosquitto ACL format) or remove acl_file");
  if (!broker.enabled && !broker.listeners.empty()) {
    diagnostics.error(where(broker, "enabled"),
                      "broker.enabled: false, but [[broker.listener]] tables are configured; "
                      "remove them or set enabled = true");
  }
  std::map<std::pair<std::string, uint16_t>, size_t> first_bind;
  for (size_t i = 0; i < broker.listeners.size(); ++i) {
    Listener& listener = broker.listeners[i];
    std::string path = element_name("broker.listener", "", i);
    validate_listener(listener, path, diagnostics);
    if (listener.port == 0) continue;
    auto [found, inserted] = first_bind.try_emplace({listener.host, listener.port}, i);
    if (!inserted) {
      const Listener& first = broker.listeners[found->second];
      diagnostics.error(where(listener, "bind"),
                        path + ".bind: " + in_quotes(listener.bind) + " is already used by " +
                            element_name("broker.listener", "", found->second) + " " +
                            line_ref(first.pos));
    }
  }
}

void require_something_to_do(const Config& config, Diagnostics& diagnostics) {
  bool has_device = !config.modbus.empty() || !config.coap.empty() || !config.gpio.empty();
  bool has_listener = config.broker.enabled && !config.broker.listeners.empty();
  if (has_device || has_listener) return;
  std::string message = "a config needs at least one listener or one device: ";
  message += config.broker.enabled ? "the broker is enabled but has no [[broker.listener]]"
                                   : "the broker is disabled";
  message += ", and there is no [[modbus]], [[coap]] or [[gpio]] device";
  diagnostics.error(SourcePos{}, message);
}

// ---- [[bridge]] ---------------------------------------------------------------------------

void validate_route(const BridgeRoute& route, const std::string& path, Diagnostics& diagnostics) {
  if (route.keys.has("local")) {
    if (auto problem = check_topic_filter(route.local)) {
      diagnostics.error(where(route, "local"),
                        path + ".local: " + in_quotes(route.local) + ": " + *problem);
    }
  }
  for (std::string_view key : {"local_prefix", "remote_prefix"}) {
    const std::string& prefix = key == "local_prefix" ? route.local_prefix : route.remote_prefix;
    if (prefix.find_first_of("+#") != std::string::npos) {
      diagnostics.error(where(route, key), path + "." + std::string(key) + ": " +
                                               in_quotes(prefix) +
                                               " must not contain the wildcards '+' or '#'");
    }
  }
  bool comes_in = route.direction != RouteDirection::Out;
  if (comes_in && !route.local.starts_with(route.local_prefix)) {
    diagnostics.error(where(route, "local"), path + ".local: must start with local_prefix " +
                                                 in_quotes(route.local_prefix) +
                                                 " on a route that comes in (direction \"" +
                                                 std::string(to_string(route.direction)) + "\")");
  }
}

std::string default_availability_topic(const Bridge& bridge, const std::string& gateway) {
  for (const BridgeRoute& route : bridge.routes) {
    if (route.direction != RouteDirection::In) {
      return route.remote_prefix + gateway + "/availability";
    }
  }
  return gateway + "/availability";
}

void validate_bridge(Bridge& bridge, const std::string& path, const std::string& gateway,
                     Diagnostics& diagnostics) {
  check_name(bridge, path, diagnostics);
  if (bridge.keys.has("url")) {
    std::string problem;
    if (auto url = split_url(bridge.url, {"mqtt", "mqtts"}, problem)) {
      bridge.tls = url->scheme == "mqtts";
      bridge.host = url->authority.host;
      bridge.port = url->authority.port.value_or(bridge.tls ? 8883 : 1883);
    } else {
      diagnostics.error(where(bridge, "url"),
                        path + ".url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], got " +
                            in_quotes(bridge.url) + ": " + problem);
    }
  }
  if (bridge.keys.has("url") && !bridge.tls && bridge.port != 0) {
    for (std::string_view key : {"tls_ca", "tls_cert", "tls_key"}) {
      if (bridge.keys.has(key)) {
        diagnostics.error(where(bridge, key),
                          path + "." + std::string(key) + ": only with an mqtts:// url");
      }
    }
  }
  if (bridge.tls_cert && !bridge.tls_key) {
    diagnostics.error(bridge.pos, path + ": missing required key 'tls_key' (tls_cert needs it)");
  }
  if (bridge.tls_key && !bridge.tls_cert) {
    diagnostics.error(where(bridge, "tls_key"), path + ".tls_key: only with tls_cert");
  }
  if (bridge.password && bridge.password_env) {
    diagnostics.error(where(bridge, "password_env"),
                      path + ".password_env: set either password or password_env, not both");
  }
  if (bridge.keys.has("client_id") && bridge.client_id.empty()) {
    diagnostics.error(where(bridge, "client_id"), path + ".client_id: must not be empty");
  }
  if (!bridge.keys.has("client_id")) bridge.client_id = gateway + "-" + bridge.name;
  check_readable(diagnostics, where(bridge, "tls_ca"), path + ".tls_ca", bridge.tls_ca,
                 kTlsFileAdvice);
  check_readable(diagnostics, where(bridge, "tls_cert"), path + ".tls_cert", bridge.tls_cert,
                 kTlsFileAdvice);
  check_readable(diagnostics, where(bridge, "tls_key"), path + ".tls_key", bridge.tls_key,
                 kTlsFileAdvice);
  if (bridge.routes.empty()) {
    diagnostics.error(bridge.pos, path + ": no routes; add at least one [[bridge.route]]");
  }
  for (size_t i = 0; i < bridge.routes.size(); ++i) {
    validate_route(bridge.routes[i], element_name(path + ".route", "", i), diagnostics);
  }
  if (bridge.keys.has("availability_topic")) {
    if (auto problem = check_topic_template(bridge.availability_topic);
        problem || bridge.availability_topic.find('{') != std::string::npos) {
      diagnostics.error(where(bridge, "availability_topic"),
                        path + ".availability_topic: " + in_quotes(bridge.availability_topic) +
                            " is not a valid topic name" + (problem ? ": " + *problem : ""));
    }
  } else {
    bridge.availability_topic = default_availability_topic(bridge, gateway);
  }
}

void validate_bridges(Config& config, Diagnostics& diagnostics) {
  std::map<std::string, SourcePos> first_by_name;
  for (size_t i = 0; i < config.bridges.size(); ++i) {
    Bridge& bridge = config.bridges[i];
    std::string path = element_name("bridge", bridge.name, i);
    validate_bridge(bridge, path, config.gateway.name, diagnostics);
    if (bridge.name.empty()) continue;
    auto [found, inserted] = first_by_name.try_emplace(bridge.name, bridge.pos);
    if (!inserted) {
      diagnostics.error(where(bridge, "name"), path + ".name: bridge name " +
                                                   in_quotes(bridge.name) + " is already used " +
                                                   line_ref(found->second));
    }
  }
}

// ---- rules shared by the points of every protocol ------------------------------------------

template <class Point>
void check_point_topic(const Point& point, const std::string& path, Diagnostics& diagnostics) {
  if (!point.overrides.topic) return;
  if (auto problem = check_topic_template(*point.overrides.topic)) {
    diagnostics.error(where(point, "topic"),
                      path + ".topic: " + in_quotes(*point.overrides.topic) + ": " + *problem);
  }
}

bool is_numeric(ValueType type) {
  return type != ValueType::Bool && type != ValueType::String;
}

// scale, offset and deadband: numeric points only; scale never 0, deadband never negative.
template <class Point>
void check_scaling(const Point& point, const std::string& path, Diagnostics& diagnostics) {
  if (!is_numeric(point.type)) {
    for (std::string_view key : {"scale", "offset", "deadband"}) {
      if (point.keys.has(key)) {
        diagnostics.error(where(point, key), path + "." + std::string(key) +
                                                 ": only for numeric types, not \"" +
                                                 std::string(to_string(point.type)) + "\"");
      }
    }
    return;
  }
  if (point.scale == 0.0) {
    diagnostics.error(where(point, "scale"), path + ".scale: must not be 0");
  }
  if (point.deadband && *point.deadband < 0.0) {
    diagnostics.error(where(point, "deadband"), path + ".deadband: must not be negative");
  }
}

// Point names are unique within their device.
template <class Point>
void check_unique_point_names(const std::vector<Point>& points, const std::string& device_path,
                              Diagnostics& diagnostics) {
  std::map<std::string, SourcePos> first_by_name;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& point = points[i];
    std::string path = element_name(device_path + ".point", point.name, i);
    check_name(point, path, diagnostics);
    if (point.name.empty()) continue;
    auto [found, inserted] = first_by_name.try_emplace(point.name, point.pos);
    if (!inserted) {
      diagnostics.error(where(point, "name"), path + ".name: point name " + in_quotes(point.name) +
                                                  " is already used in this device " +
                                                  line_ref(found->second));
    }
  }
}

template <class Device>
void require_points(const Device& device, const std::string& path, std::string_view header,
                    Diagnostics& diagnostics) {
  if (device.points.empty()) {
    diagnostics.error(device.pos,
                      path + ": no points; add at least one [[" + std::string(header) + "]]");
  }
}

void forbid_keys(const KeyPositions& keys, SourcePos fallback, const std::string& path,
                 std::initializer_list<std::string_view> forbidden, const std::string& reason,
                 Diagnostics& diagnostics) {
  for (std::string_view key : forbidden) {
    if (keys.has(key)) {
      diagnostics.error(keys.at(key).value_or(fallback),
                        path + "." + std::string(key) + ": " + reason);
    }
  }
}

// ---- [[modbus]] ---------------------------------------------------------------------------

bool spans_several_registers(ValueType type) {
  return type != ValueType::Bool && type != ValueType::Int16 && type != ValueType::UInt16;
}

void validate_modbus_address(ModbusPoint& point, const ModbusDevice& device,
                             const std::string& path, Diagnostics& diagnostics) {
  if (!point.keys.has("address")) return;
  uint32_t lowest = device.address_base;
  uint32_t highest = 65535u + device.address_base;
  if (point.address < lowest || point.address > highest) {
    diagnostics.error(where(point, "address"),
                      path + ".address: expected an integer from " + std::to_string(lowest) +
                          " to " + std::to_string(highest) +
                          " with address_base = " + std::to_string(device.address_base) + ", got " +
                          std::to_string(point.address));
    return;
  }
  point.wire_address = static_cast<uint16_t>(point.address - device.address_base);
  uint32_t last = point.wire_address + point.register_count() - 1u;
  if (point.register_count() > 0 && last > 65535) {
    diagnostics.error(where(point, "address"),
                      path + ".address: a " + std::string(to_string(point.type)) + " of " +
                          std::to_string(point.register_count()) + " registers at " +
                          std::to_string(point.address) + " runs past the last register");
  }
}

void validate_modbus_point(ModbusPoint& point, const ModbusDevice& device, const std::string& path,
                           Diagnostics& diagnostics) {
  bool bit_table = point.table == ModbusTable::Coil || point.table == ModbusTable::Discrete;
  std::string table_name(to_string(point.table));
  if (bit_table && point.type != ValueType::Bool && point.keys.has("type")) {
    diagnostics.error(where(point, "type"), path + ".type: a " + table_name +
                                                " point must be type \"bool\", got \"" +
                                                std::string(to_string(point.type)) + "\"");
  }
  bool read_only_table = point.table == ModbusTable::Discrete || point.table == ModbusTable::Input;
  if (point.writable && read_only_table) {
    diagnostics.error(where(point, "writable"),
                      path + ".writable: only coil and holding points can be written, not " +
                          table_name + " points");
  }
  if (point.bit && (bit_table || point.type != ValueType::Bool)) {
    diagnostics.error(where(point, "bit"),
                      path + ".bit: only for bool points in holding or input registers");
  }
  if (point.type == ValueType::String && !point.keys.has("length")) {
    diagnostics.error(point.pos,
                      path + ": missing required key 'length' (registers of a string point)");
  }
  if (point.type != ValueType::String && point.keys.has("length")) {
    diagnostics.error(where(point, "length"), path + ".length: only for type \"string\"");
  }
  if (point.keys.has("order") && !spans_several_registers(point.type)) {
    diagnostics.error(where(point, "order"),
                      path + ".order: only for types that span several registers (32- and " +
                          "64-bit types and string), not \"" + std::string(to_string(point.type)) +
                          "\"");
  }
  check_scaling(point, path, diagnostics);
  check_point_topic(point, path, diagnostics);
  validate_modbus_address(point, device, path, diagnostics);
}

void validate_modbus_device(ModbusDevice& device, const std::string& path,
                            Diagnostics& diagnostics) {
  check_name(device, path, diagnostics);
  if (device.transport == ModbusTransport::Tcp) {
    if (!device.keys.has("host")) {
      diagnostics.error(device.pos, path + ": missing required key 'host' (transport is \"tcp\")");
    } else if (device.host.empty()) {
      diagnostics.error(where(device, "host"), path + ".host: must not be empty");
    }
    forbid_keys(device.keys, device.pos, path,
                {"serial", "baud", "parity", "data_bits", "stop_bits"},
                "only for transport = \"rtu\"; this device uses tcp", diagnostics);
  } else {
    if (!device.keys.has("serial")) {
      diagnostics.error(device.pos,
                        path + ": missing required key 'serial' (transport is \"rtu\")");
    } else if (device.serial.empty()) {
      diagnostics.error(where(device, "serial"), path + ".serial: must not be empty");
    }
    forbid_keys(device.keys, device.pos, path, {"host", "port"},
                "only for transport = \"tcp\"; this device uses rtu", diagnostics);
    if (device.unit_id < 1 || device.unit_id > 247) {
      diagnostics.error(where(device, "unit_id"),
                        path + ".unit_id: expected an integer from 1 to 247 on an rtu line, got " +
                            std::to_string(device.unit_id));
    }
  }
  require_points(device, path, "modbus.point", diagnostics);
  for (size_t i = 0; i < device.points.size(); ++i) {
    ModbusPoint& point = device.points[i];
    validate_modbus_point(point, device, element_name(path + ".point", point.name, i), diagnostics);
  }
  check_unique_point_names(device.points, path, diagnostics);
}

// The connection a device uses: its serial line or its TCP endpoint.
std::string modbus_line(const ModbusDevice& device) {
  if (device.transport == ModbusTransport::Rtu) return device.serial;
  return device.host + ":" + std::to_string(device.port);
}

// Devices on one serial line share its settings; unit ids are unique on each line or endpoint.
void validate_modbus_lines(const std::vector<ModbusDevice>& devices, Diagnostics& diagnostics) {
  std::map<std::string, size_t> first_on_line;
  std::map<std::pair<std::string, int>, size_t> first_with_unit;
  for (size_t i = 0; i < devices.size(); ++i) {
    const ModbusDevice& device = devices[i];
    std::string path = element_name("modbus", device.name, i);
    std::string line = modbus_line(device);
    auto [first, inserted] = first_on_line.try_emplace(line, i);
    const ModbusDevice& other = devices[first->second];
    std::string other_path = element_name("modbus", other.name, first->second);
    if (!inserted && device.transport == ModbusTransport::Rtu) {
      auto compare = [&](std::string_view key, auto mine, auto theirs, const std::string& text) {
        if (mine == theirs) return;
        diagnostics.error(where(device, key),
                          path + "." + std::string(key) + ": " + line + " is already used with " +
                              std::string(key) + " " + text + " by " + other_path + " " +
                              line_ref(other.pos) +
                              "; devices on one serial line must share its settings");
      };
      compare("baud", device.baud, other.baud, std::to_string(other.baud));
      compare("parity", device.parity, other.parity, in_quotes(to_string(other.parity)));
      compare("data_bits", device.data_bits, other.data_bits, std::to_string(other.data_bits));
      compare("stop_bits", device.stop_bits, other.stop_bits, std::to_string(other.stop_bits));
    }
    auto [same_unit, unit_free] = first_with_unit.try_emplace({line, device.unit_id}, i);
    if (!unit_free) {
      const ModbusDevice& holder = devices[same_unit->second];
      diagnostics.error(where(device, "unit_id"),
                        path + ".unit_id: unit " + std::to_string(device.unit_id) + " on " + line +
                            " is already used by " +
                            element_name("modbus", holder.name, same_unit->second) + " " +
                            line_ref(holder.pos));
    }
  }
}

// ---- [[coap]] -----------------------------------------------------------------------------

void validate_coap_point(const CoapPoint& point, const std::string& path,
                         Diagnostics& diagnostics) {
  if (point.keys.has("path") && !point.path.starts_with('/')) {
    diagnostics.error(
        where(point, "path"),
        path + ".path: expected a resource path starting with '/', got " + in_quotes(point.path));
  }
  if (point.mode != CoapMode::Poll && point.keys.has("poll_ms")) {
    diagnostics.error(where(point, "poll_ms"), path + ".poll_ms: only with mode = \"poll\"");
  }
  if (point.json_pointer) {
    if (point.format != CoapFormat::Json) {
      diagnostics.error(where(point, "json_pointer"),
                        path + ".json_pointer: only with format = \"json\"");
    } else if (!point.json_pointer->starts_with('/')) {
      diagnostics.error(where(point, "json_pointer"),
                        path + ".json_pointer: must start with '/' (e.g. \"/value\"), got " +
                            in_quotes(*point.json_pointer));
    }
  }
  check_scaling(point, path, diagnostics);
  check_point_topic(point, path, diagnostics);
}

void validate_coap_device(CoapDevice& device, const std::string& path, Diagnostics& diagnostics) {
  check_name(device, path, diagnostics);
  if (device.keys.has("url")) {
    std::string problem;
    if (auto url = split_url(device.url, {"coap", "coaps"}, problem)) {
      device.secure = url->scheme == "coaps";
      device.host = url->authority.host;
      device.port = url->authority.port.value_or(device.secure ? 5684 : 5683);
    } else {
      diagnostics.error(where(device, "url"),
                        path + ".url: expected coap://HOST[:PORT] or coaps://HOST[:PORT], got " +
                            in_quotes(device.url) + ": " + problem);
    }
  }
  if (device.port != 0 && !device.secure) {
    forbid_keys(device.keys, device.pos, path, {"psk_identity", "psk_key"},
                "only with a coaps:// url", diagnostics);
  }
  if (device.secure) {
    for (std::string_view key : {"psk_identity", "psk_key"}) {
      if (!device.keys.has(key)) {
        diagnostics.error(device.pos, path + ": missing required key '" + std::string(key) +
                                          "' (a coaps:// url needs psk_identity and psk_key)");
      }
    }
  }
  require_points(device, path, "coap.point", diagnostics);
  for (size_t i = 0; i < device.points.size(); ++i) {
    const CoapPoint& point = device.points[i];
    validate_coap_point(point, element_name(path + ".point", point.name, i), diagnostics);
  }
  check_unique_point_names(device.points, path, diagnostics);
}

// ---- [[gpio]] -----------------------------------------------------------------------------

void validate_gpio_point(const GpioPoint& point, const std::string& path,
                         Diagnostics& diagnostics) {
  if (point.direction == GpioDirection::Out) {
    forbid_keys(point.keys, point.pos, path, {"edge", "debounce_ms", "bias"},
                "only for inputs (direction = \"in\")", diagnostics);
  } else {
    forbid_keys(point.keys, point.pos, path, {"initial"}, "only for outputs (direction = \"out\")",
                diagnostics);
    if (point.writable) {
      diagnostics.error(where(point, "writable"),
                        path + ".writable: only outputs (direction = \"out\") can be written");
    }
  }
  check_point_topic(point, path, diagnostics);
}

void validate_gpio_chips(std::vector<GpioChip>& chips, Diagnostics& diagnostics) {
  // (chip, line) -> the point that uses it first
  std::map<std::pair<std::string, uint32_t>, std::pair<std::string, SourcePos>> line_users;
  for (size_t c = 0; c < chips.size(); ++c) {
    GpioChip& chip = chips[c];
    std::string path = element_name("gpio", chip.name, c);
    check_name(chip, path, diagnostics);
    if (chip.keys.has("chip") && chip.chip.empty()) {
      diagnostics.error(where(chip, "chip"), path + ".chip: must not be empty");
    }
    require_points(chip, path, "gpio.point", diagnostics);
    for (size_t i = 0; i < chip.points.size(); ++i) {
      const GpioPoint& point = chip.points[i];
      std::string point_path = element_name(path + ".point", point.name, i);
      validate_gpio_point(point, point_path, diagnostics);
      if (!point.keys.has("line")) continue;
      auto [found, inserted] =
          line_users.try_emplace({chip.chip, point.line}, point_path, point.pos);
      if (!inserted) {
        diagnostics.error(where(point, "line"),
                          point_path + ".line: line " + std::to_string(point.line) + " of " +
                              chip.chip + " is already used by " + found->second.first + " " +
                              line_ref(found->second.second));
      }
    }
    check_unique_point_names(chip.points, path, diagnostics);
  }
}

// ---- across devices -----------------------------------------------------------------------

struct DeviceRef {
  std::string name;
  std::string path;
  SourcePos name_pos;
};

void check_unique_device_names(const Config& config, Diagnostics& diagnostics) {
  std::vector<DeviceRef> devices;
  for (size_t i = 0; i < config.modbus.size(); ++i) {
    const auto& device = config.modbus[i];
    devices.push_back({device.name, element_name("modbus", device.name, i), where(device, "name")});
  }
  for (size_t i = 0; i < config.coap.size(); ++i) {
    const auto& device = config.coap[i];
    devices.push_back({device.name, element_name("coap", device.name, i), where(device, "name")});
  }
  for (size_t i = 0; i < config.gpio.size(); ++i) {
    const auto& chip = config.gpio[i];
    devices.push_back({chip.name, element_name("gpio", chip.name, i), where(chip, "name")});
  }
  std::map<std::string, const DeviceRef*> first_by_name;
  for (const DeviceRef& device : devices) {
    if (device.name.empty()) continue;
    auto [found, inserted] = first_by_name.try_emplace(device.name, &device);
    if (!inserted) {
      const DeviceRef& first = *found->second;
      diagnostics.error(device.name_pos, device.path + ".name: device name " +
                                             in_quotes(device.name) + " is already used by " +
                                             first.path + " " + line_ref(first.name_pos));
    }
  }
}

bool topic_templates_valid(const Config& config) {
  if (check_topic_template(config.mapping.topic)) return false;
  auto point_valid = [](const auto& point) {
    return is_valid_name(point.name) &&
           !(point.overrides.topic && check_topic_template(*point.overrides.topic));
  };
  auto device_valid = [&](const auto& device) {
    if (!is_valid_name(device.name)) return false;
    for (const auto& point : device.points) {
      if (!point_valid(point)) return false;
    }
    return true;
  };
  for (const auto& device : config.modbus) {
    if (!device_valid(device)) return false;
  }
  for (const auto& device : config.coap) {
    if (!device_valid(device)) return false;
  }
  for (const auto& chip : config.gpio) {
    if (!device_valid(chip)) return false;
  }
  return is_valid_name(config.gateway.name);
}

// Each point's rendered topic is a valid topic name used by that point alone. Only checked once
// the templates and names are valid (else their own errors say it already).
void check_point_topics(const Config& config, Diagnostics& diagnostics) {
  if (check_topic_template(config.mapping.topic)) {
    diagnostics.error(where(config.mapping, "topic"),
                      "mapping.topic: " + in_quotes(config.mapping.topic) + ": " +
                          *check_topic_template(config.mapping.topic));
    return;
  }
  if (!topic_templates_valid(config)) return;
  std::map<std::string, const ResolvedPoint*> first_by_topic;
  std::vector<ResolvedPoint> points = resolved_points(config);
  for (const ResolvedPoint& point : points) {
    std::string path = std::string(to_string(point.protocol)) + "[" + point.device + "].point[" +
                       point.point + "]";
    auto [found, inserted] = first_by_topic.try_emplace(point.topic, &point);
    bool same_names = !inserted && found->second->device == point.device &&
                      found->second->point == point.point;  // reported as duplicate names
    if (!inserted && !same_names) {
      const ResolvedPoint& first = *found->second;
      diagnostics.error(point.pos, path + ": topic " + in_quotes(point.topic) +
                                       " is also the topic of " +
                                       std::string(to_string(first.protocol)) + "[" + first.device +
                                       "].point[" + first.point + "] " + line_ref(first.pos));
    }
  }
}

}  // namespace

void validate(Config& config, Diagnostics& diagnostics) {
  validate_gateway(config.gateway, diagnostics);
  validate_broker(config.broker, diagnostics);
  validate_bridges(config, diagnostics);
  for (size_t i = 0; i < config.modbus.size(); ++i) {
    validate_modbus_device(config.modbus[i], element_name("modbus", config.modbus[i].name, i),
                           diagnostics);
  }
  validate_modbus_lines(config.modbus, diagnostics);
  for (size_t i = 0; i < config.coap.size(); ++i) {
    validate_coap_device(config.coap[i], element_name("coap", config.coap[i].name, i), diagnostics);
  }
  validate_gpio_chips(config.gpio, diagnostics);
  check_unique_device_names(config, diagnostics);
  check_point_topics(config, diagnostics);
  require_something_to_do(config, diagnostics);
}

}  // namespace fieldgate::config
