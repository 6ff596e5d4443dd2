// fieldgate-loadgen: an MQTT 3.1.1 load generator for the broker benchmarks (bench/run).
//
// It speaks MQTT itself over raw non-blocking sockets driven by epoll, so that the client costs
// far less than the broker under test: publishers write many PUBLISHes per write(), subscribers
// read up to 256 KB per read() and parse every complete packet in it, acknowledgements are
// gathered and written once per read.
//
// Publishers never run unboundedly ahead of what the subscribers receive. Every (publisher,
// subscriber) pair is a flow; each PUBLISH carries its publisher's index and sequence number in
// the payload, and a publisher sends only while, for each of its flows, fewer than --window
// messages are published but not yet seen by that subscriber (a message that a broker dropped
// stops counting once a later one arrives). At QoS 1 a publisher additionally keeps at most
// --ack-window PUBLISHes awaiting PUBACK. The figure reported is always what the subscribers
// actually received, counted over --duration seconds after --warmup seconds.
//
// Two further scenarios are phases rather than steady load: `offline` (queue messages for an
// offline persistent session, then drain them) and `populate` (leave many offline persistent
// sessions with queued messages, for restart measurements); see run_offline and run_populate.
//
// Payload (64 bytes): u32 publisher index, u32 magic, u64 sequence number, u64 send time
// (CLOCK_MONOTONIC ns), then filler.
//
// Output: one line per figure, `NAME key=value ...`, the first key being the figure itself.
// Exit status 0 on success, 1 on bad usage, 2 on a protocol or connection failure.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "broker/codec/codec.h"

namespace mqtt = fieldgate::mqtt;

namespace {

constexpr size_t kPayloadSize = 64;
constexpr uint32_t kMagic = 0x424c4746;  // "FGLB"
constexpr size_t kReadChunk = 256 * 1024;
constexpr uint16_t kKeepAlive = 60;  // seconds, announced in CONNECT
constexpr uint64_t kPingEveryNs = 20'000'000'000ULL;
constexpr uint64_t kStallNs = 1'000'000'000ULL;  // window closed this long: count as lost
constexpr int kMaxWaitMs = 20;                   // epoll_wait bound, so that stop is noticed

[[noreturn]] void fatal(const std::string& message) {
  std::fprintf(stderr, "fieldgate-loadgen: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

[[noreturn]] void fatal_errno(const std::string& what) {
  fatal(what + ": " + std::strerror(errno));
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

pid_t current_tid() {
  return static_cast<pid_t>(syscall(SYS_gettid));
}

// utime + stime in clock ticks from a /proc/.../stat file; -1 if unreadable.
long long cpu_ticks(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return -1;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  // After "pid (comm) ", field 3 (state) is index 0; utime is field 14, stime field 15.
  for (int i = 0; i < 13 && fields >> field; ++i) {
    if (i == 11) utime = std::atoll(field.c_str());
    if (i == 12) stime = std::atoll(field.c_str());
  }
  return utime + stime;
}

// The protocol every connection speaks (--mqtt-version): MQTT 3.1.1 or 5.0.
mqtt::Version g_version = mqtt::Version::v311;

// MQTT 5 keeps a session after its connection only with a session expiry interval: a
// clean-session-0 client gets "never expires", what clean session 0 means in MQTT 3.1.1.
void set_session_expiry(mqtt::Connect& connect) {
  if (g_version == mqtt::Version::v5 && !connect.clean_session) {
    connect.properties.session_expiry_interval = 0xFFFFFFFF;
  }
}

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string scenario;
  int qos = 0;
  double warmup_s = 2.0;
  double duration_s = 5.0;
  int publishers = 8;    // fanin
  int subscribers = 50;  // fanout
  double rate = 2000.0;  // latency: messages per second
  uint32_t window = 0;   // 0: scenario default
  uint32_t ack_window = 64;
  uint32_t batch = 64;
  int threads = 1;
  int broker_pid = 0;
  bool clean_session = true;  // the subscribers' clean-session flag
  uint64_t messages = 0;      // offline: in total (10000); populate: per session (10)
  int sessions = 10000;       // populate
  int conn_batch = 500;       // populate: connections open at once
  bool own_topics = false;    // populate: a topic per session instead of one shared topic
  std::string client_prefix;  // populate: client identifiers PREFIX-N (fgbench-PID)
  int keep_alive = -1;     // seconds in CONNECT; -1: scenario default (60; idle, subscriptions 600)
  int connections = 9000;  // idle
  double hold_s = 0;       // idle: seconds to hold the connections; 0: until stdin closes
  int sub_connections = 100;        // subscriptions
  int filters = 10000;              // subscriptions: distinct filters per connection
  int filters_per_subscribe = 100;  // subscriptions: filters in one SUBSCRIBE
  double phase_s = 2.0;             // subscriptions: seconds of publishing per measurement
  int rounds = 3;                   // subscriptions: measurements per topic set and state
};

void usage(FILE* to) {
  std::fprintf(
      to,
      "usage: fieldgate-loadgen --scenario "
      "fanin|fanout|latency|offline|populate|idle|subscriptions [options]\n"
      "  --host ADDR         broker address (127.0.0.1)\n"
      "  --port N            broker port (1883)\n"
      "  --qos 0|1           QoS of the PUBLISHes and of the subscriptions (0)\n"
      "  --mqtt-version 4|5  protocol of every connection: 3.1.1 or 5.0 (4)\n"
      "  --warmup S          seconds of load before counting (2)\n"
      "  --duration S        seconds counted (5)\n"
      "  --publishers N      fanin publishers (8)\n"
      "  --subscribers N     fanout subscribers (50)\n"
      "  --rate N            latency: PUBLISHes per second (2000)\n"
      "  --window N          per flow: published but not yet received (2000; latency "
      "100)\n"
      "  --ack-window N      QoS 1: PUBLISHes awaiting PUBACK per publisher (64)\n"
      "  --batch N           PUBLISHes per write at most (64)\n"
      "  --threads N         event-loop threads of the generator (1)\n"
      "  --broker-pid PID    also report that process's CPU use over the window\n"
      "  --clean-session 0|1 the subscribers' clean-session flag (1); with 0 each\n"
      "                      subscriber's session is removed afterwards\n"
      "offline: a clean-session-0 subscriber subscribes at QoS 1 and disconnects, one\n"
      "publisher publishes --messages QoS 1 PUBLISHes (keeping --ack-window awaiting\n"
      "PUBACK), then the subscriber reconnects and receives them all\n"
      "  --messages N        offline: messages in total (10000); populate: per session "
      "(10)\n"
      "populate: leaves --sessions offline clean-session-0 sessions subscribed at QoS 1,\n"
      "each with --messages queued QoS 1 messages (for restart measurements)\n"
      "  --sessions N        populate: sessions (10000)\n"
      "  --conn-batch N      populate: connections open at once (500)\n"
      "  --own-topics        populate: a topic per session (default: one shared topic)\n"
      "  --client-prefix S   populate, idle: client identifiers S-0, S-1, ... "
      "(fgbench-PID)\n"
      "  --keep-alive S      keep-alive announced in CONNECT (60; idle, subscriptions "
      "600)\n"
      "idle: --connections clean-session connections that CONNECT and then send nothing;\n"
      "prints `idle_connections` once all are acknowledged, then holds them until stdin\n"
      "closes (or --hold seconds) and disconnects\n"
      "  --connections N     idle: connections (9000), opened --conn-batch at a time\n"
      "  --hold S            idle: hold S seconds instead of until stdin closes\n"
      "subscriptions: --sub-connections connections subscribe --filters distinct filters\n"
      "each (80%% exact site/S/dev/D/METRIC, 20%% with + or #); one publisher publishes\n"
      "QoS 0 for --phase seconds to topics that match 3 of them (`few`) or none (`none`),\n"
      "--rounds times each, before and after subscribing; a PINGREQ after the last\n"
      "PUBLISH ends each measurement (its PINGRESP means the broker routed them all)\n"
      "  --sub-connections N subscriptions: subscribing connections (100)\n"
      "  --filters N         subscriptions: filters per connection, a multiple of 100 "
      "(10000)\n"
      "  --filters-per-subscribe N  subscriptions: filters per SUBSCRIBE packet (100)\n"
      "  --phase S           subscriptions: seconds of publishing per measurement (2)\n"
      "  --rounds N          subscriptions: measurements per topic set and state (3)\n");
}

Options parse_options(int argc, char** argv) {
  Options o;
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "fieldgate-loadgen: %s needs a value\n", argv[i]);
      std::exit(1);
    }
    return argv[++i];
  };
  auto number = [](const std::string& flag, const std::string& text, double lo, double hi) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || v < lo || v > hi) {
      std::fprintf(stderr, "fieldgate-loadgen: bad value for %s: %s\n", flag.c_str(), text.c_str());
      std::exit(1);
    }
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--host") {
      o.host = need(i);
    } else if (a == "--port") {
      o.port = static_cast<uint16_t>(number(a, need(i), 1, 65535));
    } else if (a == "--scenario") {
      o.scenario = need(i);
    } else if (a == "--qos") {
      o.qos = static_cast<int>(number(a, need(i), 0, 1));
    } else if (a == "--mqtt-version") {
      g_version = number(a, need(i), 4, 5) == 5 ? mqtt::Version::v5 : mqtt::Version::v311;
    } else if (a == "--warmup") {
      o.warmup_s = number(a, need(i), 0, 3600);
    } else if (a == "--duration") {
      o.duration_s = number(a, need(i), 0.1, 3600);
    } else if (a == "--publishers") {
      o.publishers = static_cast<int>(number(a, need(i), 1, 10000));
    } else if (a == "--subscribers") {
      o.subscribers = static_cast<int>(number(a, need(i), 1, 10000));
    } else if (a == "--rate") {
      o.rate = number(a, need(i), 1, 10'000'000);
    } else if (a == "--window") {
      o.window = static_cast<uint32_t>(number(a, need(i), 1, 10'000'000));
    } else if (a == "--ack-window") {
      o.ack_window = static_cast<uint32_t>(number(a, need(i), 1, 65535));
    } else if (a == "--batch") {
      o.batch = static_cast<uint32_t>(number(a, need(i), 1, 100000));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(number(a, need(i), 1, 256));
    } else if (a == "--broker-pid") {
      o.broker_pid = static_cast<int>(number(a, need(i), 1, 1 << 30));
    } else if (a == "--clean-session") {
      o.clean_session = number(a, need(i), 0, 1) != 0;
    } else if (a == "--messages") {
      o.messages = static_cast<uint64_t>(number(a, need(i), 1, 100'000'000));
    } else if (a == "--sessions") {
      o.sessions = static_cast<int>(number(a, need(i), 1, 1'000'000));
    } else if (a == "--conn-batch") {
      o.conn_batch = static_cast<int>(number(a, need(i), 1, 100'000));
    } else if (a == "--own-topics") {
      o.own_topics = true;
    } else if (a == "--client-prefix") {
      o.client_prefix = need(i);
    } else if (a == "--keep-alive") {
      o.keep_alive = static_cast<int>(number(a, need(i), 0, 65535));
    } else if (a == "--connections") {
      o.connections = static_cast<int>(number(a, need(i), 1, 1'000'000));
    } else if (a == "--hold") {
      o.hold_s = number(a, need(i), 0, 1e6);
    } else if (a == "--sub-connections") {
      o.sub_connections = static_cast<int>(number(a, need(i), 1, 10000));
    } else if (a == "--filters") {
      o.filters = static_cast<int>(number(a, need(i), 100, 10'000'000));
    } else if (a == "--filters-per-subscribe") {
      o.filters_per_subscribe = static_cast<int>(number(a, need(i), 1, 10000));
    } else if (a == "--phase") {
      o.phase_s = number(a, need(i), 0.1, 3600);
    } else if (a == "--rounds") {
      o.rounds = static_cast<int>(number(a, need(i), 1, 1000));
    } else {
      std::fprintf(stderr, "fieldgate-loadgen: unknown argument %s\n", a.c_str());
      usage(stderr);
      std::exit(1);
    }
  }
  if (o.scenario != "fanin" && o.scenario != "fanout" && o.scenario != "latency" &&
      o.scenario != "offline" && o.scenario != "populate" && o.scenario != "idle" &&
      o.scenario != "subscriptions") {
    usage(stderr);
    std::exit(1);
  }
  if (o.messages == 0) o.messages = o.scenario == "populate" ? 10 : 10000;
  if (o.window == 0) o.window = o.scenario == "latency" ? 100 : 2000;
  if (o.keep_alive < 0) {
    o.keep_alive = o.scenario == "idle" || o.scenario == "subscriptions" ? 600 : kKeepAlive;
  }
  if (o.scenario == "subscriptions" &&
      (o.filters % 100 != 0 || o.sub_connections < 3 ||
       static_cast<long long>(o.filters) * o.sub_connections < 1600)) {
    std::fprintf(stderr,
                 "fieldgate-loadgen: --filters must be a multiple of 100, --sub-connections at "
                 "least 3 and --filters x --sub-connections at least 1600\n");
    std::exit(1);
  }
  return o;
}

