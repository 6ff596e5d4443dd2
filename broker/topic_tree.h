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

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class TopicTree {
 public:
  TopicTree();
  ~TopicTree();

  // Subscribes `session` to `filter` (a valid filter) at `qos`; check_read marks a subscription
  // the ACL grants only in part, whose messages are checked one by one. Returns true when the
  // subscription is new, false when it replaced an existing one's QoS and flag.
  bool add(std::string_view filter, Session* session, uint8_t qos, bool check_read = false);
  // Returns false when `session` had no subscription to `filter`.
  bool remove(std::string_view filter, Session* session);
  size_t size() const { return size_; }

  // Calls visit(Session*, granted QoS, check_read) once per subscription whose filter matches
  // `topic` (a
  // valid topic name). A session with several matching filters is visited once per filter.
  // Topics starting with '$' are not matched by a leading '+' or '#'.
  template <typename Visit>
  void match(std::string_view topic, Visit&& visit) const {
    match_level(*root_, topic, /*at_root=*/true, visit);
  }

 private:
  struct Subscriber {
    Session* session;
    uint8_t qos;
    bool check_read;
  };
  // Wildcard levels have their own pointers: a publish then costs one hash lookup per level
  // (none where a node has no exact children), not three.
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
    std::unique_ptr<Node> plus;  // the level "+"
    std::unique_ptr<Node> hash;  // the level "#"
    std::vector<Subscriber> subscribers;
    bool empty() const { return children.empty() && !plus && !hash && subscribers.empty(); }
  };

  template <typename Visit>
  static void visit_all(const Node& node, Visit& visit) {
    for (const Subscriber& s : node.subscribers)
      visit(s.session, s.qos, s.check_read);
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
  bool remove_from(Node& node, std::string_view rest, Session* session);

  std::unique_ptr<Node> root_;
  size_t size_ = 0;
};

}  // namespace fieldgate::broker
