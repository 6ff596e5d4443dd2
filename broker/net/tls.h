// TLS for the broker's listeners, on OpenSSL: one TlsContext per TLS listener (built and checked
// at start), one TlsSession per accepted connection, driven non-blocking by the event loop.
//
// Nothing here blocks: every call that would wait says so (WantRead / WantWrite) and the loop
// tries again when epoll reports the socket ready. Nothing here is MQTT-specific.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

// OpenSSL's types, without its headers.
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace fieldgate::net {

// A listener's certificates cannot be used: what() names the file, what is wrong with it and
// what to do. Thrown at start; fieldgate exits 1 (a configuration error).
class TlsConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TlsSettings {
  std::string cert_file;  // PEM: the server certificate, optionally followed by its chain
  std::string key_file;   // PEM: its private key (not encrypted)
  std::string ca_file;    // PEM: CAs that sign client certificates; empty: none asked for
  bool require_client_cert = false;  // needs ca_file: a client without one fails the handshake
};

// A server-side SSL_CTX: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers for TLS 1.2 and
// OpenSSL's TLS 1.3 suites, no renegotiation, no compression.
class TlsContext {
 public:
  // Reads and checks the files: each must be readable PEM, the key must match the certificate,
  // and the certificate must not have expired (one not valid yet is logged as a warning: a
  // device without a real-time clock may start with its clock behind). Throws TlsConfigError.
  explicit TlsContext(const TlsSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }

 private:
  SSL_CTX* ctx_ = nullptr;
};

// One server-side TLS connection over a non-blocking socket that the caller owns.
class TlsSession {
 public:
  // Outcome of a call that may have to wait. Done: the handshake has completed (handshake()).
  // Closed: the peer closed the TLS session (close_notify) or the socket. Failed: a protocol or
  // socket error; error() says which.
  enum class Status { Done, WantRead, WantWrite, Closed, Failed };

  TlsSession(const TlsContext& context, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  bool handshake_done() const { return handshake_done_; }
  // Advances the server handshake. Closed: the peer closed the connection before it was done
  // (a port probe, a health check); Failed: the handshake failed, error() says why.
  Status handshake();

  // Decrypts into buf: returns the number of bytes (> 0) and sets status Done, or returns 0 and
  // sets status to WantRead (nothing more for now), WantWrite, Closed or Failed.
  size_t read(char* buf, size_t size, Status& status);
  // Whether decrypted bytes wait inside OpenSSL (the socket may be empty meanwhile).
  bool pending() const;

  // Encrypts and sends up to size bytes; returns how many were taken (> 0) with status Done, or
  // 0 with WantWrite / WantRead / Failed. After a WantWrite, call again with the same bytes at
  // the front (the buffer may have moved and grown).
  size_t write(const char* data, size_t size, Status& status);

  // Sends close_notify, best effort (one try, never waits).
  void shutdown();

  // Why the last call failed, from OpenSSL's error queue ("certificate required", ...).
  const std::string& error() const { return error_; }
  // The negotiated protocol, e.g. "TLSv1.3", once the handshake is done.
  std::string version() const;
  // The common name (CN) of the client's verified certificate; empty optional without one.
  std::optional<std::string> peer_common_name() const;

 private:
  Status fail(int ret);

  SSL* ssl_ = nullptr;
  bool handshake_done_ = false;
  bool failed_ = false;
  std::string error_;
};

}  // namespace fieldgate::net
