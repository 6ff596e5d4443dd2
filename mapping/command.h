// Commands: MQTT messages on "<point topic>/set" -> adapter writes -> "<point topic>/set/result"
// (SPEC.md, "Topics and payloads").
//
// The mapping checks the form of a command and whether its point is writable; the type and the
// range (after scale and offset) are the adapter's to check, since they depend on the protocol
// (for Modbus: modbus::encode_registers). Its error text goes into the result as it is.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mapping/engine.h"
#include "mapping/value.h"

namespace fieldgate::mapping {

// A command's value, or why the payload is not one.
struct ParsedCommand {
  Value value;
  std::string error;  // empty: `value` holds the command
  bool ok() const { return error.empty(); }
};

// Reads a command payload, surrounding whitespace ignored:
//   - JSON {"value": V} with V a number, true/false, a string or null; no other members;
//   - a JSON string literal "..." (escapes decoded);
//   - a plain value: true / false, null, a JSON number (integers that fit in int64_t or
//     uint64_t stay integers, anything with '.' or an exponent is a double), or else the
//     payload as bare text.
// Rejected, with an error saying why: an empty payload, malformed JSON, an array, an object
// without "value", with other members, or whose "value" is an object or array, text after the
// JSON, and non-finite numbers.
ParsedCommand parse_command(std::string_view payload);

// What became of a write: the adapter's adapters::WriteResult, without depending on adapters/.
struct WriteOutcome {
  bool ok = false;
  std::string error;
};

// {"ok":true} or {"ok":false,"error":"..."}.
std::string result_payload(const WriteOutcome& outcome);

// Where an MQTT 5 command asked for its result: its response topic and correlation data.
struct ReplyTo {
  std::string topic;
  std::optional<std::string> correlation_data;
};

// Routes command topics to writes and publishes their results.
class CommandRouter {
 public:
  // Starts the write of `value` to (device, point) and calls `done` once, from any thread, when
  // it finished. In the gateway: adapters::Adapter::write of the point's adapter.
  using WriteFunction =
      std::function<void(std::string_view device, std::string_view point, const Value& value,
                         std::function<void(const WriteOutcome&)> done)>;

  // `results` must outlive the router and every write it started. Results are published on
  // "<point topic>/set/result" with the point's QoS, not retained.
  CommandRouter(const std::vector<PointSettings>& points, WriteFunction write, Outbox& results);

  // A message on `topic`. Returns false when `topic` is no point's "<topic>/set" (nothing is
  // published then); otherwise true, and the result is published: at once when the point is not
  // writable or the payload is not a command, else when the write finished. The result goes to
  // "<point topic>/set/result", or to `reply_to` when the command named a response topic.
  bool handle(std::string_view topic, std::string_view payload,
              std::optional<ReplyTo> reply_to = std::nullopt);

  // The "<point topic>/set" topic of every point, writable or not (a command to a point that
  // is not writable gets an error result).
  std::vector<std::string> command_topics() const;

 private:
  struct Target {
    std::string device;
    std::string point;
    uint8_t qos = 0;
    bool writable = false;
  };

  // The result goes to reply_to, or else to command_topic + "/result".
  void publish_result(const std::string& command_topic, const Target& target,
                      const std::optional<ReplyTo>& reply_to, const WriteOutcome& outcome);

  std::map<std::string, Target, std::less<>> targets_;  // by command topic
  WriteFunction write_;
  Outbox& results_;
};

}  // namespace fieldgate::mapping