// Shared run state: written by the main thread, read by the workers.
struct Control {
  std::atomic<bool> publishing{false};
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};  // connections past CONNACK (and SUBACK for subscribers)
};

class Worker;

// One (publisher, subscriber) pair. `progress` is written by the subscriber's thread only.
struct Flow {
  std::atomic<uint64_t> progress{0};  // highest sequence number received + 1
  Worker* publisher_worker = nullptr;
  // Subscriber side.
  uint64_t lost = 0;       // sequence numbers skipped (dropped by the broker)
  uint64_t reordered = 0;  // arrived below the highest seen so far
  // Publisher side.
  uint64_t credited = 0;  // progress assumed after a stall
};

enum class Role : uint8_t { Publisher, Subscriber };
enum class State : uint8_t { AwaitConnack, AwaitSuback, Ready };

struct Conn {
  int fd = -1;
  Role role = Role::Publisher;
  State state = State::AwaitConnack;
  int index = 0;
  std::string client_id;
  bool out_armed = false;  // EPOLLOUT registered after a short write
  uint64_t tag = 0;        // epoll data of this connection in its worker
  std::vector<char> in;
  size_t in_used = 0;
  std::string out;
  size_t out_off = 0;
  uint64_t last_ping_ns = 0;

  // Publisher.
  std::string topic;
  std::string tmpl;  // one encoded PUBLISH; the payload is its last kPayloadSize bytes
  size_t payload_off = 0;
  std::vector<Flow*> flows;  // this publisher's flows (one per subscriber)
  uint64_t sent = 0;
  std::atomic<uint64_t> sent_shared{0};
  uint32_t unacked = 0;
  uint16_t next_id = 1;
  std::vector<uint8_t> inflight;  // by packet identifier, QoS 1
  uint64_t last_min_progress = 0;
  uint64_t progress_changed_ns = 0;
  uint64_t stalls = 0;
  uint64_t due = 0;  // latency: sends the timer has asked for
  int timer_fd = -1;

  // Subscriber.
  std::string filter;
  std::vector<Flow*> flows_by_publisher;
  std::atomic<uint64_t> received{0};
  uint64_t foreign = 0;
  std::vector<uint32_t> latencies_ns;
};

struct Scenario {
  Options opt;
  Control ctl;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<std::unique_ptr<Flow>> flows;
  std::vector<Conn*> pubs;
  std::vector<Conn*> subs;
};

void set_nonblocking_nodelay(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fatal_errno("fcntl");
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) fatal_errno("TCP_NODELAY");
}

int connect_to(const Options& o) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(o.port);
  if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) fatal("bad --host " + o.host);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fatal_errno("socket");
  // Blocking connect: on loopback it completes at once, and it keeps set-up simple.
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    fatal_errno("connect to " + o.host + ":" + std::to_string(o.port));
  }
  set_nonblocking_nodelay(fd);
  return fd;
}

void put_u64(char* at, uint64_t v) {
  std::memcpy(at, &v, sizeof v);
}
uint64_t get_u64(const char* at) {
  uint64_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}
