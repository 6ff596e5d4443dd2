// The one-screen summary `fieldgate check` prints for a valid config.
#include <algorithm>

#include "config/internal.h"

namespace fieldgate::config {
namespace {

// Lines of columns, padded so that each column lines up.
class Columns {
 public:
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render(std::string_view indent) const {
    std::vector<size_t> widths;
    for (const auto& row : rows_) {
      widths.resize(std::max(widths.size(), row.size()));
      for (size_t i = 0; i < row.size(); ++i)
        widths[i] = std::max(widths[i], row[i].size());
    }
    std::string text;
    for (const auto& row : rows_) {
      std::string line(indent);
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
      text += line + "\n";
    }
    return text;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string count(size_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

std::string heading(std::string_view title, size_t n) {
  return std::string(title) + " (" + std::to_string(n) + "):\n";
}

std::string describe_broker(const Broker& broker) {
  if (!broker.enabled) return "broker: disabled\n";
  std::string text = "broker: persistence ";
  text += broker.persistence ? "on (durability " + std::string(to_string(broker.durability)) + ")"
                             : "off";
  text += broker.allow_anonymous ? ", anonymous clients allowed" : ", anonymous clients refused";
  if (broker.password_file) text += ", passwords from " + broker.password_file->string();
  if (broker.acl_file) text += ", ACL from " + broker.acl_file->string();
  text += "\n  limits: " + std::to_string(broker.max_connections) + " connections, " +
          std::to_string(broker.max_inflight_messages) + " in flight, " +
          std::to_string(broker.max_queued_messages) + " queued, " +
          std::to_string(broker.max_packet_size) +
          "-byte packets, keepalive <= " + std::to_string(broker.max_keepalive_s) +
          " s, $SYS every " + std::to_string(broker.sys_interval_s) + " s\n";
  return text;
}

std::string describe_listeners(const Broker& broker) {
  if (!broker.enabled) return "";
  Columns columns;
  for (const Listener& listener : broker.listeners) {
    std::string kind(to_string(listener.protocol));
    if (listener.tls()) {
      kind += " over TLS";
      if (listener.require_client_cert) kind += ", client certificate required";
      if (listener.use_identity_as_username) kind += ", certificate CN is the username";
    }
    columns.add({listener.bind, kind});
  }
  return heading("listeners", broker.listeners.size()) + columns.render("  ");
}

std::string describe_modbus(const ModbusDevice& device) {
  std::string where;
  if (device.transport == ModbusTransport::Tcp) {
    where = "tcp " + device.host + ":" + std::to_string(device.port);
  } else {
    where = "rtu " + device.serial + " " + std::to_string(device.baud) + " " +
            std::to_string(device.data_bits) + std::string(to_string(device.parity)) +
            std::to_string(device.stop_bits);
  }
  return where + ", unit " + std::to_string(device.unit_id) + ", every " +
         std::to_string(device.poll_ms) + " ms";
}

std::string describe_devices(const Config& config) {
  Columns columns;
  for (const ModbusDevice& device : config.modbus) {
    columns.add(
        {"modbus", device.name, describe_modbus(device), count(device.points.size(), "point")});
  }
  for (const CoapDevice& device : config.coap) {
    columns.add({"coap", device.name, device.url, count(device.points.size(), "point")});
  }
  for (const GpioChip& chip : config.gpio) {
    columns.add({"gpio", chip.name, chip.chip, count(chip.points.size(), "point")});
  }
  size_t devices = config.modbus.size() + config.coap.size() + config.gpio.size();
  return heading("devices", devices) + columns.render("  ");
}

std::string describe_points(const Config& config) {
  Columns columns;
  std::vector<ResolvedPoint> points = resolved_points(config);
  for (const ResolvedPoint& point : points) {
    std::string publish = "qos " + std::to_string(point.qos) + ", " +
                          std::string(to_string(point.payload)) +
                          (point.retain ? ", retained" : "");
    if (point.writable) publish += ", writable (" + point.topic + "/set)";
    if (!point.unit.empty()) publish += ", unit " + point.unit;
    columns.add({point.topic,
                 std::string(to_string(point.protocol)) + " " + point.device + "." + point.point,
                 publish});
  }
  return heading("points", points.size()) + columns.render("  ");
}

std::string describe_bridges(const std::vector<Bridge>& bridges) {
  if (bridges.empty()) return "";
  std::string text = heading("bridges", bridges.size());
  for (const Bridge& bridge : bridges) {
    text += "  " + bridge.name + ": " + bridge.url + " as client " + bridge.client_id +
            ", availability on " + bridge.availability_topic + "\n";
    Columns routes;
    for (const BridgeRoute& route : bridge.routes) {
      routes.add({std::string(to_string(route.direction)), route.local,
                  "local prefix \"" + route.local_prefix + "\", remote prefix \"" +
                      route.remote_prefix + "\"",
                  "qos " + std::to_string(route.qos)});
    }
    text += routes.render("    ");
  }
  return text;
}

}  // namespace

std::string summary(const Config& config) {
  const Gateway& gateway = config.gateway;
  std::string text = config.file.string() + ": OK\n";
  text += "gateway " + gateway.name + ": state in " + gateway.state_dir.string() + ", log level " +
          std::string(to_string(gateway.log_level)) + "\n";
  text += describe_broker(config.broker);
  text += describe_listeners(config.broker);
  text += describe_devices(config);
  text += describe_points(config);
  text += describe_bridges(config.bridges);
  return text;
}

}  // namespace fieldgate::config
