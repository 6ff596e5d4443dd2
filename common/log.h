// Logging for every part of fieldgate: one line per event on stderr.
//
// Under systemd (stderr connected to the journal) lines carry a "<N>" priority prefix and no
// timestamp of their own, since the journal adds one; elsewhere each line starts with an ISO
// 8601 UTC timestamp. Thread-safe: a line is written with a single write().
//
//   log::info("broker", "client ", id, " connected from ", address);
//
// An identical warning or error line (a dead device's) is written at most once a minute; the
// next one written says how many were held back.
//
// Arguments are concatenated: strings, characters, integers and floating-point numbers. They
// are formatted only when the level is enabled.
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace fieldgate::log {

enum class Level { Trace, Debug, Info, Warn, Error };

void set_level(Level level);
Level level();
inline bool enabled(Level l) {
  return l >= level();
}
// Parses "trace", "debug", "info", "warn" or "error"; returns false for anything else.
bool parse_level(std::string_view text, Level& out);

void write(Level level, std::string_view component, std::string_view message);

namespace detail {
inline void append(std::string& out, std::string_view text) {
  out += text;
}
inline void append(std::string& out, const char* text) {
  out += text;
}
inline void append(std::string& out, const std::string& text) {
  out += text;
}
inline void append(std::string& out, char c) {
  out += c;
}
inline void append(std::string& out, bool b) {
  out += b ? "true" : "false";
}
template <typename Number>
requires(std::integral<Number> || std::floating_point<Number>) void append(std::string& out,
                                                                           Number n) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, n);
  out.append(buffer, result.ptr);
}
}  // namespace detail

template <typename... Args>
std::string concat(const Args&... args) {
  std::string out;
  (detail::append(out, args), ...);
  return out;
}

template <typename... Args>
void at(Level l, std::string_view component, const Args&... args) {
  if (enabled(l)) write(l, component, concat(args...));
}
template <typename... Args>
void trace(std::string_view component, const Args&... args) {
  at(Level::Trace, component, args...);
}
template <typename... Args>
void debug(std::string_view component, const Args&... args) {
  at(Level::Debug, component, args...);
}
template <typename... Args>
void info(std::string_view component, const Args&... args) {
  at(Level::Info, component, args...);
}
template <typename... Args>
void warn(std::string_view component, const Args&... args) {
  at(Level::Warn, component, args...);
}
template <typename... Args>
void error(std::string_view component, const Args&... args) {
  at(Level::Error, component, args...);
}

}  // namespace fieldgate::log
