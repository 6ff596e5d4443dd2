// The CoAP adapter: observes and polls [[coap]] devices with libcoap 3 and writes commands back
// with PUT (SPEC.md, [[coap]]).
//
// One thread and one libcoap context serve every device, each device over its own client
// session (UDP, or DTLS with a pre-shared key for coaps://). libcoap reassembles block-wise
// (Block2) responses and splits large PUT bodies (Block1), so a point always sees whole
// representations.
//
// Points:
//   - mode = "observe": a GET with Observe 0 registers; each notification is a reading. The
//     observation lapses when no notification came for the representation's Max-Age (default
//     60 s, RFC 7252) plus 2 s: the server restarted, forgot us or a notification was lost. The
//     point then registers again with the same token (RFC 7641 re-registration). Notifications
//     older than the newest one seen (RFC 7641 3.4) are dropped. A server that answers the
//     registration without an Observe option does not support it for that resource: the point
//     is polled every poll_ms instead, with a warning.
//   - mode = "poll": a GET every poll_ms.
//   - an error response (4.04 Not Found, ...) makes the point bad with that code; the device
//     stays online, since it answered. An observe point registers again 5 s later.
//
// Failures: a request unanswered for timeout_ms (libcoap retransmits it meanwhile) marks every
// point of its device bad ("timeout: ...") and the device offline. It is then probed with one
// request at a time, back-off 0.5 s doubling to 10 s (a coaps:// device with a fresh DTLS
// session each time, since the server may have restarted); the first answer brings it online
// and every point is registered or polled again at once.
//
// Writes: PUT of the value in the point's format (payload.h), Content-Format text/plain or
// application/json; a 2.xx answer is followed by a GET whose value is published; any other
// answer is the error of the result ("4.04 Not Found"). A device known to be offline refuses
// writes at once.
#pragma once

#include <memory>
#include <vector>

#include "adapters/adapter.h"
#include "config/config.h"

namespace fieldgate::coap {

class Worker;

class CoapAdapter final : public adapters::Adapter {
 public:
  explicit CoapAdapter(std::vector<config::CoapDevice> devices);
  ~CoapAdapter() override;

  void start(adapters::ReadingSink& sink) override;
  void stop() override;
  // Checks the point and encodes the value at once (an invalid command never reaches the
  // device); the PUT and the read back happen on the adapter's thread.
  void write(std::string_view device, std::string_view point, const mapping::Value& value,
             std::function<void(const adapters::WriteResult&)> done) override;

 private:
  std::unique_ptr<Worker> worker_;
};

}  // namespace fieldgate::coap
