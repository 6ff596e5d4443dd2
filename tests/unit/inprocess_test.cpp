// The in-process client: what adapters publish reaches network subscribers, and what network
// clients publish reaches in-process subscribers, through a real broker on a loopback port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "broker/broker.h"
#include "broker/codec/codec.h"

namespace fieldgate::broker {
namespace {

namespace mqtt = fieldgate::mqtt;

// A minimal blocking MQTT 3.1.1 client over a loopback socket, for this test only.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~TestClient() { ::close(fd_); }

  void send(const std::string& bytes) {
    ASSERT_EQ(::write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }

  // The next whole packet as its type and body; type 0 when nothing came in time.
  std::pair<mqtt::PacketType, std::string> receive() {
    while (true) {
      mqtt::Frame frame;
      if (mqtt::next_frame(buffer_, 1 << 20, frame) == mqtt::FrameStatus::Complete) {
        std::pair<mqtt::PacketType, std::string> packet{frame.header.type,
                                                        std::string(buffer_, 0, frame.size())};
        buffer_.erase(0, frame.size());
        return packet;
      }
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) return {mqtt::PacketType{}, {}};
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

TEST(InProcessClient, PublishesReachNetworkSubscribersAndBack) {
  Options options;
  options.listeners.push_back({"127.0.0.1", 0});
  options.allow_anonymous = true;
  options.sys_interval_s = 0;
  Broker broker(options);
  std::thread loop([&] { broker.run(); });

  std::promise<std::pair<std::string, std::string>> command;
  broker.subscribe("gw/+/set", [&](std::string_view topic, std::string_view payload) {
    command.set_value({std::string(topic), std::string(payload)});
  });

  TestClient client(broker.bound_ports().at(0));
  std::string out;
  mqtt::Connect connect;
  connect.client_id = "test";
  mqtt::encode_connect(out, connect);
  mqtt::Subscribe subscribe{.packet_id = 1, .subscriptions = {{.filter = "gw/#", .qos = 1}}};
  mqtt::encode_subscribe(out, subscribe);
  client.send(out);
  EXPECT_EQ(client.receive().first, mqtt::PacketType::Connack);
  EXPECT_EQ(client.receive().first, mqtt::PacketType::Suback);

  broker.publish("gw/temp", "21.5", 1, false);
  auto [type, bytes] = client.receive();
  ASSERT_EQ(type, mqtt::PacketType::Publish);
  mqtt::Frame frame;
  ASSERT_EQ(mqtt::next_frame(bytes, 1 << 20, frame), mqtt::FrameStatus::Complete);
  mqtt::Publish publish;
  ASSERT_EQ(mqtt::decode_publish(frame, mqtt::Version::v311, publish), mqtt::Error::None);
  EXPECT_EQ(publish.topic, "gw/temp");
  EXPECT_EQ(publish.payload, "21.5");
  EXPECT_EQ(publish.qos, 1);

  out.clear();
  mqtt::encode_publish(out, mqtt::Publish{.topic = "gw/setpoint/set", .payload = "22"});
  client.send(out);
  auto received = command.get_future();
  ASSERT_EQ(received.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(received.get(), (std::pair<std::string, std::string>{"gw/setpoint/set", "22"}));

  broker.request_stop();
  loop.join();
}

// MQTT 5 request/response through the in-process client (SPEC.md: a device command with a
// response topic gets its result there, with the correlation data).
TEST(InProcessClient, PassesResponseTopicAndCorrelationDataBothWays) {
  Options options;
  options.listeners.push_back({"127.0.0.1", 0});
  options.allow_anonymous = true;
  options.sys_interval_s = 0;
  Broker broker(options);
  std::thread loop([&] { broker.run(); });

  struct Request {
    std::string topic, payload;
    std::optional<std::string> response_topic, correlation_data;
    std::vector<std::pair<std::string, std::string>> user_properties;
  };
  std::promise<Request> request;
  broker.subscribe("gw/+/set", [&](std::string_view topic, std::string_view payload,
                                   const PublishProperties* properties) {
    Request r{std::string(topic), std::string(payload), {}, {}, {}};
    if (properties) {
      r.response_topic = properties->response_topic;
      r.correlation_data = properties->correlation_data;
      r.user_properties = properties->user_properties;
    }
    request.set_value(std::move(r));
  });
  // The plain handler still works beside it, and gets no properties.
  std::promise<std::string> plain;
  broker.subscribe("gw/+/set", [&](std::string_view, std::string_view payload) {
    plain.set_value(std::string(payload));
  });

  TestClient client(broker.bound_ports().at(0));
  const auto v5 = mqtt::Version::v5;
  std::string out;
  mqtt::Connect connect{.version = v5};
  connect.client_id = "requester";
  mqtt::encode_connect(out, connect);
  mqtt::Subscribe subscribe{.packet_id = 1, .subscriptions = {{.filter = "reply/#", .qos = 1}}};
  mqtt::encode_subscribe(out, subscribe, v5);
  client.send(out);
  EXPECT_EQ(client.receive().first, mqtt::PacketType::Connack);
  EXPECT_EQ(client.receive().first, mqtt::PacketType::Suback);

  out.clear();
  mqtt::Publish command{.topic = "gw/setpoint/set", .payload = "22"};
  command.properties.response_topic = "reply/1";
  command.properties.correlation_data = std::string_view("\0\x01id", 4);
  command.properties.user_properties = {{"k", "v"}};
  mqtt::encode_publish(out, command, v5);
  client.send(out);
  auto received = request.get_future();
  ASSERT_EQ(received.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  Request r = received.get();
  EXPECT_EQ(r.topic, "gw/setpoint/set");
  EXPECT_EQ(r.payload, "22");
  EXPECT_EQ(r.response_topic, std::optional<std::string>("reply/1"));
  EXPECT_EQ(r.correlation_data, std::optional<std::string>(std::string("\0\x01id", 4)));
  EXPECT_EQ(r.user_properties, (std::vector<std::pair<std::string, std::string>>{{"k", "v"}}));
  auto plain_received = plain.get_future();
  ASSERT_EQ(plain_received.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(plain_received.get(), "22");

  PublishProperties answer;
  answer.correlation_data = *r.correlation_data;
  broker.publish(*r.response_topic, R"({"ok": true})", 1, false, answer);
  auto [type, bytes] = client.receive();
  ASSERT_EQ(type, mqtt::PacketType::Publish);
  mqtt::Frame frame;
  ASSERT_EQ(mqtt::next_frame(bytes, 1 << 20, frame), mqtt::FrameStatus::Complete);
  mqtt::Publish publish;
  ASSERT_EQ(mqtt::decode_publish(frame, v5, publish), mqtt::Error::None);
  EXPECT_EQ(publish.topic, "reply/1");
  EXPECT_EQ(publish.payload, R"({"ok": true})");
  EXPECT_EQ(publish.properties.correlation_data, std::string_view("\0\x01id", 4));

  broker.request_stop();
  loop.join();
}

// What the bridge relies on: whole deliveries (QoS and RETAIN as published, the publisher's
// origin), out-queue rows written from a handler that come back after a restart unless removed,
// and stop hooks that run before the last write.
TEST(InProcessClient, DeliveriesCarryTheirOriginAndOutboxRowsSurviveARestart) {
  char dir_template[] = "/tmp/fieldgate-outbox-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::filesystem::path dir(dir_template);
  Options options;
  options.persistence = true;
  options.state_dir = dir.string();
  options.sys_interval_s = 0;
  using Seen = std::tuple<std::string, std::string, uint8_t, bool, uint32_t>;
  std::vector<Seen> seen;
  {
    Broker broker(options);
    EXPECT_TRUE(broker.persistent());
    EXPECT_TRUE(broker.outbox_load("b").empty());
    std::mutex mutex;
    std::promise<void> all_seen;
    uint64_t seq = 0;
    uint64_t put_in = 0;  // the batch of the last row put
    std::promise<void> durable;
    bool durable_seen = false;
    broker.outbox_on_durable([&](uint64_t batch) {
      if (seq == 3 && batch >= put_in && !durable_seen) {
        durable_seen = true;
        durable.set_value();
      }
    });
    broker.subscribe_deliveries("t/#", [&](const Broker::Delivery& d) {
      put_in = broker.outbox_put("b", Broker::OutboxRow{++seq, "up/" + std::string(d.topic),
                                                        std::string(d.payload), d.qos, d.retain});
      EXPECT_GT(put_in, 0u);
      std::lock_guard lock(mutex);
      seen.emplace_back(std::string(d.topic), std::string(d.payload), d.qos, d.retain, d.origin);
      if (seen.size() == 3) all_seen.set_value();
    });
    bool hook_ran = false;
    broker.at_stop([&] {
      hook_ran = true;
      broker.outbox_remove("b", {3});  // posted by the hook: still written
    });
    std::thread loop([&] { broker.run(); });
    broker.publish("t/1", "a", 1, false);
    broker.publish("t/2", "b", 2, true, /*origin=*/7);
    broker.publish("t/3", "c", 0, false);
    ASSERT_EQ(all_seen.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
    // The listener hears of the commit that holds the last row.
    ASSERT_EQ(durable.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
    broker.outbox_remove("b", {2});
    broker.request_stop();
    loop.join();
    EXPECT_TRUE(hook_ran);
  }
  EXPECT_EQ(seen,
            (std::vector<Seen>{
                {"t/1", "a", 1, false, 0}, {"t/2", "b", 2, true, 7}, {"t/3", "c", 0, false, 0}}));
  {
    Broker broker(options);
    std::vector<Broker::OutboxRow> rows = broker.outbox_load("b");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].seq, 1u);
    EXPECT_EQ(rows[0].topic, "up/t/1");
    EXPECT_EQ(rows[0].payload, "a");
    EXPECT_EQ(rows[0].qos, 1);
    EXPECT_FALSE(rows[0].retain);
    EXPECT_TRUE(broker.outbox_load("b").empty());  // each bridge takes its rows once
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fieldgate::broker