uint32_t get_u32(const char* at) {
  uint32_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

class Worker {
 public:
  Worker(Scenario& s, int id) : s_(s), id_(id) {
    refill_threshold_ = std::max<uint64_t>(1, std::min<uint64_t>(s.opt.batch, s.opt.window / 2));
    if (s.opt.qos > 0) {
      refill_threshold_ =
          std::max<uint64_t>(1, std::min<uint64_t>(refill_threshold_, s.opt.ack_window / 2));
    }
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) fatal_errno("epoll_create1");
    evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd_ < 0) fatal_errno("eventfd");
    add_fd(evfd_, EPOLLIN, kWakeTag);
  }
  ~Worker() {
    close(evfd_);
    close(epfd_);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void add(Conn* c) {
    c->in.resize(kReadChunk);
    conns_.push_back(c);
    c->tag = conns_.size() - 1;
    add_fd(c->fd, EPOLLIN, c->tag);
    if (c->role == Role::Publisher) {
      pubs_.push_back(c);
      if (s_.opt.scenario == "latency") {
        c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (c->timer_fd < 0) fatal_errno("timerfd_create");
        add_fd(c->timer_fd, EPOLLIN, kTimerTag + pubs_.size() - 1);
      }
    }
  }

  pid_t tid() const { return tid_.load(); }
  int id() const { return id_; }

  // Called from another worker after it advanced a flow whose publisher lives here.
  void wake_if_parked() {
    if (parked_.load(std::memory_order_relaxed) && parked_.exchange(false)) {
      const uint64_t one = 1;
      if (write(evfd_, &one, sizeof one) < 0 && errno != EAGAIN) fatal_errno("eventfd write");
    }
  }

  void run() {
    tid_.store(current_tid());
    std::vector<epoll_event> events(512);
    bool timers_armed = false;
    while (!s_.ctl.stop.load(std::memory_order_relaxed)) {
      const bool publishing = s_.ctl.publishing.load(std::memory_order_relaxed);
      if (publishing && !timers_armed) {
        arm_timers();
        timers_armed = true;
      }
      int timeout = kMaxWaitMs;
      if (publishing) {
        bool more = false;
        bool credit_blocked = false;
        for (Conn* p : pubs_) {
          switch (pump(p)) {
            case Pump::More:
              more = true;
              break;
            case Pump::Credit:
              credit_blocked = true;
              break;
            case Pump::Idle:
              break;
          }
        }
        if (more) {
          timeout = 0;
        } else if (credit_blocked) {
          // Dekker with the subscriber: announce the park, then look at the credit once more.
          parked_.store(true);
          std::atomic_thread_fence(std::memory_order_seq_cst);
          bool any = false;
          for (Conn* p : pubs_)
            any = any || credit(p) >= refill_threshold_;
          if (any) {
            parked_.store(false);
            timeout = 0;
          }
        }
      }
      const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout);
      parked_.store(false, std::memory_order_relaxed);
      if (n < 0) {
        if (errno == EINTR) continue;
        fatal_errno("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (tag == kWakeTag) {
          uint64_t v;
          while (read(evfd_, &v, sizeof v) > 0) {
          }
        } else if (tag >= kTimerTag) {
          Conn* p = pubs_[tag - kTimerTag];
          uint64_t expirations = 0;
          if (read(p->timer_fd, &expirations, sizeof expirations) == sizeof expirations) {
            p->due += expirations;
          }
        } else {
          Conn* c = conns_[tag];
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
          if (events[i].events & EPOLLOUT) flush(c);
        }
      }
      const uint64_t now = now_ns();
      for (Conn* c : conns_) {
        if (c->state == State::Ready && now - c->last_ping_ns > kPingEveryNs) {
          mqtt::encode_empty(c->out, mqtt::PacketType::Pingreq);
          c->last_ping_ns = now;
        }
        if (c->out.size() > c->out_off && !c->out_armed) flush(c);
      }
    }
  }

 private:
  enum class Pump : uint8_t { More, Credit, Idle };
  static constexpr uint64_t kWakeTag = 1ULL << 40;
  static constexpr uint64_t kTimerTag = 1ULL << 41;

  void add_fd(int fd, uint32_t events, uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) fatal_errno("epoll_ctl add");
  }

  void arm_timers() {
    for (Conn* p : pubs_) {
      if (p->timer_fd < 0) continue;
      const auto period = static_cast<long long>(1e9 / s_.opt.rate);
      itimerspec spec{};
      spec.it_interval.tv_sec = period / 1'000'000'000LL;
      spec.it_interval.tv_nsec = period % 1'000'000'000LL;
      spec.it_value = spec.it_interval;
      if (timerfd_settime(p->timer_fd, 0, &spec, nullptr) < 0) fatal_errno("timerfd_settime");
    }
  }

  // How many PUBLISHes `p` may send now.
  uint64_t credit(Conn* p) {
    if (p->state != State::Ready) return 0;
    uint64_t min_progress = UINT64_MAX;
    for (Flow* f : p->flows) {
      const uint64_t got = std::max(f->progress.load(std::memory_order_relaxed), f->credited);
      min_progress = std::min(min_progress, got);
    }
    const uint64_t outstanding = p->sent > min_progress ? p->sent - min_progress : 0;
    uint64_t allowed = outstanding < s_.opt.window ? s_.opt.window - outstanding : 0;
    if (s_.opt.qos > 0) {
      allowed =
          std::min<uint64_t>(allowed, s_.opt.ack_window - std::min(p->unacked, s_.opt.ack_window));
    }
    if (outstanding >= s_.opt.window) {
      // Window closed. If no flow moves for kStallNs, the broker dropped the tail: give up on
      // those messages rather than wait forever (they are counted in `stalls`).
      const uint64_t now = now_ns();
      if (min_progress != p->last_min_progress) {
        p->last_min_progress = min_progress;
        p->progress_changed_ns = now;
      } else if (now - p->progress_changed_ns > kStallNs) {
        for (Flow* f : p->flows)
          f->credited = p->sent;
        ++p->stalls;
        p->progress_changed_ns = now;
      }
    } else {
      p->last_min_progress = min_progress;
      p->progress_changed_ns = now_ns();
    }
    return allowed;
  }

  Pump pump(Conn* p) {
    if (p->state != State::Ready) return Pump::Idle;
    if (p->out.size() > p->out_off) return Pump::Idle;  // socket full: wait for EPOLLOUT
    const bool paced = p->timer_fd >= 0;
    if (paced && p->due == 0) return Pump::Idle;
    // Refill only once a batch's worth (or half the window) is free, so that one PUBACK or one
    // delivery does not cost a write of one PUBLISH.
    const uint64_t allowed = credit(p);
    if (allowed < (paced ? 1 : refill_threshold_)) return Pump::Credit;
    uint64_t n = std::min<uint64_t>(allowed, s_.opt.batch);
    if (paced) n = std::min(n, p->due);
    const size_t size = p->tmpl.size();
    p->out.resize(n * size);
    p->out_off = 0;
    char* d = p->out.data();
    const uint64_t ts = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
      std::memcpy(d, p->tmpl.data(), size);
      char* payload = d + p->payload_off;
      put_u64(payload + 8, p->sent + i);
      put_u64(payload + 16, ts);
      if (s_.opt.qos > 0) {
        while (p->inflight[p->next_id])
          p->next_id = p->next_id == 65535 ? 1 : p->next_id + 1;
        p->inflight[p->next_id] = 1;
        // The packet identifier comes just before the payload (MQTT 5: before the empty
        // property block's length byte).
        char* id = payload - (g_version == mqtt::Version::v5 ? 3 : 2);
        id[0] = static_cast<char>(p->next_id >> 8);
        id[1] = static_cast<char>(p->next_id & 0xff);
        p->next_id = p->next_id == 65535 ? 1 : p->next_id + 1;
      }
      d += size;
    }
    p->sent += n;
    p->sent_shared.store(p->sent, std::memory_order_relaxed);
    p->unacked += static_cast<uint32_t>(s_.opt.qos > 0 ? n : 0);
    if (paced) p->due -= n;
    flush(p);
    if (p->out.size() > p->out_off) return Pump::Idle;
    return paced ? Pump::Idle : Pump::More;
  }

  void flush(Conn* c) {
    while (c->out_off < c->out.size()) {
      const ssize_t w =
          send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
      if (w > 0) {
        c->out_off += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        fatal_errno("write to broker");
      }
    }
    const bool done = c->out_off == c->out.size();
    if (done) {
      c->out.clear();
      c->out_off = 0;
    }
    if (done == c->out_armed) {
      c->out_armed = !done;
      epoll_event ev{};
      ev.events = EPOLLIN | (c->out_armed ? EPOLLOUT : 0u);
      ev.data.u64 = c->tag;
      if (epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd, &ev) < 0) fatal_errno("epoll_ctl mod");
    }
  }

  void on_readable(Conn* c) {
    for (int reads = 0; reads < 8; ++reads) {
      if (c->in_used == c->in.size()) c->in.resize(c->in.size() * 2);
      const size_t space = c->in.size() - c->in_used;
      const ssize_t r = read(c->fd, c->in.data() + c->in_used, space);
      if (r > 0) {
        c->in_used += static_cast<size_t>(r);
        parse(c);
        if (static_cast<size_t>(r) < space) break;
      } else if (r == 0) {
        fatal("the broker closed connection " + name(c));
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        fatal_errno("read from broker (" + name(c) + ")");
      }
    }
  }

  static std::string name(const Conn* c) {
    return (c->role == Role::Publisher ? "publisher " : "subscriber ") + std::to_string(c->index);
  }

  void parse(Conn* c) {
    size_t off = 0;
    uint64_t received = 0;
    const bool measuring = s_.ctl.measuring.load(std::memory_order_relaxed);
    const bool timing = s_.opt.scenario == "latency" && measuring;
    while (off < c->in_used) {
      mqtt::Frame frame;
      const std::string_view rest(c->in.data() + off, c->in_used - off);
      const auto status = mqtt::next_frame(rest, 0x10000000u, frame);
      if (status == mqtt::FrameStatus::Incomplete) break;
      if (status != mqtt::FrameStatus::Complete) fatal("malformed packet from the broker");
      handle(c, frame, received, timing);
      off += frame.size();
    }
    if (off > 0) {
      std::memmove(c->in.data(), c->in.data() + off, c->in_used - off);
      c->in_used -= off;
    }
    if (received > 0) {
      c->received.fetch_add(received, std::memory_order_relaxed);
      // Let parked publishers on other threads see the progress (see Worker::run).
      std::atomic_thread_fence(std::memory_order_seq_cst);
      for (Flow* f : c->flows_by_publisher) {
        if (f->publisher_worker != this) f->publisher_worker->wake_if_parked();
      }
    }
  }

  void handle(Conn* c, const mqtt::Frame& frame, uint64_t& received, bool timing) {
    const auto v = g_version;
    switch (frame.header.type) {
      case mqtt::PacketType::Publish: {
        mqtt::Publish pub;
        if (const auto e = mqtt::decode_publish(frame, v, pub); e != mqtt::Error::None) {
          fatal(std::string("bad PUBLISH from the broker: ") + mqtt::describe(e));
        }
        if (c->role != Role::Subscriber) fatal("PUBLISH sent to a publisher");
        if (pub.qos == 1) mqtt::encode_ack(c->out, mqtt::PacketType::Puback, pub.packet_id);
        const char* p = pub.payload.data();
        uint32_t who = 0;
        if (pub.payload.size() != kPayloadSize || get_u32(p + 4) != kMagic ||
            (who = get_u32(p)) >= c->flows_by_publisher.size()) {
          ++c->foreign;
          return;
        }
        ++received;
        Flow* f = c->flows_by_publisher[who];
        const uint64_t seq = get_u64(p + 8);
        const uint64_t expected = f->progress.load(std::memory_order_relaxed);
        if (seq >= expected) {
          f->lost += seq - expected;
          f->progress.store(seq + 1, std::memory_order_relaxed);
        } else {
          ++f->reordered;
        }
        if (timing) {
          const uint64_t lat = now_ns() - get_u64(p + 16);
          c->latencies_ns.push_back(static_cast<uint32_t>(std::min<uint64_t>(lat, UINT32_MAX)));
        }
        return;
      }
      case mqtt::PacketType::Puback: {
        uint16_t id = 0;
        if (const auto e = mqtt::decode_ack(frame, v, id); e != mqtt::Error::None) {
          fatal(std::string("bad PUBACK from the broker: ") + mqtt::describe(e));
        }
        if (c->role == Role::Publisher && !c->inflight.empty() && c->inflight[id]) {
          c->inflight[id] = 0;
          --c->unacked;
        }
        return;
      }
      case mqtt::PacketType::Connack: {
        mqtt::Connack ack;
        if (const auto e = mqtt::decode_connack(frame, v, ack); e != mqtt::Error::None) {
          fatal(std::string("bad CONNACK: ") + mqtt::describe(e));
        }
        if (ack.return_code != mqtt::connack::kAccepted) {
          fatal("CONNACK refused " + name(c) + " with code " + std::to_string(ack.return_code));
        }
        if (c->state != State::AwaitConnack) fatal("second CONNACK");
        if (c->role == Role::Subscriber) {
          mqtt::Subscribe sub;
          sub.packet_id = 1;
          sub.subscriptions.push_back({c->filter, static_cast<uint8_t>(s_.opt.qos)});
          mqtt::encode_subscribe(c->out, sub, g_version);
          c->state = State::AwaitSuback;
        } else {
          c->state = State::Ready;
          s_.ctl.ready.fetch_add(1);
        }
        return;
      }
      case mqtt::PacketType::Suback: {
        mqtt::Suback ack;
        if (const auto e = mqtt::decode_suback(frame, v, ack); e != mqtt::Error::None) {
          fatal(std::string("bad SUBACK: ") + mqtt::describe(e));
        }
        if (ack.return_codes.size() != 1 || ack.return_codes[0] == mqtt::kSubackFailure) {
          fatal("subscription refused for " + name(c));
        }
        if (ack.return_codes[0] != s_.opt.qos) {
          std::fprintf(stderr, "fieldgate-loadgen: %s granted QoS %u\n", name(c).c_str(),
                       ack.return_codes[0]);
        }
        if (c->state == State::AwaitSuback) {
          c->state = State::Ready;
          s_.ctl.ready.fetch_add(1);
        }
        return;
      }
      case mqtt::PacketType::Pingresp:
        return;
      default:
        fatal(std::string("unexpected ") + mqtt::packet_name(frame.header.type) + " for " +
              name(c));
    }
  }

  Scenario& s_;
  int id_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> parked_{false};
  uint64_t refill_threshold_ = 1;
  std::vector<Conn*> conns_;
  std::vector<Conn*> pubs_;
};

