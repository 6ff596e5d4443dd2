// Topic matching: the subscription tree and the retained store must agree with the
// specification's wildcard rules (MQTT 3.1.1 section 4.7).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/retained.h"
#include "broker/session.h"
#include "broker/topic_tree.h"

namespace fieldgate::broker {
namespace {

// Every (session id, QoS) the tree visits for `topic`, sorted.
std::vector<std::pair<std::string, int>> matches(const TopicTree& tree, std::string_view topic) {
  std::vector<std::pair<std::string, int>> out;
  tree.match(topic, [&](Session* s, uint8_t qos, bool) { out.emplace_back(s->client_id, qos); });
  std::sort(out.begin(), out.end());
  return out;
}

bool filter_matches(std::string_view filter, std::string_view topic) {
  TopicTree tree;
  Session s("s", true, false);
  tree.add(filter, &s, 0);
  return !matches(tree, topic).empty();
}

TEST(TopicTree, WildcardRulesOfTheSpecification) {
  struct Case {
    const char* filter;
    const char* topic;
    bool match;
  };
  const Case cases[] = {
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/#", "sport", true},
      {"#", "sport/tennis", true},
      {"#", "/", true},
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"+", "finance", true},
      {"a/b", "a/b", true},
      {"a/b", "a/b/c", false},
      {"a/b", "a", false},
      {"a//b", "a//b", true},
      {"a/+/b", "a//b", true},
      {"A", "a", false},
      {"#", "$SYS/broker/uptime", false},
      {"+/broker/uptime", "$SYS/broker/uptime", false},
      {"$SYS/#", "$SYS/broker/uptime", true},
      {"$SYS/+/uptime", "$SYS/broker/uptime", true},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"a/$x/#", "a/$x/y", true},
      {"a/+/y", "a/$x/y", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(filter_matches(c.filter, c.topic), c.match) << c.filter << " vs " << c.topic;
  }
}

TEST(TopicTree, OneVisitPerMatchingFilterWithItsQos) {
  TopicTree tree;
  Session a("a", true, false), b("b", true, false);
  EXPECT_TRUE(tree.add("x/#", &a, 1));
  EXPECT_TRUE(tree.add("x/y", &a, 2));
  EXPECT_TRUE(tree.add("x/+", &b, 0));
  EXPECT_EQ(tree.size(), 3u);
  auto found = matches(tree, "x/y");
  std::vector<std::pair<std::string, int>> expected = {{"a", 1}, {"a", 2}, {"b", 0}};
  EXPECT_EQ(found, expected);
}

TEST(TopicTree, ResubscribingReplacesTheQos) {
  TopicTree tree;
  Session a("a", true, false);
  EXPECT_TRUE(tree.add("x", &a, 0));
  EXPECT_FALSE(tree.add("x", &a, 2));
  EXPECT_EQ(tree.size(), 1u);
  std::vector<std::pair<std::string, int>> expected = {{"a", 2}};
  EXPECT_EQ(matches(tree, "x"), expected);
}

TEST(TopicTree, RemoveStopsMatchesAndLeavesOthers) {
  TopicTree tree;
  Session a("a", true, false), b("b", true, false);
  tree.add("x/+/z", &a, 1);
  tree.add("x/+/z", &b, 1);
  EXPECT_TRUE(tree.remove("x/+/z", &a));
  EXPECT_FALSE(tree.remove("x/+/z", &a));
  EXPECT_FALSE(tree.remove("x/nothing", &b));
  std::vector<std::pair<std::string, int>> expected = {{"b", 1}};
  EXPECT_EQ(matches(tree, "x/y/z"), expected);
  EXPECT_TRUE(tree.remove("x/+/z", &b));
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_TRUE(matches(tree, "x/y/z").empty());
  // Wildcard levels: '#' and '+' at the root, and '#' below an exact level.
  for (const char* filter : {"#", "+", "x/#", "+/#"}) {
    EXPECT_TRUE(tree.add(filter, &a, 1)) << filter;
    EXPECT_FALSE(matches(tree, "x").empty()) << filter;
    EXPECT_FALSE(tree.remove(filter, &b)) << filter;
    EXPECT_TRUE(tree.remove(filter, &a)) << filter;
    EXPECT_TRUE(matches(tree, "x").empty()) << filter;
  }
  EXPECT_EQ(tree.size(), 0u);
}

MessagePtr message(std::string topic) {
  return std::make_shared<const Message>(Message{std::move(topic), "payload", 1});
}

std::vector<std::string> retained_for(const RetainedStore& store, std::string_view filter) {
  std::vector<std::string> topics;
  store.match(filter, [&](const MessagePtr& m) { topics.push_back(m->topic); });
  std::sort(topics.begin(), topics.end());
  return topics;
}

TEST(RetainedStore, FiltersFindTheirMessages) {
  RetainedStore store;
  for (const char* t : {"a", "a/b", "a/b/c", "a/x/c", "/lead", "$SYS/uptime", "b"}) {
    store.set(message(t));
  }
  EXPECT_EQ(store.size(), 7u);
  using V = std::vector<std::string>;
  EXPECT_EQ(retained_for(store, "#"), (V{"/lead", "a", "a/b", "a/b/c", "a/x/c", "b"}));
  EXPECT_EQ(retained_for(store, "a/#"), (V{"a", "a/b", "a/b/c", "a/x/c"}));
  EXPECT_EQ(retained_for(store, "a/+/c"), (V{"a/b/c", "a/x/c"}));
  EXPECT_EQ(retained_for(store, "+"), (V{"a", "b"}));
  EXPECT_EQ(retained_for(store, "+/lead"), (V{"/lead"}));
  EXPECT_EQ(retained_for(store, "+/+"), (V{"/lead", "a/b"}));
  EXPECT_EQ(retained_for(store, "$SYS/#"), (V{"$SYS/uptime"}));
  EXPECT_EQ(retained_for(store, "+/uptime"), V{});
  EXPECT_EQ(retained_for(store, "a/b"), (V{"a/b"}));
  EXPECT_EQ(retained_for(store, "a/b/c/d"), V{});
}

TEST(RetainedStore, SetReplacesAndClearRemoves) {
  RetainedStore store;
  store.set(message("a/b"));
  auto newer = std::make_shared<const Message>(Message{"a/b", "newer", 0});
  store.set(newer);
  EXPECT_EQ(store.size(), 1u);
  std::vector<MessagePtr> found;
  store.match("a/b", [&](const MessagePtr& m) { found.push_back(m); });
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]->payload, "newer");
  store.clear("a/b");
  store.clear("never/set");
  EXPECT_EQ(store.size(), 0u);
  EXPECT_TRUE(retained_for(store, "#").empty());
}

