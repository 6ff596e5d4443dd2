// Retained messages by topic: a tree with one topic level per edge, so that a subscription's
// filter finds its retained messages without scanning the others.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/message.h"
#include "broker/topic_tree.h"

namespace fieldgate::broker {

class RetainedStore {
 public:
  RetainedStore();
  ~RetainedStore();

  // Stores `message` as the retained message of its topic; returns the one it replaces, if any.
  MessagePtr set(MessagePtr message);
  // Removes the retained message of `topic` and returns it (null if there was none).
  MessagePtr clear(std::string_view topic);
  size_t size() const { return size_; }

  // Calls visit(const MessagePtr&) for every retained message whose topic matches `filter` (a
  // valid filter). Topics starting with '$' are not matched by a leading '+' or '#'.
  void match(std::string_view filter, const std::function<void(const MessagePtr&)>& visit) const;

 private:
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
    MessagePtr message;
  };
  using Visit = std::function<void(const MessagePtr&)>;

  void match_from(const Node& node, std::string_view rest, bool at_root, const Visit& visit) const;
  void visit_subtree(const Node& node, bool at_root, const Visit& visit) const;
  MessagePtr clear_from(Node& node, std::string_view rest);

  std::unique_ptr<Node> root_;
  size_t size_ = 0;
};

}  // namespace fieldgate::broker
