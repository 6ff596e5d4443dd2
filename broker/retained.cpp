#include "broker/retained.h"

namespace fieldgate::broker {
namespace {

bool is_dollar(std::string_view level) {
  return !level.empty() && level[0] == '$';
}

}  // namespace

RetainedStore::RetainedStore() : root_(std::make_unique<Node>()) {}
RetainedStore::~RetainedStore() = default;

MessagePtr RetainedStore::set(MessagePtr message) {
  Node* node = root_.get();
  std::string_view rest = message->topic;
  while (true) {
    size_t slash = rest.find('/');
    std::string_view level = rest.substr(0, slash);
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
    }
    node = it->second.get();
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (!node->message) ++size_;
  std::swap(node->message, message);
  return message;  // the one replaced, if any
}

MessagePtr RetainedStore::clear(std::string_view topic) {
  return clear_from(*root_, topic);
}

// Returns the message removed, if any; prunes the nodes it leaves empty.
MessagePtr RetainedStore::clear_from(Node& node, std::string_view rest) {
  size_t slash = rest.find('/');
  auto it = node.children.find(rest.substr(0, slash));
  if (it == node.children.end()) return nullptr;
  Node& child = *it->second;
  MessagePtr cleared;
  if (slash == std::string_view::npos) {
    if (child.message) {
      cleared = std::move(child.message);
      child.message.reset();
      --size_;
    }
  } else {
    cleared = clear_from(child, rest.substr(slash + 1));
  }
  if (!child.message && child.children.empty()) node.children.erase(it);
  return cleared;
}

void RetainedStore::match(std::string_view filter, const Visit& visit) const {
  match_from(*root_, filter, /*at_root=*/true, visit);
}

void RetainedStore::match_from(const Node& node, std::string_view rest, bool at_root,
                               const Visit& visit) const {
  size_t slash = rest.find('/');
  std::string_view level = rest.substr(0, slash);
  bool last = slash == std::string_view::npos;
  std::string_view remainder = last ? std::string_view{} : rest.substr(slash + 1);

  if (level == "#") {
    // "a/#" matches "a" itself and everything below it.
    if (!at_root && node.message) visit(node.message);
    visit_subtree(node, at_root, visit);
    return;
  }
  auto step = [&](const Node& child) {
    if (!last) {
      match_from(child, remainder, false, visit);
      return;
    }
    if (child.message) visit(child.message);
  };
  if (level == "+") {
    for (const auto& [name, child] : node.children) {
      if (at_root && is_dollar(name)) continue;
      step(*child);
    }
    return;
  }
  if (auto it = node.children.find(level); it != node.children.end()) step(*it->second);
}

void RetainedStore::visit_subtree(const Node& node, bool at_root, const Visit& visit) const {
  for (const auto& [name, child] : node.children) {
    if (at_root && is_dollar(name)) continue;
    if (child->message) visit(child->message);
    visit_subtree(*child, false, visit);
  }
}

}  // namespace fieldgate::broker
