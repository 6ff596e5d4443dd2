// load() and parse(), and the small value types of config.h.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/config.h"
#include "config/internal.h"

namespace fieldgate::config {

// ---- KeyPositions, Diagnostic, ConfigError, Diagnostics -----------------------------------

void KeyPositions::set(std::string_view key, SourcePos pos) {
  for (auto& [name, position] : positions_) {
    if (name == key) {
      position = pos;
      return;
    }
  }
  positions_.emplace_back(std::string(key), pos);
}

bool KeyPositions::has(std::string_view key) const {
  return at(key).has_value();
}

std::optional<SourcePos> KeyPositions::at(std::string_view key) const {
  for (const auto& [name, position] : positions_)
    if (name == key) return position;
  return std::nullopt;
}

std::string Diagnostic::to_string() const {
  std::string text = file.string();
  if (line > 0) text += ":" + std::to_string(line) + ":" + std::to_string(column);
  return text + ": " + message;
}

namespace {

std::string join_diagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& diagnostic : diagnostics) {
    if (!text.empty()) text += '\n';
    text += diagnostic.to_string();
  }
  return text;
}

}  // namespace

ConfigError::ConfigError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

void Diagnostics::error(SourcePos pos, std::string message) {
  list_.push_back(Diagnostic{file_, pos.line, pos.column, std::move(message)});
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  std::vector<Diagnostic> result = list_;
  std::stable_sort(result.begin(), result.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return result;
}

// ---- naming and suggestions ---------------------------------------------------------------

std::string element_name(std::string_view array_path, std::string_view name, size_t index) {
  std::string label = name.empty() ? std::to_string(index) : std::string(name);
  return std::string(array_path) + "[" + label + "]";
}

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1);
  std::vector<size_t> current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

}  // namespace

std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> allowed) {
  constexpr size_t kMaxDistance = 2;
  std::optional<std::string_view> best;
  size_t best_distance = kMaxDistance + 1;
  for (std::string_view candidate : allowed) {
    size_t distance = edit_distance(word, candidate);
    if (distance < best_distance && distance < word.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// ---- load() and parse() -------------------------------------------------------------------

namespace {

// An open file descriptor, closed when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The whole content of `file`, or the reason it cannot be read (strerror text).
std::optional<std::string> read_whole_file(const std::filesystem::path& file, std::string& reason) {
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    reason = std::strerror(errno);
    return std::nullopt;
  }
  std::string content;
  char buffer[65536];
  for (;;) {
    ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
    if (count == 0) return content;
    if (count < 0) {
      if (errno == EINTR) continue;
      reason = std::strerror(errno);
      return std::nullopt;
    }
    content.append(buffer, static_cast<size_t>(count));
  }
}

}  // namespace

Config load(const std::filesystem::path& file) {
  std::string reason;
  std::optional<std::string> text = read_whole_file(file, reason);
  if (!text) throw ConfigError({Diagnostic{file, 0, 0, "cannot read: " + reason}});
  return parse(*text, file);
}

Config parse(std::string_view toml_text, const std::filesystem::path& name_for_messages) {
  Diagnostics diagnostics(name_for_messages);
  std::optional<Config> config = read_toml(toml_text, name_for_messages.parent_path(), diagnostics);
  if (config) {
    config->file = name_for_messages;
    validate(*config, diagnostics);
  }
  if (!diagnostics.empty()) throw ConfigError(diagnostics.sorted());
  return std::move(*config);
}

// ---- small members and spellings ----------------------------------------------------------

uint16_t register_count(ValueType type, uint16_t length) {
  switch (type) {
    case ValueType::Bool:
    case ValueType::Int16:
    case ValueType::UInt16:
      return 1;
    case ValueType::Int32:
    case ValueType::UInt32:
    case ValueType::Float32:
      return 2;
    case ValueType::Int64:
    case ValueType::UInt64:
    case ValueType::Float64:
      return 4;
    case ValueType::String:
      return length;
  }
  return 1;
}

std::string_view to_string(LogLevel value) {
  return name_of(kLogLevelNames, value);
}
std::string_view to_string(Durability value) {
  return name_of(kDurabilityNames, value);
}
std::string_view to_string(ListenerProtocol value) {
  return name_of(kListenerProtocolNames, value);
}
std::string_view to_string(RouteDirection value) {
  return name_of(kRouteDirectionNames, value);
}
std::string_view to_string(PayloadFormat value) {
  return name_of(kPayloadFormatNames, value);
}
std::string_view to_string(ValueType value) {
  return name_of(kValueTypeNames, value);
}
std::string_view to_string(ModbusTransport value) {
  return name_of(kModbusTransportNames, value);
}
std::string_view to_string(Parity value) {
  return name_of(kParityNames, value);
}
std::string_view to_string(ModbusTable value) {
  return name_of(kModbusTableNames, value);
}
std::string_view to_string(WordOrder value) {
  return name_of(kWordOrderNames, value);
}
std::string_view to_string(CoapMode value) {
  return name_of(kCoapModeNames, value);
}
std::string_view to_string(CoapFormat value) {
  return name_of(kCoapFormatNames, value);
}
std::string_view to_string(GpioDirection value) {
  return name_of(kGpioDirectionNames, value);
}
std::string_view to_string(GpioEdge value) {
  return name_of(kGpioEdgeNames, value);
}
std::string_view to_string(GpioBias value) {
  return name_of(kGpioBiasNames, value);
}
std::string_view to_string(Protocol value) {
  return name_of(kProtocolNames, value);
}

}  // namespace fieldgate::config