std::string make_payload(uint32_t publisher) {
  std::string payload(kPayloadSize, 'x');
  std::memcpy(payload.data(), &publisher, 4);
  std::memcpy(payload.data() + 4, &kMagic, 4);
  return payload;
}

// Builds the connections and flows of the scenario and queues each CONNECT.
void build(Scenario& s, std::vector<std::unique_ptr<Worker>>& workers) {
  const Options& o = s.opt;
  const std::string prefix = "fgbench/" + std::to_string(getpid());
  int n_pubs = 1;
  int n_subs = 1;
  std::string filter;
  std::vector<std::string> topics;
  if (o.scenario == "fanin") {
    n_pubs = o.publishers;
    filter = prefix + "/in/+";
    for (int i = 0; i < n_pubs; ++i)
      topics.push_back(prefix + "/in/" + std::to_string(i));
  } else if (o.scenario == "fanout") {
    n_subs = o.subscribers;
    filter = prefix + "/out";
    topics.push_back(filter);
  } else {
    filter = prefix + "/lat";
    topics.push_back(filter);
  }

  // Publishers on the first half of the threads, subscribers on the rest (all share one thread
  // when there is only one).
  const int t = static_cast<int>(workers.size());
  const int pub_threads = t == 1 ? 1 : t / 2;
  auto pub_worker = [&](int i) { return workers[i % pub_threads].get(); };
  auto sub_worker = [&](int i) {
    return t == 1 ? workers[0].get() : workers[pub_threads + i % (t - pub_threads)].get();
  };

  for (int i = 0; i < n_pubs; ++i) {
    auto c = std::make_unique<Conn>();
    c->role = Role::Publisher;
    c->index = i;
    c->topic = topics[static_cast<size_t>(i)];
    mqtt::Publish pub;
    pub.topic = c->topic;
    const std::string payload = make_payload(static_cast<uint32_t>(i));
    pub.payload = payload;
    pub.qos = static_cast<uint8_t>(o.qos);
    pub.packet_id = o.qos > 0 ? 1 : 0;
    mqtt::encode_publish(c->tmpl, pub, g_version);
    c->payload_off = c->tmpl.size() - kPayloadSize;
    if (c->tmpl.compare(c->payload_off, kPayloadSize, payload) != 0) {
      fatal("encode_publish did not put the payload last");
    }
    if (o.qos > 0) c->inflight.assign(65536, 0);
    s.pubs.push_back(c.get());
    s.conns.push_back(std::move(c));
  }
  for (int i = 0; i < n_subs; ++i) {
    auto c = std::make_unique<Conn>();
    c->role = Role::Subscriber;
    c->index = i;
    c->filter = filter;
    if (o.scenario == "latency") {
      c->latencies_ns.reserve(static_cast<size_t>(o.rate * o.duration_s * 1.2) + 1024);
    }
    s.subs.push_back(c.get());
    s.conns.push_back(std::move(c));
  }
  for (Conn* p : s.pubs) {
    for (Conn* sub : s.subs) {
      auto f = std::make_unique<Flow>();
      f->publisher_worker = pub_worker(p->index);
      p->flows.push_back(f.get());
      sub->flows_by_publisher.push_back(f.get());
      s.flows.push_back(std::move(f));
    }
  }

  const std::string pid = std::to_string(getpid());
  for (auto& c : s.conns) {
    c->fd = connect_to(o);
    c->client_id =
        "fgbench-" + pid + (c->role == Role::Publisher ? "-p" : "-s") + std::to_string(c->index);
    const std::string& client_id = c->client_id;
    mqtt::Connect connect;
    connect.version = g_version;
    connect.protocol_name = "MQTT";
    connect.clean_session = c->role == Role::Publisher || o.clean_session;
    set_session_expiry(connect);
    connect.keep_alive = static_cast<uint16_t>(o.keep_alive);
    connect.client_id = client_id;
    mqtt::encode_connect(c->out, connect);
    c->last_ping_ns = now_ns();
    (c->role == Role::Publisher ? pub_worker(c->index) : sub_worker(c->index))->add(c.get());
  }
}

struct Snapshot {
  uint64_t t_ns = 0;
  uint64_t received = 0;
  uint64_t sent = 0;
  long long self_ticks = 0;
  std::vector<long long> thread_ticks;
  long long broker_ticks = -1;
};

Snapshot snapshot(const Scenario& s, const std::vector<std::unique_ptr<Worker>>& workers) {
  Snapshot snap;
  snap.t_ns = now_ns();
  for (const Conn* c : s.subs)
    snap.received += c->received.load(std::memory_order_relaxed);
  for (const Conn* c : s.pubs)
    snap.sent += c->sent_shared.load(std::memory_order_relaxed);
  snap.self_ticks = cpu_ticks("/proc/self/stat");
  for (const auto& w : workers) {
    snap.thread_ticks.push_back(cpu_ticks("/proc/self/task/" + std::to_string(w->tid()) + "/stat"));
  }
  if (s.opt.broker_pid > 0) {
    snap.broker_ticks = cpu_ticks("/proc/" + std::to_string(s.opt.broker_pid) + "/stat");
  }
  return snap;
}

void sleep_s(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// --- Phase scenarios (offline, populate) and session clean-up ---
//
// A few short-lived connections driven step by step by one epoll loop. What is measured is how
// long a whole phase takes (until the last PUBACK, until the last delivery), not a steady rate.

struct Peer {
  int fd = -1;
  bool done = false;
  bool expect_close = false;  // DISCONNECT sent: the broker closing the connection ends the peer
  std::string out;
  size_t out_off = 0;
  std::vector<char> in;
  size_t in_used = 0;
};

void connect_peer(Peer& p, const Options& o, const std::string& client_id, bool clean) {
  p.fd = connect_to(o);
  p.in.resize(kReadChunk);
  mqtt::Connect connect;
  connect.version = g_version;
  connect.protocol_name = "MQTT";
  connect.clean_session = clean;
  set_session_expiry(connect);
  connect.keep_alive = static_cast<uint16_t>(o.keep_alive);
  connect.client_id = client_id;
  mqtt::encode_connect(p.out, connect);
}

void close_peer(Peer& p) {
  if (p.fd >= 0) close(p.fd);
  p.fd = -1;
  p.done = true;
}

// Writes what `p` has queued; false while some of it stays queued (socket full).
bool flush_peer(Peer& p) {
  while (p.out_off < p.out.size()) {
    const ssize_t w = send(p.fd, p.out.data() + p.out_off, p.out.size() - p.out_off, MSG_NOSIGNAL);
    if (w > 0) {
      p.out_off += static_cast<size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return false;
    } else {
      fatal_errno("write to broker");
    }
  }
  p.out.clear();
  p.out_off = 0;
  return true;
}

// Reads what the broker sent to `p` and hands every complete packet to on_frame.
template <class OnFrame>
void read_peer(Peer& p, const std::string& what, OnFrame& on_frame) {
  for (int reads = 0; reads < 8 && p.fd >= 0; ++reads) {
    if (p.in_used == p.in.size()) p.in.resize(p.in.size() * 2);
    const size_t space = p.in.size() - p.in_used;
    const ssize_t r = read(p.fd, p.in.data() + p.in_used, space);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r <= 0) {
      if (p.expect_close) {
        close_peer(p);
        return;
      }
      if (r == 0) fatal(what + ": the broker closed the connection");
      fatal_errno(what + ": read from broker");
    }
    p.in_used += static_cast<size_t>(r);
    size_t off = 0;
    while (off < p.in_used) {
      mqtt::Frame frame;
      const std::string_view rest(p.in.data() + off, p.in_used - off);
      const auto status = mqtt::next_frame(rest, 0x10000000u, frame);
      if (status == mqtt::FrameStatus::Incomplete) break;
      if (status != mqtt::FrameStatus::Complete) fatal(what + ": malformed packet from the broker");
      on_frame(p, frame);
      off += frame.size();
    }
    std::memmove(p.in.data(), p.in.data() + off, p.in_used - off);
    p.in_used -= off;
    if (static_cast<size_t>(r) < space) return;
  }
}