TEST(TopicTree, SplitsSharedSubscriptions) {
  std::string_view group, filter;
  EXPECT_TRUE(split_shared("$share/g1/a/+/b", group, filter));
  EXPECT_EQ(group, "g1");
  EXPECT_EQ(filter, "a/+/b");
  // Not shared: no group, a wildcard in the group, no filter, another prefix.
  for (std::string_view f : {"$share//a", "$share/+/a", "$share/g#/a", "$share/g", "$share/g/",
                             "$sharex/g/a", "share/g/a", "$SYS/x"}) {
    EXPECT_FALSE(split_shared(f, group, filter)) << f;
  }
}

TEST(TopicTree, SharedGroupsTakeTurnsAndKeepTheirOptions) {
  TopicTree tree;
  Session a("a", true, false), b("b", true, false), plain("plain", true, false);
  EXPECT_TRUE(tree.add("$share/g/x/#", &a, SubscriptionOptions{.qos = 1, .identifier = 4}));
  EXPECT_TRUE(tree.add("$share/g/x/#", &b, 2));
  EXPECT_FALSE(tree.add("$share/g/x/#", &b, 1));  // replaces b's options
  EXPECT_TRUE(tree.add("$share/h/x/#", &a, 0));   // another group: another subscription
  EXPECT_TRUE(tree.add("x/#", &plain, SubscriptionOptions{.qos = 2, .no_local = true}));
  EXPECT_EQ(tree.size(), 4u);

  std::vector<std::string> chosen;
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> groups;
    int plain_visits = 0;
    tree.match(
        "x/y",
        [&](const TopicTree::Subscriber& s) {
          ++plain_visits;
          EXPECT_TRUE(s.options.no_local);
        },
        [&](const TopicTree::SharedGroup& g) {
          groups.push_back(g.filter);
          if (g.name != "g") return;
          const TopicTree::Subscriber& m = g.members[g.next % g.members.size()];
          chosen.push_back(m.session->client_id);
          EXPECT_EQ(m.options.identifier, m.session == &a ? 4u : 0u);
          EXPECT_EQ(m.options.qos, 1);
          g.next = (g.next + 1) % g.members.size();
        });
    EXPECT_EQ(plain_visits, 1);
    std::sort(groups.begin(), groups.end());
    EXPECT_EQ(groups, (std::vector<std::string>{"$share/g/x/#", "$share/h/x/#"}));
  }
  EXPECT_EQ(chosen, (std::vector<std::string>{"a", "b", "a", "b"}));
  // The old visitor sees plain subscriptions only.
  EXPECT_EQ(matches(tree, "x/y"), (std::vector<std::pair<std::string, int>>{{"plain", 2}}));

  ASSERT_NE(tree.find_shared("$share/g/x/#"), nullptr);
  EXPECT_EQ(tree.find_shared("$share/g/x/#")->members.size(), 2u);
  EXPECT_EQ(tree.find_shared("$share/zz/x/#"), nullptr);
  EXPECT_EQ(tree.find_shared("x/#"), nullptr);

  EXPECT_TRUE(tree.remove("$share/g/x/#", &a));
  EXPECT_FALSE(tree.remove("$share/g/x/#", &a));
  EXPECT_EQ(tree.find_shared("$share/g/x/#")->members.size(), 1u);
  EXPECT_TRUE(tree.remove("$share/g/x/#", &b));
  EXPECT_EQ(tree.find_shared("$share/g/x/#"), nullptr);  // the empty group is gone
  EXPECT_TRUE(tree.remove("$share/h/x/#", &a));
  EXPECT_TRUE(tree.remove("x/#", &plain));
  EXPECT_EQ(tree.size(), 0u);
}

// The in-flight window keeps the order sent whichever entry is acknowledged, and stays compact
// when acknowledgements come in order (the usual case) for ever.
TEST(InflightWindow, KeepsOrderAndCompacts) {
  InflightWindow w;
  std::vector<uint16_t> model;
  auto ids = [&] {
    std::vector<uint16_t> out;
    for (const Inflight& f : w)
      out.push_back(f.packet_id);
    return out;
  };
  uint16_t next = 1;
  for (int round = 0; round < 500; ++round) {
    while (model.size() < 20) {
      w.push_back(Inflight{next, Inflight::State::AwaitPuback, {}});
      model.push_back(next++);
    }
    // Mostly the oldest; now and then one in the middle, or the newest.
    size_t at = round % 7 == 3 ? 5 : round % 11 == 4 ? model.size() - 1 : 0;
    w.erase(w.begin() + static_cast<std::ptrdiff_t>(at));
    model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
    ASSERT_EQ(ids(), model);
    ASSERT_EQ(w.size(), model.size());
    ASSERT_EQ(w[0].packet_id, model[0]);
  }
  while (!w.empty())
    w.erase(w.begin());
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(ids().empty());
}

}  // namespace
}  // namespace fieldgate::broker
