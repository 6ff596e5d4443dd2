// A published message as the broker keeps it: built once when it must outlive the packet it
// came in (queued, in flight or retained) and shared by every session that holds it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace fieldgate::broker {

struct Message {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;  // as published; a delivery uses min(this, the subscription's QoS)
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace fieldgate::broker
