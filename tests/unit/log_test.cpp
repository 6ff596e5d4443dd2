// Log lines: the level filter and the rate limit of repeated warnings and errors.
#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace {

namespace log = fieldgate::log;

// What the block writes to stderr.
template <typename Block>
std::string captured_stderr(Block block) {
  std::FILE* file = std::tmpfile();
  int saved = dup(STDERR_FILENO);
  dup2(fileno(file), STDERR_FILENO);
  block();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string text;
  std::rewind(file);
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file))
    text.append(buffer, n);
  std::fclose(file);
  return text;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST(Log, LevelsBelowTheSetOneAreNotWritten) {
  log::set_level(log::Level::Warn);
  std::string text = captured_stderr([] {
    log::info("test", "an info line");
    log::warn("test", "a warning line ", 42);
  });
  log::set_level(log::Level::Info);
  EXPECT_EQ(count(text, "an info line"), 0u);
  EXPECT_EQ(count(text, "warn test: a warning line 42\n"), 1u);
}

TEST(Log, RepeatedWarningsAreWrittenOncePerWindow) {
  std::string text = captured_stderr([] {
    for (int i = 0; i < 5; ++i)
      log::warn("modbus", "device 'x' does not answer: timeout");
    log::warn("modbus", "device 'y' does not answer: timeout");
    for (int i = 0; i < 3; ++i)
      log::info("broker", "an info line repeats freely");
  });
  EXPECT_EQ(count(text, "device 'x' does not answer: timeout"), 1u);
  EXPECT_EQ(count(text, "device 'y' does not answer: timeout"), 1u);
  EXPECT_EQ(count(text, "an info line repeats freely"), 3u);
}

}  // namespace
