// What a connection on a TLS or WebSocket listener carries beyond plain TCP. A connection on a
// plain MQTT listener has none (a null pointer), so plain TCP pays one branch per read and per
// flush for all of this.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "broker/net/tls.h"
#include "broker/net/websocket.h"

namespace fieldgate::net {

struct Transport {
  std::unique_ptr<TlsSession> tls;  // null: plain TCP underneath

  // WebSocket (websockets listeners only): the HTTP request until it is complete, then the
  // frame decoder.
  bool websocket = false;
  std::string request;
  std::unique_ptr<ws::Decoder> decoder;  // set once the handshake has been answered

  // Bytes for the socket (through TLS when tls is set) that are not MQTT packets waiting in the
  // connection's output: the HTTP answer and WebSocket frames (MQTT packets framed at flush,
  // pong and close). Plain TLS writes straight from the connection's output instead.
  std::string wire;
  size_t wire_sent = 0;

  bool want_write = false;        // waiting for the socket to be writable (EPOLLOUT)
  bool read_wants_write = false;  // TLS: a read needs the socket writable first
  bool closing = false;           // no more input is read (a close was sent or received)

  // use_identity_as_username: the CN of the client's certificate, once the handshake is done.
  bool use_identity_as_username = false;
  std::optional<std::string> identity;

  bool upgraded() const { return decoder != nullptr; }
  size_t wire_pending() const { return wire.size() - wire_sent; }
  // Still in a handshake (TLS, then WebSocket): what the client has not completed, for logs.
  const char* handshake_pending() const {
    if (tls && !tls->handshake_done()) return "TLS handshake";
    if (websocket && !upgraded()) return "WebSocket handshake";
    return nullptr;
  }
};

}  // namespace fieldgate::net