// Drives `peers` until each is done and has written everything; false after timeout_s.
template <class OnFrame>
bool drive(const std::vector<Peer*>& peers, double timeout_s, const std::string& what,
           OnFrame&& on_frame) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fatal_errno("epoll_create1");
  for (size_t i = 0; i < peers.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, peers[i]->fd, &ev) < 0) fatal_errno("epoll_ctl add");
  }
  const uint64_t deadline = now_ns() + static_cast<uint64_t>(timeout_s * 1e9);
  std::vector<epoll_event> events(512);
  bool finished = false;
  while (!finished) {
    bool pending = false;
    bool all_done = true;
    for (Peer* p : peers) {
      if (p->fd >= 0 && !flush_peer(*p)) pending = true;
      all_done = all_done && p->done;
    }
    if (all_done && !pending) {
      finished = true;
      break;
    }
    if (now_ns() > deadline) break;
    const int n =
        epoll_wait(ep, events.data(), static_cast<int>(events.size()), pending ? 1 : kMaxWaitMs);
    if (n < 0 && errno != EINTR) fatal_errno("epoll_wait");
    for (int i = 0; i < n; ++i) {
      Peer* p = peers[events[i].data.u64];
      if (p->fd >= 0) read_peer(*p, what, on_frame);
    }
  }
  close(ep);
  return finished;
}

mqtt::Connack expect_connack(const mqtt::Frame& frame, const std::string& what) {
  mqtt::Connack ack;
  if (frame.header.type != mqtt::PacketType::Connack) {
    fatal(what + ": expected CONNACK, got " + mqtt::packet_name(frame.header.type));
  }
  if (const auto e = mqtt::decode_connack(frame, g_version, ack); e != mqtt::Error::None) {
    fatal(what + ": bad CONNACK: " + mqtt::describe(e));
  }
  if (ack.return_code != mqtt::connack::kAccepted) {
    fatal(what + ": CONNACK refused with code " + std::to_string(ack.return_code));
  }
  return ack;
}

void expect_suback(const mqtt::Frame& frame, const std::string& what) {
  mqtt::Suback ack;
  if (frame.header.type != mqtt::PacketType::Suback) {
    fatal(what + ": expected SUBACK, got " + mqtt::packet_name(frame.header.type));
  }
  if (const auto e = mqtt::decode_suback(frame, g_version, ack); e != mqtt::Error::None) {
    fatal(what + ": bad SUBACK: " + mqtt::describe(e));
  }
  if (ack.return_codes.size() != 1 || ack.return_codes[0] != 1) {
    fatal(what + ": subscription not granted at QoS 1");
  }
}

void queue_subscribe(Peer& p, const std::string& filter) {
  mqtt::Subscribe sub;
  sub.packet_id = 1;
  sub.subscriptions.push_back({filter, 1});
  mqtt::encode_subscribe(p.out, sub, g_version);
}

void queue_disconnect(Peer& p) {
  mqtt::encode_empty(p.out, mqtt::PacketType::Disconnect);
  p.expect_close = true;
}

// Clean-session-0 sessions `ids`, each subscribed at QoS 1 to filter_of(i), left offline. The
// broker's closing of each connection after DISCONNECT shows that it has taken the session
// offline. Connections are opened `batch` at a time.
template <class FilterOf>
void make_offline_sessions(const Options& o, const std::vector<std::string>& ids, int batch,
                           FilterOf&& filter_of) {
  for (size_t start = 0; start < ids.size(); start += static_cast<size_t>(batch)) {
    const size_t end = std::min(ids.size(), start + static_cast<size_t>(batch));
    std::vector<Peer> peers(end - start);
    std::vector<Peer*> ptrs;
    for (size_t i = start; i < end; ++i) {
      connect_peer(peers[i - start], o, ids[i], false);
      ptrs.push_back(&peers[i - start]);
    }
    const bool ok = drive(ptrs, 60, "making sessions", [&](Peer& p, const mqtt::Frame& f) {
      if (f.header.type == mqtt::PacketType::Connack) {
        expect_connack(f, "making sessions");
        queue_subscribe(p, filter_of(start + static_cast<size_t>(&p - peers.data())));
      } else {
        expect_suback(f, "making sessions");
        queue_disconnect(p);
      }
    });
    if (!ok) fatal("making sessions: timed out");
  }
}

// Removes the persistent session `client_id`: a clean-session CONNECT discards it.
void drop_session(const Options& o, const std::string& client_id) {
  Peer p;
  connect_peer(p, o, client_id, true);
  const bool ok = drive({&p}, 10, "removing a session", [&](Peer& q, const mqtt::Frame& f) {
    expect_connack(f, "removing a session");
    queue_disconnect(q);
  });
  if (!ok) fatal("removing session " + client_id + ": timed out");
}

// Publishes `total` QoS 1 PUBLISHes with the usual payload (publisher 0, sequence number 0..)
// on one clean-session connection, keeping --ack-window of them awaiting PUBACK; topic_of(seq)
// is each one's topic. Returns the seconds from the CONNACK to the last PUBACK.
template <class TopicOf>
double publish_qos1(const Options& o, const std::string& client_id, uint64_t total,
                    TopicOf&& topic_of) {
  Peer p;
  connect_peer(p, o, client_id, true);
  std::string payload = make_payload(0);
  std::vector<uint8_t> inflight(65536, 0);
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint16_t next_id = 1;
  uint64_t started = 0;
  uint64_t finished = 0;
  auto top_up = [&] {
    while (sent < total && sent - acked < o.ack_window) {
      while (inflight[next_id])
        next_id = next_id == 65535 ? 1 : next_id + 1;
      inflight[next_id] = 1;
      put_u64(payload.data() + 8, sent);
      put_u64(payload.data() + 16, now_ns());
      const std::string topic = topic_of(sent);
      mqtt::Publish pub;
      pub.topic = topic;
      pub.payload = payload;
      pub.qos = 1;
      pub.packet_id = next_id;
      mqtt::encode_publish(p.out, pub, g_version);
      next_id = next_id == 65535 ? 1 : next_id + 1;
      ++sent;
    }
  };
  const bool ok = drive({&p}, 600, "publishing", [&](Peer& q, const mqtt::Frame& f) {
    if (f.header.type == mqtt::PacketType::Connack) {
      expect_connack(f, "publishing");
      started = now_ns();
      top_up();
      return;
    }
    if (f.header.type != mqtt::PacketType::Puback) {
      fatal(std::string("publishing: unexpected ") + mqtt::packet_name(f.header.type));
    }
    uint16_t id = 0;
    if (mqtt::decode_ack(f, g_version, id) != mqtt::Error::None || !inflight[id]) {
      fatal("publishing: bad or unexpected PUBACK");
    }
    inflight[id] = 0;
    ++acked;
    if (acked == total) {
      finished = now_ns();
      queue_disconnect(q);
    } else {
      top_up();
    }
  });
  if (!ok) {
    fatal("publishing: " + std::to_string(acked) + " of " + std::to_string(total) +
          " PUBLISHes acknowledged in time");
  }
  return static_cast<double>(finished - started) / 1e9;
}

int run_offline(const Options& o) {
  const std::string pid = std::to_string(getpid());
  const std::string topic = "fgbench/" + pid + "/offline";
  const std::string sub_id = "fgbench-" + pid + "-offline";
  const uint64_t total = o.messages;

  make_offline_sessions(o, {sub_id}, 1, [&](size_t) { return topic; });
  const double publish_s =
      publish_qos1(o, "fgbench-" + pid + "-p0", total, [&](uint64_t) { return topic; });

  // The subscriber comes back and takes everything, acknowledging each read's deliveries at once.
  std::vector<uint8_t> seen(total, 0);
  uint64_t distinct = 0;
  uint64_t duplicates = 0;
  uint64_t foreign = 0;
  bool session_present = false;
  uint64_t last_ns = 0;
  Peer sub;
  const uint64_t started = now_ns();
  connect_peer(sub, o, sub_id, false);
  const double drain_timeout_s = 60 + static_cast<double>(total) / 1000.0;
  const bool all = drive({&sub}, drain_timeout_s, "draining", [&](Peer& p, const mqtt::Frame& f) {
    if (f.header.type == mqtt::PacketType::Connack) {
      session_present = expect_connack(f, "draining").session_present;
      return;
    }
    if (f.header.type != mqtt::PacketType::Publish) {
      fatal(std::string("draining: unexpected ") + mqtt::packet_name(f.header.type));
    }
    mqtt::Publish pub;
    if (mqtt::decode_publish(f, g_version, pub) != mqtt::Error::None) {
      fatal("draining: bad PUBLISH");
    }
    if (pub.qos == 1) mqtt::encode_ack(p.out, mqtt::PacketType::Puback, pub.packet_id);
    const char* d = pub.payload.data();
    uint64_t seq = 0;
    if (pub.payload.size() != kPayloadSize || get_u32(d + 4) != kMagic ||
        (seq = get_u64(d + 8)) >= total) {
      ++foreign;
      return;
    }
    if (seen[seq]) {
      ++duplicates;
      return;
    }
    seen[seq] = 1;
    last_ns = now_ns();
    if (++distinct == total) queue_disconnect(p);
  });
  if (!all) close_peer(sub);
  drop_session(o, sub_id);

  const double drain_s = static_cast<double>(last_ns - started) / 1e9;
  const double tot = static_cast<double>(total);
  std::printf(
      "offline_qos1 publish_msgs_per_s=%.0f drain_msgs_per_s=%.0f messages=%llu received=%llu "
      "lost_total=%llu duplicates=%llu publish_s=%s drain_s=%s session_present=%d%s\n",
      tot / publish_s, distinct == total ? tot / drain_s : 0.0,
      static_cast<unsigned long long>(total), static_cast<unsigned long long>(distinct),
      static_cast<unsigned long long>(total - distinct),
      static_cast<unsigned long long>(duplicates), fixed(publish_s, 3).c_str(),
      fixed(drain_s, 3).c_str(), session_present ? 1 : 0,
      foreign > 0 ? (" foreign=" + std::to_string(foreign)).c_str() : "");
  std::fflush(stdout);
  if (!session_present) std::fprintf(stderr, "fieldgate-loadgen: the session was not present\n");
  return distinct == total ? 0 : 2;
}

