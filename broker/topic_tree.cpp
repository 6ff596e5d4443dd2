#include "broker/topic_tree.h"

#include <algorithm>

namespace fieldgate::broker {

bool split_shared(std::string_view filter, std::string_view& group, std::string_view& real) {
  constexpr std::string_view kPrefix = "$share/";
  if (!filter.starts_with(kPrefix)) return false;
  std::string_view rest = filter.substr(kPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view g = rest.substr(0, slash);
  std::string_view r = rest.substr(slash + 1);
  // The group name is one level without wildcards [MQTT-4.8.2-1, -2], and a filter follows.
  if (g.empty() || g.find_first_of("+#") != std::string_view::npos || r.empty()) return false;
  group = g;
  real = r;
  return true;
}

TopicTree::TopicTree() : root_(std::make_unique<Node>()) {}
TopicTree::~TopicTree() = default;

bool TopicTree::add(std::string_view filter, Session* session, SubscriptionOptions options,
                    bool check_read) {
  const std::string_view whole = filter;
  std::string_view group;
  bool shared = split_shared(filter, group, filter);
  Node* node = root_.get();
  while (true) {
    size_t slash = filter.find('/');
    node = &child_for_adding(*node, filter.substr(0, slash));
    if (slash == std::string_view::npos) break;
    filter.remove_prefix(slash + 1);
  }
  std::vector<Subscriber>* subscribers = &node->subscribers;
  if (shared) {
    auto g = std::find_if(node->shared.begin(), node->shared.end(),
                          [&](const SharedGroup& x) { return x.name == group; });
    if (g == node->shared.end()) {
      node->shared.push_back(SharedGroup{std::string(group), std::string(whole), {}, 0});
      g = node->shared.end() - 1;
    }
    subscribers = &g->members;
  }
  for (Subscriber& s : *subscribers) {
    if (s.session == session) {
      s.options = options;
      s.check_read = check_read;
      return false;
    }
  }
  subscribers->push_back({session, options, check_read});
  ++size_;
  return true;
}

const TopicTree::SharedGroup* TopicTree::find_shared(std::string_view filter) const {
  std::string_view group;
  if (!split_shared(filter, group, filter)) return nullptr;
  const Node* node = root_.get();
  while (node) {
    size_t slash = filter.find('/');
    std::string_view level = filter.substr(0, slash);
    if (level == "+") {
      node = node->plus.get();
    } else if (level == "#") {
      node = node->hash.get();
    } else {
      auto it = node->children.find(level);
      node = it == node->children.end() ? nullptr : it->second.get();
    }
    if (slash == std::string_view::npos) break;
    filter.remove_prefix(slash + 1);
  }
  if (!node) return nullptr;
  for (const SharedGroup& g : node->shared) {
    if (g.name == group) return &g;
  }
  return nullptr;
}

TopicTree::Node& TopicTree::child_for_adding(Node& node, std::string_view level) {
  std::unique_ptr<Node>* slot;
  if (level == "+") {
    slot = &node.plus;
  } else if (level == "#") {
    slot = &node.hash;
  } else {
    auto it = node.children.find(level);
    if (it == node.children.end()) it = node.children.emplace(std::string(level), nullptr).first;
    slot = &it->second;
  }
  if (!*slot) *slot = std::make_unique<Node>();
  return **slot;
}

bool TopicTree::remove(std::string_view filter, Session* session) {
  std::string_view group;
  split_shared(filter, group, filter);
  return remove_from(*root_, filter, group, session);
}

// Removes the subscription below `node` and prunes the nodes it leaves empty. A non-empty
// `group` names the shared subscription to leave.
bool TopicTree::remove_from(Node& node, std::string_view rest, std::string_view group,
                            Session* session) {
  size_t slash = rest.find('/');
  std::string_view level = rest.substr(0, slash);
  std::unique_ptr<Node>* slot = level == "+" ? &node.plus : level == "#" ? &node.hash : nullptr;
  auto it = node.children.end();
  if (!slot) {
    it = node.children.find(level);
    if (it == node.children.end()) return false;
    slot = &it->second;
  }
  if (!*slot) return false;
  Node& child = **slot;
  bool removed = false;
  if (slash == std::string_view::npos) {
    auto take = [&](std::vector<Subscriber>& subscribers, bool keep_order) {
      auto sub = std::find_if(subscribers.begin(), subscribers.end(),
                              [&](const Subscriber& s) { return s.session == session; });
      if (sub == subscribers.end()) return;
      if (keep_order) {
        subscribers.erase(sub);  // the members' turns stay in the same order
      } else {
        *sub = subscribers.back();
        subscribers.pop_back();
      }
      --size_;
      removed = true;
    };
    if (group.empty()) {
      take(child.subscribers, false);
    } else {
      auto g = std::find_if(child.shared.begin(), child.shared.end(),
                            [&](const SharedGroup& x) { return x.name == group; });
      if (g != child.shared.end()) {
        take(g->members, true);
        if (g->members.empty()) child.shared.erase(g);
      }
    }
  } else {
    removed = remove_from(child, rest.substr(slash + 1), group, session);
  }
  if (child.empty()) {
    if (it != node.children.end()) {
      node.children.erase(it);
    } else {
      slot->reset();
    }
  }
  return removed;
}

}  // namespace fieldgate::broker
