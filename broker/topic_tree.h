// Subscriptions by topic filter: a tree with one level of the filter per edge, so a publish
// walks only the branches its topic can match and the cost does not grow with unrelated
// subscriptions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fieldgate::broker {

class Session;

// A subscription's granted QoS and MQTT 5 options (all defaults for MQTT 3).
struct SubscriptionOptions {
  uint8_t qos = 0;
  bool no_local = false;             // not sent messages its own session published
  bool retain_as_published = false;  // RETAIN as published, not cleared
  uint8_t retain_handling = 0;       // 0: retained on subscribe, 1: only if new, 2: never
  uint32_t identifier = 0;           // subscription identifier; 0: none
  bool operator==(const SubscriptionOptions&) const = default;
};

// "$share/{group}/{filter}": splits a shared subscription's filter into group and filter.
// False (and nothing set) for a filter that is not shared (an MQTT 3.1.1 filter such as
// "$share/+/x" is an ordinary one).
bool split_shared(std::string_view filter, std::string_view& group, std::string_view& real);

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class TopicTree {
 public:
  TopicTree();
  ~TopicTree();

  struct Subscriber {
    Session* session;
    SubscriptionOptions options;
    bool check_read;
  };
  // The members of one shared subscription ("$share/{group}/{filter}"): each message goes to
  // one of them, in turn.
  struct SharedGroup {
    std::string name;
    std::string filter;  // the whole "$share/{group}/{filter}"
    std::vector<Subscriber> members;
    mutable size_t next = 0;  // the member whose turn it is
  };

  // Subscribes `session` to `filter` (a valid filter; "$share/{group}/{filter}" joins that
  // shared subscription); check_read marks a subscription the ACL grants only in part, whose
  // messages are checked one by one. Returns true when the subscription is new, false when it
  // replaced an existing one's options and flag.
  bool add(std::string_view filter, Session* session, SubscriptionOptions options,
           bool check_read = false);
  bool add(std::string_view filter, Session* session, uint8_t qos, bool check_read = false) {
    return add(filter, session, SubscriptionOptions{.qos = qos}, check_read);
  }
  // Returns false when `session` had no subscription to `filter`.
  bool remove(std::string_view filter, Session* session);
  size_t size() const { return size_; }
  // The shared subscription `filter` ("$share/{group}/{filter}"); null when it has no members.
  const SharedGroup* find_shared(std::string_view filter) const;

  // Calls visit(const Subscriber&) once per (not shared) subscription whose filter matches
  // `topic` (a valid topic name), and visit_shared(const SharedGroup&) once per matching shared
  // subscription. A session with several matching filters is visited once per filter. Topics
  // starting with '$' are not matched by a leading '+' or '#'.
  template <typename Visit, typename VisitShared>
  void match(std::string_view topic, Visit&& visit, VisitShared&& visit_shared) const {
    Visitors<Visit, VisitShared> v{visit, visit_shared};
    match_level(*root_, topic, /*at_root=*/true, v);
  }
  // Plain subscriptions only: visit(Session*, granted QoS, check_read).
  template <typename Visit>
  void match(std::string_view topic, Visit&& visit) const {
    match(
        topic, [&](const Subscriber& s) { visit(s.session, s.options.qos, s.check_read); },
        [](const SharedGroup&) {});
  }

 private:
  template <typename Visit, typename VisitShared>
  struct Visitors {
    Visit& plain;
    VisitShared& shared;
  };
  // Wildcard levels have their own pointers: a publish then costs one hash lookup per level
  // (none where a node has no exact children), not three.
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
    std::unique_ptr<Node> plus;  // the level "+"
    std::unique_ptr<Node> hash;  // the level "#"
    std::vector<Subscriber> subscribers;
    std::vector<SharedGroup> shared;
    bool empty() const {
      return children.empty() && !plus && !hash && subscribers.empty() && shared.empty();
    }
  };

  template <typename Visit>
  static void visit_all(const Node& node, Visit& visit) {
    for (const Subscriber& s : node.subscribers)
      visit.plain(s);
    for (const SharedGroup& g : node.shared)
      visit.shared(g);
  }

  // `rest` is the topic from the current level on, or npos-like empty view with `done` set.
  template <typename Visit>
  static void match_level(const Node& node, std::string_view rest, bool at_root, Visit& visit) {
    size_t slash = rest.find('/');
    std::string_view level = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    std::string_view remainder = last ? std::string_view{} : rest.substr(slash + 1);
    bool wildcards_allowed = !(at_root && !level.empty() && level[0] == '$');

    if (!node.children.empty()) {
      if (auto it = node.children.find(level); it != node.children.end()) {
        descend(*it->second, remainder, last, visit);
      }
    }
    if (wildcards_allowed) {
      if (node.plus) descend(*node.plus, remainder, last, visit);
      if (node.hash) visit_all(*node.hash, visit);
    }
  }

  template <typename Visit>
  static void descend(const Node& child, std::string_view remainder, bool last, Visit& visit) {
    if (!last) {
      match_level(child, remainder, false, visit);
      return;
    }
    visit_all(child, visit);
    if (child.hash) visit_all(*child.hash, visit);  // "a/#" also matches "a" itself
  }

  static Node& child_for_adding(Node& node, std::string_view level);
  bool remove_from(Node& node, std::string_view rest, std::string_view group, Session* session);

  std::unique_ptr<Node> root_;
  size_t size_ = 0;
};

}  // namespace fieldgate::broker