int run_populate(const Options& o) {
  const std::string prefix =
      o.client_prefix.empty() ? "fgbench-" + std::to_string(getpid()) : o.client_prefix;
  const std::string base = "fgbench/" + prefix;
  std::vector<std::string> ids;
  for (int i = 0; i < o.sessions; ++i)
    ids.push_back(prefix + "-" + std::to_string(i));
  auto topic_of_session = [&](size_t i) {
    return o.own_topics ? base + "/s/" + std::to_string(i) : base + "/all";
  };

  const uint64_t t0 = now_ns();
  make_offline_sessions(o, ids, o.conn_batch, topic_of_session);
  const double sessions_s = static_cast<double>(now_ns() - t0) / 1e9;

  const uint64_t per_session = o.messages;
  const uint64_t publishes = o.own_topics ? per_session * ids.size() : per_session;
  const double publish_s = publish_qos1(o, prefix + "-publisher", publishes, [&](uint64_t seq) {
    return topic_of_session(o.own_topics ? seq % ids.size() : 0);
  });
  std::printf(
      "populate sessions=%d queued_total=%llu publishes=%llu topics=%s sessions_s=%s "
      "publish_s=%s\n",
      o.sessions, static_cast<unsigned long long>(per_session * ids.size()),
      static_cast<unsigned long long>(publishes), o.own_topics ? "own" : "shared",
      fixed(sessions_s, 3).c_str(), fixed(publish_s, 3).c_str());
  std::fflush(stdout);
  return 0;
}

// --- Scale scenarios: idle connections (idle), a million subscriptions (subscriptions) ---

// VmRSS of process `pid` in kB; -1 if unreadable.
long long vmrss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

// A clean-session CONNECT with --keep-alive.
std::string connect_packet(const Options& o, const std::string& client_id) {
  mqtt::Connect connect;
  connect.version = g_version;
  connect.protocol_name = "MQTT";
  connect.clean_session = true;
  connect.keep_alive = static_cast<uint16_t>(o.keep_alive);
  connect.client_id = client_id;
  std::string out;
  mqtt::encode_connect(out, connect);
  return out;
}

// Opens --connections connections, --conn-batch at a time (each batch waits for its CONNACKs),
// prints one line when all are acknowledged, holds them, then disconnects. The connections send
// nothing after their CONNECT (keep-alive --keep-alive, 600 s): `run` reads the broker's RSS
// while they are held.
int run_idle(const Options& o) {
  const std::string prefix =
      o.client_prefix.empty() ? "fgbench-" + std::to_string(getpid()) + "-idle" : o.client_prefix;
  const size_t n = static_cast<size_t>(o.connections);
  std::vector<int> fds(n, -1);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fatal_errno("epoll_create1");
  std::vector<epoll_event> events(512);
  const uint64_t t0 = now_ns();
  for (size_t start = 0; start < n; start += static_cast<size_t>(o.conn_batch)) {
    const size_t end = std::min(n, start + static_cast<size_t>(o.conn_batch));
    std::vector<std::string> got(end - start);
    for (size_t i = start; i < end; ++i) {
      fds[i] = connect_to(o);
      const std::string packet = connect_packet(o, prefix + "-" + std::to_string(i));
      if (send(fds[i], packet.data(), packet.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(packet.size())) {
        fatal_errno("idle: write CONNECT");
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) fatal_errno("epoll_ctl add");
    }
    size_t pending = end - start;
    const uint64_t deadline = now_ns() + 30'000'000'000ULL;
    while (pending > 0) {
      if (now_ns() > deadline) {
        fatal("idle: " + std::to_string(pending) + " CONNACKs missing after 30 s (" +
              std::to_string(start) + " connections acknowledged before this batch)");
      }
      const int k = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
      if (k < 0 && errno != EINTR) fatal_errno("epoll_wait");
      for (int e = 0; e < k; ++e) {
        const size_t i = events[e].data.u64;
        char buf[64];
        const ssize_t r = read(fds[i], buf, sizeof buf);
        if (r == 0) {
          fatal("idle: the broker closed connection " + std::to_string(i) +
                " before its CONNACK (max_connections or the open-files limit?)");
        }
        if (r < 0) {
          if (errno == EAGAIN || errno == EINTR) continue;
          fatal_errno("idle: read");
        }
        std::string& in = got[i - start];
        in.append(buf, static_cast<size_t>(r));
        mqtt::Frame frame;
        const auto status = mqtt::next_frame(in, 1024, frame);
        if (status == mqtt::FrameStatus::Incomplete) continue;
        if (status != mqtt::FrameStatus::Complete) fatal("idle: malformed packet from the broker");
        expect_connack(frame, "idle");
        if (epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr) < 0) fatal_errno("epoll_ctl del");
        --pending;
      }
    }
  }
  const double connect_s = static_cast<double>(now_ns() - t0) / 1e9;
  std::printf("idle_connections connections=%zu connect_s=%s keep_alive=%d\n", n,
              fixed(connect_s, 3).c_str(), o.keep_alive);
  std::fflush(stdout);

  if (o.hold_s > 0) {
    sleep_s(o.hold_s);
  } else {
    char c;
    ssize_t r;
    do {
      r = read(STDIN_FILENO, &c, 1);
    } while (r > 0 || (r < 0 && errno == EINTR));
  }

  // Were they all held? A connection the broker closed reads as end of file.
  size_t closed = 0;
  for (int fd : fds) {
    char c;
    const ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) ++closed;
  }
  std::string bye;
  mqtt::encode_empty(bye, mqtt::PacketType::Disconnect);
  for (int fd : fds) {
    (void)!send(fd, bye.data(), bye.size(), MSG_NOSIGNAL);
    close(fd);
  }
  close(ep);
  std::printf("idle_closed closed_by_broker=%zu\n", closed);
  std::fflush(stdout);
  return closed == 0 ? 0 : 2;
}

// One connection of the subscriptions scenario.
struct Link {
  int fd = -1;
  uint64_t tag = 0;
  std::string out;
  size_t out_off = 0;
  bool out_armed = false;
  std::vector<char> in;
  size_t in_used = 0;
  bool connacked = false;
  uint64_t subacks = 0;
  uint64_t granted = 0;
  uint64_t refused = 0;
  uint64_t publishes = 0;  // PUBLISHes received (deliveries)
  uint64_t pingresps = 0;
  uint64_t pingresp_ns = 0;
};

// A few dozen connections driven by one epoll loop.
class LinkSet {
 public:
  explicit LinkSet(const Options& o) : o_(o) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) fatal_errno("epoll_create1");
  }
  ~LinkSet() {
    for (auto& l : links_)
      close(l->fd);
    close(ep_);
  }
  LinkSet(const LinkSet&) = delete;
  LinkSet& operator=(const LinkSet&) = delete;

  Link& open(const std::string& client_id) {
    auto l = std::make_unique<Link>();
    l->fd = connect_to(o_);
    l->tag = links_.size();
    l->in.resize(kReadChunk);
    l->out = connect_packet(o_, client_id);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = l->tag;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, l->fd, &ev) < 0) fatal_errno("epoll_ctl add");
    links_.push_back(std::move(l));
    return *links_.back();
  }

  uint64_t last_publish_ns() const { return last_publish_ns_; }

  // Runs until done() or timeout_s (false then); before() runs before each wait and may queue
  // output; it returns true when it has more to queue at once (the wait then does not block).
  template <class Done, class Before>
  bool run(double timeout_s, Done&& done, Before&& before) {
    const uint64_t deadline = now_ns() + static_cast<uint64_t>(timeout_s * 1e9);
    std::vector<epoll_event> events(512);
    while (true) {
      const bool busy = before();
      for (auto& l : links_) {
        if (l->out_off < l->out.size() && !l->out_armed) flush(*l);
      }
      if (done()) return true;
      if (now_ns() > deadline) return false;
      const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), busy ? 0 : 10);
      if (n < 0 && errno != EINTR) fatal_errno("epoll_wait");
      for (int i = 0; i < n; ++i) {
        Link& l = *links_[events[i].data.u64];
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_link(l);
        if (events[i].events & EPOLLOUT) flush(l);
      }
    }
  }

 private:
  void flush(Link& l) {
    while (l.out_off < l.out.size()) {
      const ssize_t w =
          send(l.fd, l.out.data() + l.out_off, l.out.size() - l.out_off, MSG_NOSIGNAL);
      if (w > 0) {
        l.out_off += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        fatal_errno("write to broker");
      }
    }
    const bool done = l.out_off == l.out.size();
    if (done) {
      l.out.clear();
      l.out_off = 0;
    }
    if (done == l.out_armed) {
      l.out_armed = !done;
      epoll_event ev{};
      ev.events = EPOLLIN | (l.out_armed ? EPOLLOUT : 0u);
      ev.data.u64 = l.tag;
      if (epoll_ctl(ep_, EPOLL_CTL_MOD, l.fd, &ev) < 0) fatal_errno("epoll_ctl mod");
    }
  }

  void read_link(Link& l) {
    for (int reads = 0; reads < 8; ++reads) {
      const size_t space = l.in.size() - l.in_used;
      const ssize_t r = read(l.fd, l.in.data() + l.in_used, space);
      if (r == 0) fatal("subscriptions: the broker closed a connection");
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        fatal_errno("subscriptions: read from broker");
      }
      l.in_used += static_cast<size_t>(r);
      size_t off = 0;
      const uint64_t before = l.publishes;
      while (off < l.in_used) {
        mqtt::Frame frame;
        const std::string_view rest(l.in.data() + off, l.in_used - off);
        const auto status = mqtt::next_frame(rest, static_cast<uint32_t>(kReadChunk), frame);
        if (status == mqtt::FrameStatus::Incomplete) break;
        if (status != mqtt::FrameStatus::Complete) fatal("subscriptions: malformed packet");
        on_frame(l, frame);
        off += frame.size();
      }
      std::memmove(l.in.data(), l.in.data() + off, l.in_used - off);
      l.in_used -= off;
      if (l.publishes != before) last_publish_ns_ = now_ns();
      if (static_cast<size_t>(r) < space) return;
    }
  }

  static void on_frame(Link& l, const mqtt::Frame& frame) {
    switch (frame.header.type) {
      case mqtt::PacketType::Publish:
        ++l.publishes;
        return;
      case mqtt::PacketType::Connack:
        expect_connack(frame, "subscriptions");
        l.connacked = true;
        return;
      case mqtt::PacketType::Suback: {
        mqtt::Suback ack;
        if (mqtt::decode_suback(frame, g_version, ack) != mqtt::Error::None) {
          fatal("subscriptions: bad SUBACK");
        }
        ++l.subacks;
        for (uint8_t code : ack.return_codes)
          ++(code == mqtt::kSubackFailure ? l.refused : l.granted);
        return;
      }
      case mqtt::PacketType::Pingresp:
        ++l.pingresps;
        l.pingresp_ns = now_ns();
        return;
      default:
        fatal(std::string("subscriptions: unexpected ") + mqtt::packet_name(frame.header.type));
    }
  }

  const Options& o_;
  int ep_ = -1;
  std::vector<std::unique_ptr<Link>> links_;
  uint64_t last_publish_ns_ = 0;
};

