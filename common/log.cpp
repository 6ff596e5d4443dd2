#include "common/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <unordered_map>

namespace fieldgate::log {
namespace {

std::atomic<Level> g_level{Level::Info};

// systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected to stderr.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  return st.st_dev == device && st.st_ino == inode;
}

const bool g_journal = stderr_is_journal();

const char* name_of(Level level) {
  switch (level) {
    case Level::Trace:
      return "trace";
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "?";
}

// syslog priorities: err 3, warning 4, info 6, debug 7.
char priority_of(Level level) {
  switch (level) {
    case Level::Error:
      return '3';
    case Level::Warn:
      return '4';
    case Level::Info:
      return '6';
    default:
      return '7';
  }
}

// The same warning or error (a dead device, a client that keeps failing to log in) is written
// at most once per window; the next time it is written after the window it says how often it
// was held back.
constexpr std::chrono::seconds kRepeatWindow{60};
constexpr size_t kRepeatMemory = 1024;  // distinct lines remembered; then forgotten all at once

struct Repeats {
  std::chrono::steady_clock::time_point written;
  uint64_t held_back = 0;
};

// false: hold the line back. Otherwise `message` may get a note of the lines held back.
bool rate_limit(Level level, std::string_view component, std::string& message) {
  static std::mutex mutex;
  static std::unordered_map<std::string, Repeats> seen;
  std::string key;
  key.reserve(component.size() + message.size() + 2);
  key += static_cast<char>('0' + static_cast<int>(level));
  key += component;
  key += '\0';
  key += message;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex);
  auto it = seen.find(key);
  if (it != seen.end() && now - it->second.written < kRepeatWindow) {
    ++it->second.held_back;
    return false;
  }
  if (it != seen.end() && it->second.held_back > 0) {
    message += " (repeated " + std::to_string(it->second.held_back) + " more time" +
               (it->second.held_back == 1 ? "" : "s") + " since it was last logged)";
  }
  if (it == seen.end()) {
    if (seen.size() >= kRepeatMemory) seen.clear();
    it = seen.emplace(std::move(key), Repeats{}).first;
  }
  it->second = Repeats{now, 0};
  return true;
}

}  // namespace

void set_level(Level level) {
  g_level = level;
}
Level level() {
  return g_level;
}

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error}) {
    if (text == name_of(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void write(Level level, std::string_view component, std::string_view message_in) {
  std::string message(message_in);
  if (level >= Level::Warn && !rate_limit(level, component, message)) return;
  std::string line;
  line.reserve(message.size() + 64);
  if (g_journal) {
    line += '<';
    line += priority_of(level);
    line += '>';
  } else {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    std::time_t seconds = ms.count() / 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    line += stamp;
  }
  line += name_of(level);
  line += ' ';
  line += component;
  line += ": ";
  line += message;
  line += '\n';
  // One write per line keeps lines from different threads whole.
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace fieldgate::log
