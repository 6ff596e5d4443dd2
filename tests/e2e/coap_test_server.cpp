// A small CoAP server on libcoap for the CoAP end-to-end tests and the benchmark: it serves what
// libcoap's stock coap-server cannot (JSON, a block-wise representation, a resource without
// Observe, many observable resources).
//
//   coap_test_server --port P [--bench N] [--interval MS] [--non]
//
// listens on 127.0.0.1:P (UDP), prints READY once it does, and serves:
//   /json           observable, application/json:
//                   {"sensor":{"temp":21.5,"ok":true,"count":42},"name":"lab","list":[1,2,3]}
//   /store/json     observable; GET returns what the last PUT stored (initially {"value":0});
//   /store/text     the same, initially "0"; PUT answers 2.04 Changed and notifies observers
//   /big            observable, a JSON document of about 4 KB whose "value" member comes last
//                   (block-wise transfer, Block2)
//   /plain          text "7", not observable (a registration is answered without Observe)
//   /bench/0 .. /bench/N-1   observable text counters; with --interval every one of them
//                   changes and notifies every MS milliseconds (non-confirmable notifications,
//                   every fifth confirmable as RFC 7641 4.5 asks; with --non never confirmable)
// Anything else is 4.04 Not Found. SIGTERM/SIGINT stop it.
#include <coap3/coap.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t quit = 0;

void on_signal(int) {
  quit = 1;
}

struct Stored {
  std::string body;
  uint16_t format = COAP_MEDIATYPE_TEXT_PLAIN;
  bool observable = true;
};

// Resource path -> its representation (the bench counters live here too).
std::map<std::string, Stored> store;

std::string path_of(coap_resource_t* resource) {
  coap_str_const_t* uri = coap_resource_get_uri_path(resource);
  return std::string(reinterpret_cast<const char*>(uri->s), uri->length);
}

void get(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
         const coap_string_t* query, coap_pdu_t* response) {
  auto it = store.find(path_of(resource));
  if (it == store.end()) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_NOT_FOUND);
    return;
  }
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
  const std::string& body = it->second.body;
  coap_add_data_large_response(resource, session, request, response, query, it->second.format, -1,
                               0, body.size(), reinterpret_cast<const uint8_t*>(body.data()),
                               nullptr, nullptr);
}

void put(coap_resource_t* resource, coap_session_t*, const coap_pdu_t* request,
         const coap_string_t*, coap_pdu_t* response) {
  size_t length = 0;
  const uint8_t* data = nullptr;
  size_t offset = 0;
  size_t total = 0;
  Stored& stored = store[path_of(resource)];
  if (coap_get_data_large(request, &length, &data, &offset, &total)) {
    stored.body.assign(reinterpret_cast<const char*>(data), length);
  } else {
    stored.body.clear();
  }
  coap_opt_iterator_t it;
  if (const coap_opt_t* opt = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &it)) {
    stored.format =
        static_cast<uint16_t>(coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt)));
  }
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
  coap_resource_notify_observers(resource, nullptr);
}

coap_resource_t* add(coap_context_t* context, const std::string& path, std::string body,
                     uint16_t format, bool observable, bool writable, int flags = 0) {
  store[path] = Stored{std::move(body), format, observable};
  coap_resource_t* r = coap_resource_init(
      coap_new_str_const(reinterpret_cast<const uint8_t*>(path.data()), path.size()),
      COAP_RESOURCE_FLAGS_RELEASE_URI | flags);
  coap_register_handler(r, COAP_REQUEST_GET, get);
  if (writable) coap_register_handler(r, COAP_REQUEST_PUT, put);
  if (observable) coap_resource_set_get_observable(r, 1);
  coap_add_resource(context, r);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int bench = 0;
  int interval_ms = 0;
  bool non_always = false;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--non") {
      non_always = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", argv[i]);
      return 1;
    }
    int value = std::atoi(argv[i + 1]);
    if (flag == "--port") {
      port = value;
    } else if (flag == "--bench") {
      bench = value;
    } else if (flag == "--interval") {
      interval_ms = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 1;
    }
  }
  if (port <= 0) {
    std::fprintf(stderr, "usage: %s --port P [--bench N] [--interval MS]\n", argv[0]);
    return 1;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  coap_startup();
  coap_set_log_level(LOG_WARNING);
  coap_context_t* context = coap_new_context(nullptr);
  coap_context_set_block_mode(context, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_address_t address;
  coap_address_init(&address);
  address.addr.sin.sin_family = AF_INET;
  address.addr.sin.sin_port = htons(static_cast<uint16_t>(port));
  address.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.size = sizeof(address.addr.sin);
  if (!coap_new_endpoint(context, &address, COAP_PROTO_UDP)) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port);
    return 2;
  }

  add(context, "json",
      R"({"sensor":{"temp":21.5,"ok":true,"count":42},"name":"lab","list":[1,2,3]})",
      COAP_MEDIATYPE_APPLICATION_JSON, true, false);
  add(context, "store/json", R"({"value":0})", COAP_MEDIATYPE_APPLICATION_JSON, true, true);
  add(context, "store/text", "0", COAP_MEDIATYPE_TEXT_PLAIN, true, true);
  std::string big = "{\"padding\":\"";
  big.append(4000, 'x');
  big += "\",\"value\":1234.5}";
  add(context, "big", big, COAP_MEDIATYPE_APPLICATION_JSON, true, false);
  add(context, "plain", "7", COAP_MEDIATYPE_TEXT_PLAIN, false, false);
  std::vector<coap_resource_t*> counters;
  for (int i = 0; i < bench; ++i) {
    counters.push_back(add(context, "bench/" + std::to_string(i), "0", COAP_MEDIATYPE_TEXT_PLAIN,
                           true, false, non_always ? COAP_RESOURCE_FLAGS_NOTIFY_NON_ALWAYS : 0));
  }
  std::printf("READY\n");
  std::fflush(stdout);

  // The counters change in groups spread over each interval (every 5 ms a group), as sensors
  // would: libcoap sends a notification as soon as its resource changes, and a burst of a
  // thousand datagrams at one instant overflows any receiver's socket buffer.
  using Clock = std::chrono::steady_clock;
  constexpr int kSliceMs = 5;
  const int slices = std::max(1, interval_ms / kSliceMs);
  const auto slice = std::chrono::microseconds(int64_t{interval_ms} * 1000 / slices);
  Clock::time_point next = Clock::now() + slice;
  int group = 0;
  std::vector<uint64_t> ticks(counters.size(), 0);
  while (!quit) {
    uint32_t wait = 200;
    if (interval_ms > 0 && !counters.empty()) {
      Clock::time_point now = Clock::now();
      if (now >= next) {
        for (size_t i = static_cast<size_t>(group); i < counters.size();
             i += static_cast<size_t>(slices)) {
          store["bench/" + std::to_string(i)].body = std::to_string(++ticks[i]);
          coap_resource_notify_observers(counters[i], nullptr);
        }
        group = (group + 1) % slices;
        next += slice;
        if (next < now) next = now + slice;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
      wait = static_cast<uint32_t>(std::max<int64_t>(1, std::min<int64_t>(left.count(), 200)));
    }
    coap_io_process(context, wait);
  }
  coap_free_context(context);
  coap_cleanup();
  return 0;
}