constexpr const char* kMetrics[5] = {"temp", "hum", "pres", "volt", "rssi"};

// Filter g of the subscriptions scenario: 100 per site, site = g / 100, all distinct. 80 exact
// (devices 0-15 x 5 metrics), 5 site/S/dev/+/METRIC, 5 site/S/gw/G/+, 5 site/S/dev/D/# (devices
// 16-20) and 5 site/+/dev/S/METRIC (device number S at any site).
std::string scale_filter(uint64_t g) {
  const uint64_t site = g / 100;
  const uint64_t k = g % 100;
  const std::string s = "site/" + std::to_string(site);
  if (k < 80) return s + "/dev/" + std::to_string(k / 5) + "/" + kMetrics[k % 5];
  if (k < 85) return s + "/dev/+/" + kMetrics[k - 80];
  if (k < 90) return s + "/gw/" + std::to_string(k - 85) + "/+";
  if (k < 95) return s + "/dev/" + std::to_string(16 + k - 90) + "/#";
  return "site/+/dev/" + std::to_string(site) + "/" + kMetrics[k - 95];
}

// The connection that subscribes filter g: filter k of site S goes to connection (k + S) %
// connections, so each connection has the same number of filters when connections divides 100
// (with 100, one filter of every site) and a site's filters are spread over connections.
uint64_t filter_connection(uint64_t g, uint64_t connections) {
  return (g % 100 + g / 100) % connections;
}

// `count` encoded QoS 0 PUBLISHes to random topics site/S/dev/D/M (S < sites, D < 16). With
// matching = true M is a subscribed metric and each topic matches exactly 3 filters (the exact
// one, site/S/dev/+/M, site/+/dev/D/M), held by 3 different connections (see
// filter_connection; topics that would match two filters of one connection are left out, so
// each PUBLISH makes exactly 3 deliveries whether a broker sends one copy per session or one per
// subscription); otherwise M is "flow" and the topic matches none while its walk through the
// tree is as deep.
std::string publish_chunk(uint64_t sites, uint64_t connections, bool matching, size_t count) {
  uint64_t attempts = 0;
  uint64_t x = matching ? 0x9e3779b97f4a7c15ULL : 0xd1b54a32d192ed03ULL;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const std::string payload = make_payload(0);
  std::string out;
  for (size_t i = 0; i < count;) {
    const uint64_t site = next() % sites;
    const uint64_t dev = next() % 16;
    const uint64_t metric = next() % 5;
    if (++attempts > 1000 * count) fatal("subscriptions: no topic matches 3 connections");
    if (matching) {
      const uint64_t a = filter_connection(site * 100 + dev * 5 + metric, connections);  // exact
      const uint64_t b = filter_connection(site * 100 + 80 + metric, connections);       // dev/+/M
      const uint64_t c = filter_connection(dev * 100 + 95 + metric, connections);  // +/dev/D/M
      if (a == b || b == c || a == c) continue;
    }
    ++i;
    const std::string topic = "site/" + std::to_string(site) + "/dev/" + std::to_string(dev) + "/" +
                              (matching ? kMetrics[metric] : "flow");
    mqtt::Publish pub;
    pub.topic = topic;
    pub.payload = payload;
    mqtt::encode_publish(out, pub, g_version);
  }
  return out;
}

constexpr uint64_t kDeliveryWindow = 16384;

struct PhaseResult {
  double pubs_per_s = 0;
  uint64_t messages = 0;
  uint64_t lost = 0;  // deliveries expected but not received
  double broker_cpu_pct = -1;
};

