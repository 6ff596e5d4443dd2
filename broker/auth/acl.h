// Access control lists in Mosquitto's acl_file format, with Mosquitto 2.0's semantics.
//
//   # comment                      blank lines and lines starting with '#' are ignored
//   topic [read|write|readwrite|deny] TOPIC
//   user NAME                      the `topic` lines after it apply to the client logged in
//                                  as NAME (everything after "user " is the name)
//   pattern [read|write|readwrite|deny] TOPIC
//                                  applies to every client, with %u replaced by its user name
//                                  and %c by its client id (anywhere in TOPIC)
//
// `topic` lines before the first `user` line apply to anonymous clients (no user name) only;
// clients that log in get their own `user` section and the patterns, nothing else. With no
// access word a line grants readwrite; TOPIC is the rest of the line (it may contain spaces)
// and may use the '+' and '#' wildcards, which match as in subscriptions: a '#' matches the
// parent level too, and a topic starting with '$' (such as $SYS/...) is matched only by entries
// whose first level is spelt out ("topic read $SYS/#"), never by a leading '+' or '#'.
//
// Decisions:
//  - A client is allowed only what an entry grants: with an ACL, no matching entry means no.
//  - `deny` entries (topic or pattern) win over any grant, whatever their order in the file.
//  - A pattern with %u does not apply to anonymous clients. A client whose user name or client
//    id contains '+' or '#' gets nothing from patterns (as Mosquitto: such names would turn into
//    wildcards).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/auth/passwords.h"  // AuthFileError

namespace fieldgate::auth {

enum class SubscribeAccess {
  None,     // no topic the filter matches may be read: refuse (0x80 / 0x87)
  All,      // every topic the filter matches may be read: grant, no per-message check needed
  Partial,  // some may be read: grant, and check every message (retained ones too) with may_read
};

class Acl {
 public:
  // Reads an ACL file, replacing what this object held. On error throws AuthFileError with
  // every problem as "FILE:LINE: message"; the object then keeps its previous contents.
  void load(const std::string& path);
  // The same from text in memory; `name` stands for the file name in error messages.
  void load_text(std::string_view text, std::string_view name);

  // May the client publish to `topic` (a topic name, no wildcards)?
  bool may_publish(std::string_view client_id, const std::optional<std::string>& username,
                   std::string_view topic) const;
  // May the client receive a message published to `topic`? Cheap: meant for every message of a
  // Partial subscription.
  bool may_read(std::string_view client_id, const std::optional<std::string>& username,
                std::string_view topic) const;
  // How much of the tree `filter` (a valid topic filter; a "$share/GROUP/" prefix is ignored)
  // the client may read. Partial is the safe answer when the exact one is hard to tell (a
  // filter covered only by several grants together, or denied only by several denies
  // together): messages are then checked one by one.
  SubscribeAccess may_subscribe(std::string_view client_id,
                                const std::optional<std::string>& username,
                                std::string_view filter) const;

  // Whether an MQTT topic filter matches a topic, with the '$' rule above. Exposed for tests.
  static bool filter_matches(std::string_view filter, std::string_view topic);

 private:
  static constexpr uint8_t kRead = 1;
  static constexpr uint8_t kWrite = 2;
  struct Rule {
    uint8_t access = 0;  // kRead | kWrite; 0 = deny
    std::string filter;  // for patterns: the template, %u and %c not yet replaced
    bool wildcard = false;
    bool uses_username = false;   // patterns: contains %u
    bool uses_client_id = false;  // patterns: contains %c
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  bool allowed(std::string_view client_id, const std::optional<std::string>& username,
               std::string_view topic, uint8_t want) const;
  const std::vector<Rule>& topic_rules(const std::optional<std::string>& username) const;
  static void expand(const Rule& pattern, std::string_view client_id, std::string_view username,
                     std::string& out);

  std::vector<Rule> anonymous_;
  std::unordered_map<std::string, std::vector<Rule>, Hash, std::equal_to<>> users_;
  std::vector<Rule> patterns_;
};

}  // namespace fieldgate::auth
