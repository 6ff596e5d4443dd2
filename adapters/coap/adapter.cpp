#include "adapters/coap/adapter.h"

#include <coap3/coap.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "adapters/coap/payload.h"
#include "common/log.h"

namespace fieldgate::coap {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

namespace {

constexpr auto kLapseGrace = 2s;         // beyond Max-Age before an observation counts as lapsed
constexpr auto kRefusedRetry = 5s;       // an observe registration answered with an error
constexpr auto kProbeFirst = 500ms;      // back-off of an offline device: first probe
constexpr auto kProbeCap = 10s;          // and the longest wait between probes
constexpr uint32_t kDefaultMaxAge = 60;  // seconds (RFC 7252 5.10.5)
constexpr int kDrainRounds = 1000;       // libcoap I/O rounds per wait while datagrams are waiting

int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "4.04 Not Found"
std::string code_text(coap_pdu_code_t code) {
  unsigned value = static_cast<unsigned>(code) & 0xFF;
  unsigned detail = value & 0x1F;
  std::string text =
      std::to_string(value >> 5) + "." + (detail < 10 ? "0" : "") + std::to_string(detail);
  if (const char* phrase = coap_response_phrase(static_cast<unsigned char>(value))) {
    text += ' ';
    text += phrase;
  }
  return text;
}

std::string_view nack_text(coap_nack_reason_t reason) {
  switch (reason) {
    case COAP_NACK_RST:
      return "the server reset the request (RST)";
    case COAP_NACK_ICMP_ISSUE:
      return "no CoAP server answers there (ICMP port unreachable: is it running?)";
    case COAP_NACK_TLS_FAILED:
      return "DTLS handshake failed (check psk_identity and psk_key)";
    case COAP_NACK_NOT_DELIVERABLE:
      return "the request could not be sent";
    case COAP_NACK_TOO_MANY_RETRIES:
      break;
  }
  return "no answer after retransmissions";
}

// The libcoap log, at warning level and above, into ours (as debug: the adapter reports what
// matters to the user itself, in its own words).
void forward_log(coap_log_t level, const char* message) {
  std::string_view text = message;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  if (level <= LOG_ERR) {
    log::debug("coap", "libcoap: ", text);
  } else {
    log::trace("coap", "libcoap: ", text);
  }
}

void start_libcoap() {
  static std::once_flag once;
  std::call_once(once, [] {
    coap_startup();
    coap_set_log_handler(forward_log);
    // At trace level the whole libcoap debug log (every datagram) comes through.
    coap_set_log_level(log::enabled(log::Level::Trace) ? LOG_DEBUG : LOG_WARNING);
  });
}

void split(std::string_view text, char separator, std::vector<std::string>& out) {
  while (!text.empty()) {
    size_t end = text.find(separator);
    std::string_view part = text.substr(0, end);
    if (!part.empty()) out.emplace_back(part);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

// RFC 7641 3.4: is sequence number `next` (arriving at `t2`) fresher than `last` (at `t1`)?
bool fresher(uint32_t last, Clock::time_point t1, uint32_t next, Clock::time_point t2) {
  constexpr uint32_t kHalf = 1u << 23;
  return (last < next && next - last < kHalf) || (last > next && last - next > kHalf) ||
         t2 > t1 + 128s;
}

unsigned option_uint(const coap_pdu_t* pdu, coap_option_num_t number, bool& present) {
  coap_opt_iterator_t it;
  const coap_opt_t* opt = coap_check_option(pdu, number, &it);
  present = opt != nullptr;
  if (!opt) return 0;
  return coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
}

// Tokens come from libcoap (coap_session_new_token): with block mode on, libcoap puts its own
// "state tokens" on the wire for some requests and matches answers on their low 48 bits, so a
// token of our own making could be taken for one of its. Its tokens are at most 8 bytes.
uint64_t token_value(coap_bin_const_t token) {
  uint64_t value = token.length;  // the length too: 0x0001 and 0x01 differ
  for (size_t i = 0; i < token.length && i < 8; ++i)
    value = (value << 8) | token.s[i];
  return value;
}

struct Token {
  uint8_t bytes[8];
  size_t length = 0;
  uint64_t value() const { return token_value(coap_bin_const_t{length, bytes}); }
};

void release_body(coap_session_t*, void* body) {
  delete static_cast<std::string*>(body);
}

}  // namespace

enum class Kind { Register, Poll, Put, ReadBack };

struct Device;

struct Pending {
  Device* device = nullptr;
  size_t point = 0;
  Kind kind = Kind::Poll;
  Clock::time_point deadline{};
  std::function<void(const adapters::WriteResult&)> done;  // Put and ReadBack
};

struct PointState {
  const config::CoapPoint* config = nullptr;
  std::vector<std::string> path;   // Uri-Path segments
  std::vector<std::string> query;  // Uri-Query items
  bool polling = false;            // mode = "poll", or observe refused by the server
  bool observing = false;          // registered; `next` is when the observation lapses
  bool in_flight = false;          // a registration or poll is outstanding
  std::optional<Token> observe;    // the observation's token, kept for re-registrations
  Clock::time_point next{};        // when to register or poll next
  bool have_seq = false;
  uint32_t seq = 0;
  Clock::time_point seq_time{};
};

struct Device {
  size_t index = 0;
  config::CoapDevice config;
  std::string endpoint;  // coap://host:port, for messages
  std::vector<PointState> points;
  coap_session_t* session = nullptr;
  std::optional<bool> online;  // unknown until the first answer or timeout
  std::string reported_error;
  unsigned failures = 0;
  bool probing = false;            // offline, one probe outstanding
  Clock::time_point last_heard{};  // the last answer or notification
  Clock::time_point probe_at{};
  std::unordered_map<uint64_t, Pending> pending;   // requests by token
  std::unordered_map<uint64_t, size_t> observers;  // point by observation token
};

struct WriteJob {
  Device* device = nullptr;
  size_t point = 0;
  std::string body;
  std::function<void(const adapters::WriteResult&)> done;
};

class Worker {
 public:
  explicit Worker(std::vector<config::CoapDevice> devices) {
    for (config::CoapDevice& d : devices) {
      auto device = std::make_unique<Device>();
      device->index = devices_.size();
      device->config = std::move(d);
      const config::CoapDevice& c = device->config;
      std::string host = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
      device->endpoint =
          std::string(c.secure ? "coaps://" : "coap://") + host + ":" + std::to_string(c.port);
      for (const config::CoapPoint& p : c.points) {
        PointState state;
        state.config = &p;
        std::string_view path = p.path;
        size_t q = path.find('?');
        split(path.substr(0, q), '/', state.path);
        if (q != std::string_view::npos) split(path.substr(q + 1), '&', state.query);
        state.polling = p.mode == config::CoapMode::Poll;
        device->points.push_back(std::move(state));
      }
      devices_.push_back(std::move(device));
    }
  }

  ~Worker() { stop(); }

  Device* find(std::string_view name) {
    for (auto& d : devices_)
      if (d->config.name == name) return d.get();
    return nullptr;
  }

  void start(adapters::ReadingSink& sink) {
    start_libcoap();
    sink_ = &sink;
    stopping_ = false;
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake();
    thread_.join();
    for (WriteJob& job : writes_)
      job.done({false, "the gateway is stopping; the write was not sent"});
    writes_.clear();
    close(wake_fd_);
    wake_fd_ = -1;
  }

  void enqueue(WriteJob job) {
    std::unique_lock lock(mutex_);
    if (stopping_ || !thread_.joinable()) {
      lock.unlock();
      job.done({false, "the gateway is stopping; the write was not sent"});
      return;
    }
    writes_.push_back(std::move(job));
    lock.unlock();
    wake();
  }

 private:
  void wake() {
    uint64_t one = 1;
    if (wake_fd_ >= 0 && ::write(wake_fd_, &one, sizeof one) < 0) {
      // EAGAIN: the counter is already non-zero, so the thread wakes anyway.
    }
  }

  // ---- the thread ----------------------------------------------------------------------

  void run() {
    context_ = coap_new_context(nullptr);
    if (!context_) {
      log::error("coap", "cannot create a libcoap context; CoAP devices are not served");
      return;
    }
    coap_set_app_data(context_, this);
    coap_context_set_block_mode(context_, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(context_, &Worker::on_response);
    coap_register_nack_handler(context_, &Worker::on_nack);
    Clock::time_point now = Clock::now();
    for (auto& d : devices_) {
      for (PointState& p : d->points)
        p.next = now;
      open_session(*d);
    }
    while (true) {
      std::deque<WriteJob> writes;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) break;
        writes.swap(writes_);
      }
      for (WriteJob& job : writes)
        send_write(job);
      service(Clock::now());
      wait(next_wake());
    }
    // Shut down inside the thread: libcoap is not thread-safe.
    for (auto& d : devices_) {
      for (auto& [token, pending] : d->pending) {
        if (pending.done) pending.done({false, "the gateway stopped before the device answered"});
      }
      d->pending.clear();
      close_session(*d);
    }
    coap_free_context(context_);
    context_ = nullptr;
  }

  // Sleeps until `until`, a datagram, a retransmission libcoap has due, or wake(); then lets
  // libcoap do its I/O.
  void wait(Clock::time_point until) {
    Clock::time_point now = Clock::now();
    int timeout = 0;
    if (until > now) {
      auto ms = std::chrono::duration_cast<milliseconds>(until - now).count() + 1;
      timeout = static_cast<int>(std::min<int64_t>(ms, 1000));
    }
    int coap_fd = coap_context_get_coap_fd(context_);
    if (coap_fd >= 0) {
      // libcoap built with epoll (Debian's is): its own wait would not see our wake fd, so poll
      // both here and have libcoap process without waiting.
      coap_tick_t ticks;
      coap_ticks(&ticks);
      unsigned libcoap_ms = coap_io_prepare_epoll(context_, ticks);  // 0: nothing due
      if (libcoap_ms > 0) timeout = std::min(timeout, static_cast<int>(libcoap_ms));
      pollfd fds[2] = {{coap_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (timeout > 0 && ::poll(fds, 2, timeout) > 0 && (fds[1].revents & POLLIN)) clear_wake();
      // Drain what arrived before going back to our timers: a server that notifies many
      // resources at once sends a burst that would overflow the socket's receive buffer.
      for (int round = 0; round < kDrainRounds; ++round) {
        coap_io_process(context_, COAP_IO_NO_WAIT);
        pollfd more{coap_fd, POLLIN, 0};
        if (::poll(&more, 1, 0) <= 0) break;
      }
      return;
    }
    fd_set readfds;
    FD_ZERO(&readfds);
    FD_SET(wake_fd_, &readfds);
    uint32_t wait_ms = timeout > 0 ? static_cast<uint32_t>(timeout) : COAP_IO_NO_WAIT;
    int rc = coap_io_process_with_fds(context_, wait_ms, wake_fd_ + 1, &readfds, nullptr, nullptr);
    if (rc >= 0 && FD_ISSET(wake_fd_, &readfds)) clear_wake();
  }

  void clear_wake() {
    uint64_t count = 0;
    if (::read(wake_fd_, &count, sizeof count) < 0) {
      // EAGAIN: nothing to clear.
    }
  }

  Clock::time_point next_wake() const {
    Clock::time_point wake = Clock::time_point::max();
    for (const auto& d : devices_) {
      for (const auto& [token, pending] : d->pending)
        wake = std::min(wake, pending.deadline);
      if (d->online == false) {
        if (!d->probing) wake = std::min(wake, d->probe_at);
        continue;
      }
      for (const PointState& p : d->points)
        if (!p.in_flight) wake = std::min(wake, p.next);
    }
    return wake;
  }

  // Timeouts first, then whatever is due.
  void service(Clock::time_point now) {
    std::vector<uint64_t> expired;
    for (auto& d : devices_) {
      expired.clear();
      for (const auto& [token, pending] : d->pending)
        if (pending.deadline <= now) expired.push_back(token);
      for (uint64_t token : expired) {
        auto it = d->pending.find(token);
        if (it == d->pending.end()) continue;  // dropped by an earlier timeout of the device
        // Requests wait their turn in libcoap (one outstanding at a time, RFC 7252 NSTART 1),
        // so one still waiting while the device answers others is not a timeout: the device
        // is offline when it has not answered anything for timeout_ms.
        milliseconds timeout{d->config.timeout_ms};
        if (d->online == true && now - d->last_heard < timeout) {
          it->second.deadline = d->last_heard + timeout;
          continue;
        }
        Pending pending = std::move(it->second);
        d->pending.erase(it);
        timed_out(pending);
      }
    }
    for (auto& d : devices_) {
      if (d->online == false) {
        if (!d->probing && d->probe_at <= now) probe(*d);
        continue;
      }
      if (!d->session) continue;
      for (size_t i = 0; i < d->points.size(); ++i) {
        PointState& p = d->points[i];
        if (!p.in_flight && p.next <= now) send_read(*d, i);
      }
    }
  }

  std::string timeout_text(const Device& d) const {
    if (d.config.secure && d.session &&
        coap_session_get_state(d.session) != COAP_SESSION_STATE_ESTABLISHED) {
      // A wrong key shows as silence: the server drops the handshake.
      return "timeout: the DTLS handshake with " + d.endpoint + " did not complete within " +
             std::to_string(d.config.timeout_ms) +
             " ms (check psk_identity and psk_key, and that the server runs)";
    }
    return "timeout: no answer from " + d.endpoint + " within " +
           std::to_string(d.config.timeout_ms) + " ms";
  }

  void timed_out(Pending& pending) {
    Device& d = *pending.device;
    switch (pending.kind) {
      case Kind::Put:
        log::warn("coap", "write to ", d.config.name, "/", d.points[pending.point].config->name,
                  " failed: ", timeout_text(d));
        pending.done({false, timeout_text(d)});
        device_down(d, timeout_text(d));
        return;
      case Kind::ReadBack:
        log::warn("coap", "reading ", d.config.name, "/", d.points[pending.point].config->name,
                  " back after a write failed: ", timeout_text(d));
        pending.done({true, {}});
        device_down(d, timeout_text(d));
        return;
      case Kind::Register:
      case Kind::Poll:
        d.points[pending.point].in_flight = false;
        device_down(d, timeout_text(d));
        return;
    }
  }

  // ---- sessions ------------------------------------------------------------------------

  void open_session(Device& d) {
    const config::CoapDevice& c = d.config;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string port = std::to_string(c.port);
    int rc = getaddrinfo(c.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || !found) {
      session_failed(
          d, "cannot resolve host '" + c.host + "': " + gai_strerror(rc) + " (check the url)");
      return;
    }
    coap_address_t address;
    coap_address_init(&address);
    address.size = found->ai_addrlen;
    std::memcpy(&address.addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);

    if (c.secure) {
      if (!coap_dtls_is_supported()) {
        session_failed(d, "this libcoap has no DTLS support; coaps:// cannot be used");
        return;
      }
      coap_dtls_cpsk_t setup{};
      setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
      const std::string& identity = c.psk_identity.value();
      const std::string& key = c.psk_key.value();
      setup.psk_info.identity.s = reinterpret_cast<const uint8_t*>(identity.data());
      setup.psk_info.identity.length = identity.size();
      setup.psk_info.key.s = reinterpret_cast<const uint8_t*>(key.data());
      setup.psk_info.key.length = key.size();
      d.session =
          coap_new_client_session_psk2(context_, nullptr, &address, COAP_PROTO_DTLS, &setup);
    } else {
      d.session = coap_new_client_session(context_, nullptr, &address, COAP_PROTO_UDP);
    }
    if (!d.session) {
      session_failed(d, "cannot open a CoAP session to " + d.endpoint);
      return;
    }
    coap_session_set_app_data(d.session, &d);
    // Retransmit within timeout_ms (ACK_TIMEOUT a quarter of it, two retransmissions), so a
    // lost datagram is resent before the request counts as unanswered.
    uint32_t ack_ms = std::clamp<uint32_t>(d.config.timeout_ms / 4, 100, 2000);
    coap_session_set_ack_timeout(d.session,
                                 coap_fixed_point_t{static_cast<uint16_t>(ack_ms / 1000),
                                                    static_cast<uint16_t>(ack_ms % 1000)});
    coap_session_set_max_retransmit(d.session, 2);
  }

  static Token new_token(Device& d) {
    Token token;
    coap_session_new_token(d.session, &token.length, token.bytes);
    return token;
  }

  // Tokens belong to a session: a new one starts afresh.
  void close_session(Device& d) {
    d.observers.clear();
    for (PointState& p : d.points)
      p.observe.reset();
    if (!d.session) return;
    coap_session_set_app_data(d.session, nullptr);
    coap_session_release(d.session);
    d.session = nullptr;
  }

  void session_failed(Device& d, const std::string& reason) {
    d.session = nullptr;
    device_down(d, reason);
  }

  // ---- requests ------------------------------------------------------------------------

  // Builds a request for a point of `d`: token, options, and for PUT the body. nullptr when
  // libcoap has no memory.
  coap_pdu_t* request(Device& d, size_t point, coap_pdu_code_t code, const Token& token,
                      bool observe, std::string* body) {
    const PointState& p = d.points[point];
    coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, code, coap_new_message_id(d.session),
                                    coap_session_max_pdu_size(d.session));
    if (!pdu) return nullptr;
    coap_add_token(pdu, token.length, token.bytes);
    if (observe) coap_add_option(pdu, COAP_OPTION_OBSERVE, 0, nullptr);  // 0: register
    for (const std::string& segment : p.path)
      coap_add_option(pdu, COAP_OPTION_URI_PATH, segment.size(),
                      reinterpret_cast<const uint8_t*>(segment.data()));
    if (body) {
      uint8_t format[4];
      unsigned length = coap_encode_var_safe(format, sizeof format,
                                             p.config->format == config::CoapFormat::Json
                                                 ? COAP_MEDIATYPE_APPLICATION_JSON
                                                 : COAP_MEDIATYPE_TEXT_PLAIN);
      coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT, length, format);
    }
    for (const std::string& item : p.query)
      coap_add_option(pdu, COAP_OPTION_URI_QUERY, item.size(),
                      reinterpret_cast<const uint8_t*>(item.data()));
    if (body) {
      // Block1 when it does not fit one datagram; libcoap frees the copy when done.
      auto* copy = new std::string(std::move(*body));
      if (!coap_add_data_large_request(d.session, pdu, copy->size(),
                                       reinterpret_cast<const uint8_t*>(copy->data()), release_body,
                                       copy)) {
        coap_delete_pdu(pdu);
        return nullptr;  // release_body was called
      }
    }
    return pdu;
  }

  bool send(Device& d, coap_pdu_t* pdu) {
    if (!pdu) return false;
    return coap_send(d.session, pdu) != COAP_INVALID_MID;
  }

  // A registration (observe mode) or a GET (poll mode) of one point.
  void send_read(Device& d, size_t point) {
    PointState& p = d.points[point];
    const bool observe = !p.polling;
    if (observe && !p.observe) {
      p.observe = new_token(d);
      d.observers[p.observe->value()] = point;
    }
    Token token = observe ? *p.observe : new_token(d);
    Clock::time_point now = Clock::now();
    if (!send(d, request(d, point, COAP_REQUEST_CODE_GET, token, observe, nullptr))) {
      // Out of memory or a session that cannot send: try again a period later.
      log::warn("coap", "cannot send a request to ", d.endpoint, p.config->path);
      p.next = now + milliseconds{std::max<uint32_t>(p.config->poll_ms, 1000)};
      return;
    }
    p.in_flight = true;
    d.pending[token.value()] = Pending{&d, point, observe ? Kind::Register : Kind::Poll,
                                       now + milliseconds{d.config.timeout_ms}, nullptr};
  }

  void send_write(WriteJob& job) {
    Device& d = *job.device;
    const PointState& p = d.points[job.point];
    if (d.online == false || !d.session) {
      job.done({false, "device is offline (" + d.reported_error + "); the write was not sent"});
      return;
    }
    Token token = new_token(d);
    if (!send(d, request(d, job.point, COAP_REQUEST_CODE_PUT, token, false, &job.body))) {
      job.done({false, "cannot send the PUT to " + d.endpoint + p.config->path});
      return;
    }
    d.pending[token.value()] =
        Pending{&d, job.point, Kind::Put, Clock::now() + milliseconds{d.config.timeout_ms},
                std::move(job.done)};
  }

  void send_read_back(Device& d, size_t point,
                      std::function<void(const adapters::WriteResult&)> done) {
    Token token = new_token(d);
    if (!send(d, request(d, point, COAP_REQUEST_CODE_GET, token, false, nullptr))) {
      done({true, {}});
      return;
    }
    d.pending[token.value()] =
        Pending{&d, point, Kind::ReadBack, Clock::now() + milliseconds{d.config.timeout_ms},
                std::move(done)};
  }

  // One request to an offline device, the first point's registration or poll, on a new
  // session: the old one may still hold unanswered requests in libcoap's queue (which would
  // hold this one back), and for coaps:// a new DTLS handshake is needed if the server
  // restarted.
  void probe(Device& d) {
    close_session(d);
    open_session(d);
    if (!d.session) return;  // device_down() scheduled the next probe
    d.probing = true;
    send_read(d, 0);
    if (!d.points[0].in_flight) {
      d.probing = false;
      d.probe_at = Clock::now() + kProbeFirst;
    }
  }

  // ---- answers -------------------------------------------------------------------------

  static coap_response_t on_response(coap_session_t* session, const coap_pdu_t* /*sent*/,
                                     const coap_pdu_t* received, const coap_mid_t /*mid*/) {
    auto* self = static_cast<Worker*>(coap_get_app_data(coap_session_get_context(session)));
    auto* d = static_cast<Device*>(coap_session_get_app_data(session));
    if (self && d && d->session == session) self->response(*d, received);
    return COAP_RESPONSE_OK;
  }

  static void on_nack(coap_session_t* session, const coap_pdu_t* sent, coap_nack_reason_t reason,
                      const coap_mid_t /*mid*/) {
    auto* self = static_cast<Worker*>(coap_get_app_data(coap_session_get_context(session)));
    auto* d = static_cast<Device*>(coap_session_get_app_data(session));
    if (self && d && d->session == session && sent) self->nack(*d, sent, reason);
  }

  void nack(Device& d, const coap_pdu_t* sent, coap_nack_reason_t reason) {
    auto it = d.pending.find(token_value(coap_pdu_get_token(sent)));
    if (it == d.pending.end()) return;
    Clock::time_point now = Clock::now();
    if (reason == COAP_NACK_TOO_MANY_RETRIES &&
        now - d.last_heard < milliseconds{d.config.timeout_ms}) {
      // Lost on the way although the device answers others: a read tries again soon, a
      // write fails (the user may send it again).
      Pending pending = std::move(it->second);
      d.pending.erase(it);
      PointState& p = d.points[pending.point];
      switch (pending.kind) {
        case Kind::Register:
        case Kind::Poll:
          p.in_flight = false;
          p.next = now + kProbeFirst;
          return;
        case Kind::Put:
          pending.done({false, "no answer to the PUT from " + d.endpoint + p.config->path +
                                   " after retransmissions"});
          return;
        case Kind::ReadBack:
          pending.done({true, {}});
          return;
      }
      return;
    }
    if (reason == COAP_NACK_TOO_MANY_RETRIES) return;  // the timeout says so in a moment
    Pending pending = std::move(it->second);
    d.pending.erase(it);
    std::string why = d.endpoint + ": " + std::string(nack_text(reason));
    if (pending.kind == Kind::Register || pending.kind == Kind::Poll)
      d.points[pending.point].in_flight = false;
    if (pending.kind == Kind::ReadBack) {
      pending.done({true, {}});  // the write itself was answered
    } else if (pending.done) {
      pending.done({false, why});
    }
    device_down(d, why);
  }

  void response(Device& d, const coap_pdu_t* received) {
    uint64_t token = token_value(coap_pdu_get_token(received));
    Clock::time_point now = Clock::now();
    d.last_heard = now;
    auto it = d.pending.find(token);
    if (it == d.pending.end()) {
      // A notification of an observation (or a late answer, which is dropped).
      auto observer = d.observers.find(token);
      if (observer == d.observers.end()) return;
      size_t point = observer->second;
      if (d.points[point].polling) return;
      device_up(d);
      notification(d, point, received, now);
      return;
    }
    Pending pending = std::move(it->second);
    d.pending.erase(it);
    device_up(d);
    coap_pdu_code_t code = coap_pdu_get_code(received);
    const bool success = COAP_RESPONSE_CLASS(code) == 2;
    switch (pending.kind) {
      case Kind::Register:
        registered(d, pending.point, received, now);
        return;
      case Kind::Poll: {
        PointState& p = d.points[pending.point];
        p.in_flight = false;
        deliver(d, pending.point, received);
        // A fixed rate, unless the answer took longer than a whole period.
        p.next += milliseconds{p.config->poll_ms};
        if (p.next < now) p.next = now + milliseconds{p.config->poll_ms};
        return;
      }
      case Kind::Put:
        if (!success) {
          std::string why = code_text(code);
          log::warn("coap", "write to ", d.config.name, "/", d.points[pending.point].config->name,
                    " refused: ", why);
          pending.done({false, why});
          return;
        }
        send_read_back(d, pending.point, std::move(pending.done));
        return;
      case Kind::ReadBack:
        deliver(d, pending.point, received);
        pending.done({true, {}});
        return;
    }
  }

  // The answer to a registration.
  void registered(Device& d, size_t point, const coap_pdu_t* received, Clock::time_point now) {
    PointState& p = d.points[point];
    p.in_flight = false;
    if (d.probing) d.probing = false;
    coap_pdu_code_t code = coap_pdu_get_code(received);
    if (COAP_RESPONSE_CLASS(code) != 2) {
      deliver(d, point, received);
      p.observing = false;
      p.next = now + kRefusedRetry;
      return;
    }
    bool has_observe = false;
    uint32_t seq = option_uint(received, COAP_OPTION_OBSERVE, has_observe);
    if (!has_observe) {
      log::warn("coap", d.config.name, "/", p.config->name, ": ", d.endpoint, p.config->path,
                " does not support Observe (answered without the Observe option); polling it "
                "every ",
                p.config->poll_ms, " ms instead");
      p.polling = true;
      p.observing = false;
      deliver(d, point, received);
      p.next = now + milliseconds{p.config->poll_ms};
      return;
    }
    p.observing = true;
    p.have_seq = true;
    p.seq = seq;
    p.seq_time = now;
    deliver(d, point, received);
    p.next = now + lapse(received);
  }

  void notification(Device& d, size_t point, const coap_pdu_t* received, Clock::time_point now) {
    PointState& p = d.points[point];
    bool has_observe = false;
    uint32_t seq = option_uint(received, COAP_OPTION_OBSERVE, has_observe);
    coap_pdu_code_t code = coap_pdu_get_code(received);
    if (COAP_RESPONSE_CLASS(code) != 2) {
      // An error notification ends the observation (RFC 7641 3.2).
      deliver(d, point, received);
      p.observing = false;
      p.next = now + kRefusedRetry;
      return;
    }
    if (!has_observe) return;  // a late answer to a poll of a point that observes now
    if (p.have_seq && !fresher(p.seq, p.seq_time, seq, now)) return;  // reordered: older
    p.observing = true;
    p.have_seq = true;
    p.seq = seq;
    p.seq_time = now;
    deliver(d, point, received);
    if (!p.in_flight) p.next = now + lapse(received);
  }

  static Clock::duration lapse(const coap_pdu_t* received) {
    bool present = false;
    unsigned max_age = option_uint(received, COAP_OPTION_MAXAGE, present);
    if (!present) max_age = kDefaultMaxAge;
    return std::chrono::seconds{max_age} + kLapseGrace;
  }

  // The reading a response carries: the value, or bad with the response code or why the
  // payload is not a value.
  void deliver(Device& d, size_t point, const coap_pdu_t* received) {
    const config::CoapPoint& p = *d.points[point].config;
    mapping::Reading reading;
    reading.ts_ms = now_ms();
    coap_pdu_code_t code = coap_pdu_get_code(received);
    if (COAP_RESPONSE_CLASS(code) != 2) {
      reading.quality = mapping::Quality::Bad;
      reading.error = code_text(code);
    } else {
      size_t length = 0;
      const uint8_t* data = nullptr;
      size_t offset = 0;
      size_t total = 0;
      if (!coap_get_data_large(received, &length, &data, &offset, &total)) {
        length = 0;
        data = nullptr;
      }
      std::string_view payload(reinterpret_cast<const char*>(data), length);
      Decoded decoded = decode_payload(payload, p);
      if (decoded.ok()) {
        reading.value = std::move(decoded.value);
      } else {
        reading.quality = mapping::Quality::Bad;
        reading.error = std::move(decoded.error);
      }
    }
    sink_->on_reading(d.config.name, p.name, reading);
  }

  // ---- availability --------------------------------------------------------------------

  void device_up(Device& d) {
    const bool was_down = d.online == false;
    if (was_down)
      log::info("coap", "device '", d.config.name, "' (", d.endpoint, ") answers again");
    d.failures = 0;
    d.probing = false;
    d.reported_error.clear();
    if (d.online != true) sink_->on_availability(d.config.name, true);
    d.online = true;
    if (was_down) {
      // Every point registers or polls again now (the probe's own answer is being handled).
      Clock::time_point now = Clock::now();
      for (PointState& p : d.points)
        if (!p.in_flight) p.next = now;
    }
  }

  void device_down(Device& d, const std::string& reason) {
    ++d.failures;
    if (d.online != false || d.reported_error != reason) {
      log::warn("coap", "device '", d.config.name, "' does not answer: ", reason,
                "; retrying with back-off (check the url, and that the server runs)");
    }
    // Its outstanding reads are abandoned: their points are re-read when it answers again.
    for (auto it = d.pending.begin(); it != d.pending.end();) {
      if (it->second.kind == Kind::Register || it->second.kind == Kind::Poll) {
        it = d.pending.erase(it);
      } else {
        ++it;
      }
    }
    mapping::Reading bad{std::monostate{}, now_ms(), mapping::Quality::Bad, reason};
    for (PointState& p : d.points) {
      p.in_flight = false;
      p.observing = false;
      p.have_seq = false;
      if (d.online != false || d.reported_error != reason)
        sink_->on_reading(d.config.name, p.config->name, bad);
    }
    if (d.online != false) sink_->on_availability(d.config.name, false);
    d.online = false;
    d.reported_error = reason;
    d.probing = false;
    auto delay = kProbeFirst;
    for (unsigned i = 1; i < d.failures && delay < kProbeCap; ++i)
      delay *= 2;
    d.probe_at = Clock::now() + std::min<Clock::duration>(delay, kProbeCap);
  }

  std::vector<std::unique_ptr<Device>> devices_;
  adapters::ReadingSink* sink_ = nullptr;
  std::thread thread_;
  int wake_fd_ = -1;

  std::mutex mutex_;  // guards stopping_ and writes_
  bool stopping_ = false;
  std::deque<WriteJob> writes_;

  // The thread's own.
  coap_context_t* context_ = nullptr;
};

// ---- the adapter --------------------------------------------------------------------------

CoapAdapter::CoapAdapter(std::vector<config::CoapDevice> devices)
    : worker_(std::make_unique<Worker>(std::move(devices))) {}

CoapAdapter::~CoapAdapter() {
  stop();
}

void CoapAdapter::start(adapters::ReadingSink& sink) {
  worker_->start(sink);
}

void CoapAdapter::stop() {
  worker_->stop();
}

void CoapAdapter::write(std::string_view device, std::string_view point,
                        const mapping::Value& value,
                        std::function<void(const adapters::WriteResult&)> done) {
  Device* d = worker_->find(device);
  if (!d) {
    done({false, "no CoAP device named '" + std::string(device) + "'"});
    return;
  }
  // The config (immutable after construction) is safe to read from here.
  const auto& points = d->config.points;
  auto it = std::find_if(points.begin(), points.end(),
                         [&](const config::CoapPoint& p) { return p.name == point; });
  if (it == points.end()) {
    done({false,
          "device '" + std::string(device) + "' has no point named '" + std::string(point) + "'"});
    return;
  }
  if (!it->writable) {
    done({false, "point is not writable (set writable = true in the config to allow commands)"});
    return;
  }
  Encoded body = encode_payload(value, *it);
  if (!body.ok()) {
    done({false, body.error});
    return;
  }
  worker_->enqueue(WriteJob{d, static_cast<size_t>(it - points.begin()), std::move(body.payload),
                            std::move(done)});
}

}  // namespace fieldgate::coap
