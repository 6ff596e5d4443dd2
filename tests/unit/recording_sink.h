// A ReadingSink for adapter tests: records everything an adapter reports, with ways to wait
// for it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/adapter.h"

namespace fieldgate::test_support {

class RecordingSink : public adapters::ReadingSink {
 public:
  using Reading = mapping::Reading;

  void on_reading(std::string_view device, std::string_view point,
                  const Reading& reading) override {
    std::lock_guard lock(mutex_);
    readings_[std::string(device) + "/" + std::string(point)].push_back(reading);
    changed_.notify_all();
  }
  void on_availability(std::string_view device, bool online) override {
    std::lock_guard lock(mutex_);
    availability_[std::string(device)].push_back(online);
    changed_.notify_all();
  }

  // The latest reading of "device/point" once `predicate` holds for it, or fails the test.
  Reading wait_reading(const std::string& key, std::function<bool(const Reading&)> predicate,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    std::unique_lock lock(mutex_);
    bool ok = changed_.wait_for(lock, timeout, [&] {
      auto it = readings_.find(key);
      return it != readings_.end() && predicate(it->second.back());
    });
    EXPECT_TRUE(ok) << "no matching reading of " << key;
    return ok ? readings_[key].back() : Reading{};
  }
  Reading wait_good(const std::string& key) {
    return wait_reading(key, [](const Reading& r) { return r.quality == mapping::Quality::Good; });
  }
  Reading wait_value(const std::string& key, const mapping::Value& value) {
    return wait_reading(key, [&](const Reading& r) {
      return r.quality == mapping::Quality::Good && r.value == value;
    });
  }
  Reading wait_bad(const std::string& key) {
    return wait_reading(key, [](const Reading& r) { return r.quality == mapping::Quality::Bad; });
  }
  bool wait_online(const std::string& device, bool online,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      auto it = availability_.find(device);
      return it != availability_.end() && it->second.back() == online;
    });
  }
  std::vector<Reading> readings(const std::string& key) {
    std::lock_guard lock(mutex_);
    return readings_[key];
  }
  std::vector<bool> availability(const std::string& device) {
    std::lock_guard lock(mutex_);
    return availability_[device];
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<Reading>> readings_;
  std::map<std::string, std::vector<bool>> availability_;
};

}  // namespace fieldgate::test_support
