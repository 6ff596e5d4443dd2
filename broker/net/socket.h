// Sockets and the epoll loop underneath the broker: thin RAII wrappers, nothing MQTT-specific.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <span>
#include <string>

namespace fieldgate::net {

// Owns one file descriptor; closes it when destroyed.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A non-blocking TCP socket listening on host:port ("0.0.0.0", "::", "127.0.0.1", "[::1]" or a
// host name). Throws std::runtime_error naming the address and the reason on failure.
Fd listen_tcp(const std::string& host, uint16_t port);

// The port a listening socket is bound to (useful after binding port 0).
uint16_t local_port(int fd);

// "ADDRESS:PORT" of the peer of a connected socket, for log lines.
std::string peer_address(int fd);

// An epoll instance. Level-triggered: a descriptor with unread input is reported again.
class Poller {
 public:
  Poller();
  void add(int fd, uint32_t events, void* tag);
  void modify(int fd, uint32_t events, void* tag);
  void remove(int fd);
  // Waits at most timeout_ms (-1: forever). Returns the number of events filled in.
  int wait(std::span<epoll_event> events, int timeout_ms);

 private:
  Fd epoll_;
};

}  // namespace fieldgate::net
