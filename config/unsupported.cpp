// What this build validates but cannot run yet. Each entry below is one feature; when the broker,
// the bridge or an adapter learns it, delete its entry. `fieldgate run` refuses to start while
// a config asks for anything listed here.
#include "config/internal.h"

namespace fieldgate::config {
namespace {

struct ListenerFeature {
  std::string_view key;
  bool (*asks_for_it)(const Listener&);
};

// Every listener key works now (TLS and WebSockets included); new ones go here until they do.
constexpr ListenerFeature kUnsupportedListenerKeys[] = {
    {"", [](const Listener&) { return false; }},
};

// Whole tables this build cannot run at all.
constexpr bool kModbusSupported = true;
constexpr bool kCoapSupported = true;
constexpr bool kGpioSupported = true;

class Report {
 public:
  explicit Report(const Config& config) : file_(config.file) {}
  void add(SourcePos pos, const std::string& key) {
    list_.push_back(Diagnostic{file_, pos.line, pos.column, "not supported yet: " + key});
  }
  std::vector<Diagnostic> take() { return std::move(list_); }

 private:
  std::filesystem::path file_;
  std::vector<Diagnostic> list_;
};

template <class Item>
void add_tables(Report& report, bool supported, std::string_view array,
                const std::vector<Item>& items) {
  if (supported) return;
  for (size_t i = 0; i < items.size(); ++i) {
    report.add(items[i].pos, element_name(array, items[i].name, i));
  }
}

}  // namespace

std::vector<Diagnostic> unsupported_features(const Config& config) {
  Report report(config);
  const Broker& broker = config.broker;
  for (size_t i = 0; i < broker.listeners.size(); ++i) {
    const Listener& listener = broker.listeners[i];
    for (const ListenerFeature& feature : kUnsupportedListenerKeys) {
      auto pos = listener.keys.at(feature.key);
      if (pos && feature.asks_for_it(listener)) {
        report.add(*pos, element_name("broker.listener", "", i) + "." + std::string(feature.key) +
                             (feature.key == "protocol" ? " = \"websockets\"" : ""));
      }
    }
  }
  add_tables(report, kModbusSupported, "modbus", config.modbus);
  add_tables(report, kCoapSupported, "coap", config.coap);
  add_tables(report, kGpioSupported, "gpio", config.gpio);
  return report.take();
}

}  // namespace fieldgate::config