// Publishes `chunk` (`per_chunk` PUBLISHes) over and over for --phase seconds, then a PINGREQ;
// done when its PINGRESP and the expected deliveries (`fanout` per PUBLISH) arrived, or a second
// after the PINGRESP without a new delivery. The rate is PUBLISHes / (first write to the later
// of the PINGRESP and the last delivery). With deliveries, a new chunk goes out only while fewer
// than kDeliveryWindow of them are outstanding, so that no broker queue grows (and drops QoS 0
// messages) because the generator reads more slowly than the broker writes; a window shut for a
// second without a delivery is written off (`lost`).
PhaseResult publish_phase(const Options& o, LinkSet& set, Link& pub, const std::vector<Link*>& subs,
                          const std::string& chunk, uint64_t per_chunk, uint64_t fanout) {
  auto deliveries = [&] {
    uint64_t n = 0;
    for (const Link* l : subs)
      n += l->publishes;
    return n;
  };
  const uint64_t deliveries0 = deliveries();
  const uint64_t pings0 = pub.pingresps;
  const std::string stat = "/proc/" + std::to_string(o.broker_pid) + "/stat";
  const long long cpu0 = o.broker_pid > 0 ? cpu_ticks(stat) : -1;
  const uint64_t t0 = now_ns();
  const uint64_t end = t0 + static_cast<uint64_t>(o.phase_s * 1e9);
  uint64_t chunks = 0;
  bool pinged = false;
  uint64_t written_off = 0;
  const bool ok = set.run(
      o.phase_s + 120,
      [&] {
        if (!pinged || pub.pingresps == pings0) return false;
        const uint64_t got = deliveries() - deliveries0;
        if (got >= chunks * per_chunk * fanout) return true;
        const uint64_t last = std::max(pub.pingresp_ns, set.last_publish_ns());
        return now_ns() - last > 1'000'000'000ULL;
      },
      [&] {
        if (pinged || !pub.out.empty()) return false;
        const uint64_t now = now_ns();
        if (now >= end) {
          mqtt::encode_empty(pub.out, mqtt::PacketType::Pingreq);
          pinged = true;
          return false;
        }
        const uint64_t expected = chunks * per_chunk * fanout;
        const uint64_t got = deliveries() - deliveries0 + written_off;
        if (expected > got + kDeliveryWindow) {
          const uint64_t last = std::max(t0, set.last_publish_ns());
          if (now - last < 1'000'000'000ULL) return false;
          written_off += expected - got;
        }
        pub.out = chunk;
        ++chunks;
        return true;
      });
  if (!ok) fatal("subscriptions: no PINGRESP within 120 s of the last PUBLISH");
  const uint64_t got = deliveries() - deliveries0;
  const uint64_t expected = chunks * per_chunk * fanout;
  const uint64_t t1 = got > 0 ? std::max(pub.pingresp_ns, set.last_publish_ns()) : pub.pingresp_ns;
  const double secs = static_cast<double>(t1 - t0) / 1e9;
  PhaseResult r;
  r.messages = chunks * per_chunk;
  r.pubs_per_s = static_cast<double>(r.messages) / secs;
  r.lost = expected > got ? expected - got : 0;
  if (cpu0 >= 0) {
    const long long cpu1 = cpu_ticks(stat);
    const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    r.broker_cpu_pct = 100.0 * static_cast<double>(cpu1 - cpu0) / hz / secs;
  }
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int run_subscriptions(const Options& o) {
  const std::string prefix = "fgbench-" + std::to_string(getpid());
  const uint64_t per_conn = static_cast<uint64_t>(o.filters);
  const uint64_t total = per_conn * static_cast<uint64_t>(o.sub_connections);
  const uint64_t sites = total / 100;

  LinkSet set(o);
  Link& pub = set.open(prefix + "-pub");
  std::vector<Link*> subs;
  for (int c = 0; c < o.sub_connections; ++c)
    subs.push_back(&set.open(prefix + "-s" + std::to_string(c)));
  auto all_connacked = [&] {
    return pub.connacked &&
           std::all_of(subs.begin(), subs.end(), [](const Link* l) { return l->connacked; });
  };
  if (!set.run(30, all_connacked, [] { return false; }))
    fatal("subscriptions: CONNACKs missing after 30 s");

  constexpr size_t kChunk = 1024;
  const uint64_t conns = subs.size();
  const std::string few = publish_chunk(sites, conns, true, kChunk);
  const std::string none = publish_chunk(sites, conns, false, kChunk);
  constexpr uint64_t kFanout = 3;

  // Rates per topic set (0: few, 1: none) and state (0: no subscriptions, 1: all of them).
  std::vector<double> rate[2][2];
  std::vector<double> cpu[2][2];
  uint64_t lost = 0;
  auto measure = [&](int state) {
    for (int round = 0; round < o.rounds; ++round) {
      for (int which = 0; which < 2; ++which) {
        const PhaseResult r = publish_phase(o, set, pub, subs, which == 0 ? few : none, kChunk,
                                            which == 0 && state == 1 ? kFanout : 0);
        rate[which][state].push_back(r.pubs_per_s);
        cpu[which][state].push_back(r.broker_cpu_pct);
        lost += r.lost;
      }
    }
  };
  measure(0);
  sleep_s(0.5);
  const long long rss_before = o.broker_pid > 0 ? vmrss_kb(o.broker_pid) : -1;

  // Every connection queues all its SUBSCRIBEs at once (filter_connection says whose each
  // filter is), --filters-per-subscribe filters per SUBSCRIBE.
  const size_t per_packet = static_cast<size_t>(o.filters_per_subscribe);
  std::vector<std::vector<std::string>> pending(conns);
  std::vector<uint64_t> packets(conns, 0);
  auto queue_subscribe = [&](uint64_t c) {
    mqtt::Subscribe sub;
    sub.packet_id = static_cast<uint16_t>(packets[c] % 65535 + 1);
    for (const std::string& f : pending[c])
      sub.subscriptions.push_back({f, 0});
    mqtt::encode_subscribe(subs[c]->out, sub, g_version);
    ++packets[c];
    pending[c].clear();
  };
  for (uint64_t g = 0; g < total; ++g) {
    const uint64_t c = filter_connection(g, conns);
    pending[c].push_back(scale_filter(g));
    if (pending[c].size() == per_packet) queue_subscribe(c);
  }
  for (uint64_t c = 0; c < conns; ++c) {
    if (!pending[c].empty()) queue_subscribe(c);
  }
  const uint64_t t_sub = now_ns();
  const bool subscribed = set.run(
      3600,
      [&] {
        for (uint64_t c = 0; c < conns; ++c) {
          if (subs[c]->subacks != packets[c]) return false;
        }
        return true;
      },
      [] { return false; });
  if (!subscribed) fatal("subscriptions: SUBACKs missing after an hour");
  const double subscribe_s = static_cast<double>(now_ns() - t_sub) / 1e9;
  uint64_t granted = 0;
  uint64_t refused = 0;
  for (const Link* l : subs) {
    granted += l->granted;
    refused += l->refused;
  }
  sleep_s(1.0);
  const long long rss_after = o.broker_pid > 0 ? vmrss_kb(o.broker_pid) : -1;
  measure(1);

  const double few0 = median(rate[0][0]);
  const double few1 = median(rate[0][1]);
  const double none0 = median(rate[1][0]);
  const double none1 = median(rate[1][1]);
  auto runs = [](const std::vector<double>& v) {
    std::string s;
    for (double x : v)
      s += (s.empty() ? "" : ",") + fixed(x, 0);
    return s;
  };
  std::printf(
      "subscriptions subscribe_s=%s subscriptions=%llu subscribe_per_s=%.0f "
      "few_pubs_per_s_0=%.0f few_pubs_per_s_1m=%.0f none_pubs_per_s_0=%.0f "
      "none_pubs_per_s_1m=%.0f match_ns_none=%s match_ns_few=%s vmrss_kb_before=%lld "
      "vmrss_kb_after=%lld bytes_per_subscription=%s granted=%llu refused=%llu "
      "deliveries_per_few_publish=%llu lost_total=%llu broker_cpu_pct_few_1m=%s "
      "broker_cpu_pct_none_1m=%s broker_cpu_pct_none_0=%s connections=%d filters_per_connection=%d "
      "filters_per_subscribe=%d phase_s=%s rounds=%d runs_few_0=%s runs_few_1m=%s runs_none_0=%s "
      "runs_none_1m=%s\n",
      fixed(subscribe_s, 3).c_str(), static_cast<unsigned long long>(total),
      static_cast<double>(total) / subscribe_s, few0, few1, none0, none1,
      fixed(1e9 / none1 - 1e9 / none0, 1).c_str(), fixed(1e9 / few1 - 1e9 / few0, 1).c_str(),
      rss_before, rss_after,
      fixed(static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(total), 1)
          .c_str(),
      static_cast<unsigned long long>(granted), static_cast<unsigned long long>(refused),
      static_cast<unsigned long long>(kFanout), static_cast<unsigned long long>(lost),
      fixed(median(cpu[0][1]), 1).c_str(), fixed(median(cpu[1][1]), 1).c_str(),
      fixed(median(cpu[1][0]), 1).c_str(), o.sub_connections, o.filters, o.filters_per_subscribe,
      fixed(o.phase_s, 1).c_str(), o.rounds, runs(rate[0][0]).c_str(), runs(rate[0][1]).c_str(),
      runs(rate[1][0]).c_str(), runs(rate[1][1]).c_str());
  std::fflush(stdout);
  return granted == total ? 0 : 2;
}

void raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Scenario s;
  s.opt = parse_options(argc, argv);
  const Options& o = s.opt;
  raise_open_files_limit();
  if (o.scenario == "offline") return run_offline(o);
  if (o.scenario == "populate") return run_populate(o);
  if (o.scenario == "idle") return run_idle(o);
  if (o.scenario == "subscriptions") return run_subscriptions(o);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < o.threads; ++i)
    workers.push_back(std::make_unique<Worker>(s, i));
  build(s, workers);

  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&w] { w->run(); });

  // Hand-shake: every CONNACK and SUBACK, within ten seconds.
  const int total = static_cast<int>(s.conns.size());
  const uint64_t deadline = now_ns() + 10'000'000'000ULL;
  while (s.ctl.ready.load() < total) {
    if (now_ns() > deadline) {
      fatal("only " + std::to_string(s.ctl.ready.load()) + " of " + std::to_string(total) +
            " connections were accepted and subscribed within 10 s");
    }
    sleep_s(0.005);
  }
  bool tids_known = false;
  while (!tids_known) {
    tids_known = std::all_of(workers.begin(), workers.end(), [](auto& w) { return w->tid() != 0; });
    if (!tids_known) sleep_s(0.001);
  }

  s.ctl.publishing.store(true);
  sleep_s(o.warmup_s);
  const Snapshot a = snapshot(s, workers);
  s.ctl.measuring.store(true);
  sleep_s(o.duration_s);
  s.ctl.measuring.store(false);
  const Snapshot b = snapshot(s, workers);
  s.ctl.publishing.store(false);
  s.ctl.stop.store(true);
  for (auto& t : threads)
    t.join();

  // Polite goodbye; the broker may already be gone, which is fine here.
  for (auto& c : s.conns) {
    std::string bye;
    mqtt::encode_empty(bye, mqtt::PacketType::Disconnect);
    (void)!send(c->fd, bye.data(), bye.size(), MSG_NOSIGNAL);
    close(c->fd);
    if (c->timer_fd >= 0) close(c->timer_fd);
  }
  if (!o.clean_session) {
    for (const Conn* c : s.subs)
      drop_session(o, c->client_id);
  }

  const double secs = static_cast<double>(b.t_ns - a.t_ns) / 1e9;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  auto pct = [&](long long t0, long long t1) {
    return t0 < 0 || t1 < 0 ? -1.0 : 100.0 * static_cast<double>(t1 - t0) / hz / secs;
  };
  const double self_pct = pct(a.self_ticks, b.self_ticks);
  double max_thread_pct = 0;
  for (size_t i = 0; i < workers.size(); ++i) {
    max_thread_pct = std::max(max_thread_pct, pct(a.thread_ticks[i], b.thread_ticks[i]));
  }
  uint64_t lost = 0;
  uint64_t reordered = 0;
  uint64_t stalls = 0;
  uint64_t foreign = 0;
  for (const auto& f : s.flows) {
    lost += f->lost;
    reordered += f->reordered;
  }
  for (const Conn* p : s.pubs)
    stalls += p->stalls;
  for (const Conn* c : s.subs)
    foreign += c->foreign;

  std::string common =
      " lost_total=" + std::to_string(lost) + " reordered_total=" + std::to_string(reordered) +
      " stalls=" + std::to_string(stalls) + " seconds=" + fixed(secs, 3) +
      " loadgen_threads=" + std::to_string(o.threads) + " loadgen_cpu_pct=" + fixed(self_pct, 1) +
      " loadgen_max_thread_cpu_pct=" + fixed(max_thread_pct, 1);
  if (o.broker_pid > 0)
    common += " broker_cpu_pct=" + fixed(pct(a.broker_ticks, b.broker_ticks), 1);
  if (foreign > 0) common += " foreign=" + std::to_string(foreign);

  const std::string name = o.scenario + "_qos" + std::to_string(o.qos);
  const double recv_rate = static_cast<double>(b.received - a.received) / secs;
  const double sent_rate = static_cast<double>(b.sent - a.sent) / secs;
  if (o.scenario == "fanin") {
    std::printf("%s msgs_per_s=%.0f sent_per_s=%.0f publishers=%d%s\n", name.c_str(), recv_rate,
                sent_rate, o.publishers, common.c_str());
  } else if (o.scenario == "fanout") {
    std::printf("%s deliveries_per_s=%.0f publishes_per_s=%.0f subscribers=%d%s\n", name.c_str(),
                recv_rate, sent_rate, o.subscribers, common.c_str());
  } else {
    std::vector<uint32_t> lat = s.subs[0]->latencies_ns;
    if (lat.empty()) fatal("no message arrived while measuring latency");
    std::sort(lat.begin(), lat.end());
    auto at = [&](double q) {
      const auto i =
          std::min(lat.size() - 1, static_cast<size_t>(q * static_cast<double>(lat.size())));
      return static_cast<double>(lat[i]) / 1000.0;
    };
    std::printf("%s p50_us=%s p99_us=%s p999_us=%s max_us=%s samples=%zu rate=%.0f%s\n",
                name.c_str(), fixed(at(0.50), 1).c_str(), fixed(at(0.99), 1).c_str(),
                fixed(at(0.999), 1).c_str(),
                fixed(static_cast<double>(lat.back()) / 1000.0, 1).c_str(), lat.size(), o.rate,
                common.c_str());
  }
  if (max_thread_pct > 90.0) {
    std::fprintf(stderr,
                 "fieldgate-loadgen: warning: a generator thread used %.0f%% of a core; the "
                 "figure may be client-bound (try --threads %d)\n",
                 max_thread_pct, o.threads + 1);
  }
  std::fflush(stdout);
  return 0;
}
