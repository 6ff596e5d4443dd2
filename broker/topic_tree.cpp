#include "broker/topic_tree.h"

#include <algorithm>

namespace fieldgate::broker {

TopicTree::TopicTree() : root_(std::make_unique<Node>()) {}
TopicTree::~TopicTree() = default;

bool TopicTree::add(std::string_view filter, Session* session, uint8_t qos, bool check_read) {
  Node* node = root_.get();
  while (true) {
    size_t slash = filter.find('/');
    node = &child_for_adding(*node, filter.substr(0, slash));
    if (slash == std::string_view::npos) break;
    filter.remove_prefix(slash + 1);
  }
  for (Subscriber& s : node->subscribers) {
    if (s.session == session) {
      s.qos = qos;
      s.check_read = check_read;
      return false;
    }
  }
  node->subscribers.push_back({session, qos, check_read});
  ++size_;
  return true;
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
  return remove_from(*root_, filter, session);
}

// Removes the subscription below `node` and prunes the nodes it leaves empty.
bool TopicTree::remove_from(Node& node, std::string_view rest, Session* session) {
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
    auto sub = std::find_if(child.subscribers.begin(), child.subscribers.end(),
                            [&](const Subscriber& s) { return s.session == session; });
    if (sub != child.subscribers.end()) {
      *sub = child.subscribers.back();
      child.subscribers.pop_back();
      --size_;
      removed = true;
    }
  } else {
    removed = remove_from(child, rest.substr(slash + 1), session);
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
