// The in-process client: what adapters publish reaches network subscribers, and what network
// clients publish reaches in-process subscribers, through a real broker on a loopback port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
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

}  // namespace
}  // namespace fieldgate::broker
