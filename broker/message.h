// A published message as the broker keeps it: built once when it must outlive the packet it
// came in (queued, in flight or retained) and shared by every session that holds it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "broker/broker.h"

namespace fieldgate::broker {

// Where the store stands with one row (a message or a delivery): the write not yet handed to
// the store's writer, so that a later change replaces it in place or cancels it.
struct PendingWrite {
  uint64_t batch = 0;    // the batch holding the last write of this row; 0: none
  uint32_t index = 0;    // its position in that batch
  bool written = false;  // an earlier batch, already handed over, wrote the row
};

struct Message {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;  // as published; a delivery uses min(this, the subscription's QoS)
  // MQTT 5: the properties passed on to subscribers (null: none, as for all MQTT 3 traffic;
  // message_expiry_interval is not used here) and when the message expires (Unix ms; 0: never).
  std::shared_ptr<const PublishProperties> properties;
  int64_t expires_at_ms = 0;

  // The store's bookkeeping, touched only by the broker's loop thread (the store's writer thread
  // reads topic, payload and qos only). A message is on disk while durable rows refer to it.
  struct Stored {
    uint64_t id = 0;    // row id in the messages table; 0: never stored
    uint32_t refs = 0;  // deliveries of persistent sessions and retained entries holding it
    PendingWrite write;
  };
  mutable Stored stored;
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace fieldgate::broker
