#!/usr/bin/python3
"""CoAP devices end to end against libcoap's own coap-server-notls (shared/spec/SPEC.md,
"[[coap]]", "Topics and payloads"): fieldgate observes and polls its resources and publishes
them on e2e/{device}/{point}; commands on .../set become PUTs, read back with a GET.

- /time observed: a new value every second (notifications, not one GET), quality good;
- / (not observable) asked for with mode = "observe": polled instead, with a warning; mode =
  "poll" GETs every poll_ms; a missing resource is bad with "4.04 Not Found", device online;
- /example_data written with PUT and read back (published, and on the server); a refused or
  invalid command gives an error result;
- the server killed: points bad, availability offline; restarted on the same port: online,
  /time observed again (new notifications keep coming: re-registration);
- the server restarted between two notifications: the observation lapses after Max-Age and
  is renewed, the device never offline;
- the server frozen (SIGSTOP: no answer, no ICMP): "timeout" and offline within timeout_ms;
  thawed: online and good again.

fieldgate only (skipped on Mosquitto). Peer: coap-server-notls 4.3.1 (libcoap3-bin)."""

import time

import harness
from coap_peer import CoapTestCase, coap_device, coap_get, good

TIMEOUT_MS = 1000


class ObserveTest(CoapTestCase):
    def test_time_observed_and_root_polled(self):
        server = self.start_server()
        self.start_gateway(coap_device("srv", server, [
            dict(name="time", path="/time", type="string"),
            dict(name="root", path="/", mode="observe", type="string"),
            dict(name="polled", path="/example_data", mode="poll", poll_ms=300, type="string"),
            dict(name="missing", path="/no/such/resource", mode="poll", poll_ms=300,
                 type="float64"),
        ], timeout_ms=TIMEOUT_MS))
        self.wait_availability("srv", "online")
        # /time: Max-Age 1, a notification every second: three different values in < 5 s
        values = self.distinct_good_values("srv", "time", 3, timeout=6)
        for v in values:
            self.assertRegex(v, r"^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d$")
        p = self.wait_good("srv", "time")
        self.assert_fresh(p)
        # / has no Observe: polled instead, with a warning that says so
        root = self.wait_good("srv", "root")
        self.assertIn("libcoap", root["value"])
        harness.wait_for(lambda: "does not support Observe" in self.gateway_log(),
                         what="the fallback warning")
        self.assertIn("polling it every 1000 ms", self.gateway_log())  # the default poll_ms
        # poll mode
        self.wait_good("srv", "polled")
        missing = self.wait_bad("srv", "missing")
        self.assertEqual(missing["error"], "4.04 Not Found")
        self.assertIsNone(missing["value"])
        # the device answered: it stays online
        self.assertEqual(self.inbox.wait("e2e/availability/srv"), "online")
        self.assertEqual([m for m in self.inbox.on("e2e/availability/srv")
                          if m[2] == b"offline"], [])


class WriteTest(CoapTestCase):
    def test_put_then_read_back(self):
        server = self.start_server()
        self.start_gateway(coap_device("srv", server, [
            dict(name="data", path="/example_data", mode="poll", poll_ms=5000, type="string",
                 writable=True),
            dict(name="nowhere", path="/no/such/resource", mode="poll", poll_ms=5000,
                 type="string", writable=True),
            dict(name="time", path="/time", type="string"),
            dict(name="number", path="/example_data", mode="poll", poll_ms=5000, type="int64",
                 writable=True),
        ], timeout_ms=TIMEOUT_MS))
        self.wait_availability("srv", "online")
        since = time.monotonic()
        self.assertEqual(self.command("srv", "data", "hello fieldgate"), {"ok": True})
        # read back with a GET and published long before the next poll (5 s)
        self.wait_good("srv", "data", "hello fieldgate", timeout=2, since=since)
        self.assertEqual(coap_get(server.url + "/example_data"), "hello fieldgate")
        # JSON command form, an integer point
        self.assertEqual(self.command("srv", "number", '{"value": 42}'), {"ok": True})
        self.wait_good("srv", "number", 42, timeout=2)
        self.assertEqual(coap_get(server.url + "/example_data"), "42")
        # a fraction rounds to the nearest integer (halves away from zero), as for Modbus
        self.assertEqual(self.command("srv", "number", "-2.5"), {"ok": True})
        self.wait_good("srv", "number", -3, timeout=2)
        # text that is no number is refused before anything is sent
        r = self.command("srv", "number", "abc")
        self.assertFalse(r["ok"])
        self.assertIn("expected a number", r["error"])
        self.assertEqual(coap_get(server.url + "/example_data"), "-3")
        # not writable
        r = self.command("srv", "time", "x")
        self.assertFalse(r["ok"])
        self.assertIn("not writable", r["error"])
        # the server refuses: its response code is the error
        r = self.command("srv", "nowhere", "x")
        self.assertFalse(r["ok"])
        self.assertRegex(r["error"], r"^4\.\d\d ")


class FailureTest(CoapTestCase):
    def test_server_killed_and_restarted(self):
        server = self.start_server()
        self.start_gateway(coap_device("srv", server, [
            dict(name="time", path="/time", type="string"),
            dict(name="data", path="/example_data", mode="poll", poll_ms=300, type="string"),
        ], timeout_ms=TIMEOUT_MS))
        self.wait_availability("srv", "online")
        self.distinct_good_values("srv", "time", 2, timeout=4)
        killed = time.monotonic()
        server.kill()
        # within a poll period and timeout_ms (+ slack): bad with a reason, offline
        p = self.wait_bad("srv", "data", timeout=4, since=killed)
        self.assertTrue(p["error"], p)
        self.assertIsNone(p["value"])
        self.wait_availability("srv", "offline", timeout=4, since=killed)
        self.wait_bad("srv", "time", timeout=4, since=killed)
        time.sleep(1.0)
        restarted = time.monotonic()
        server.start()  # same port
        self.wait_availability("srv", "online", timeout=15, since=restarted)
        # re-registered: notifications keep coming from the new server
        self.distinct_good_values("srv", "time", 3, timeout=8, since=restarted)
        self.wait_good("srv", "data", since=restarted)

    def test_observation_lapses_and_is_renewed(self):
        """The server restarts between two notifications: no request goes unanswered, the
        new server just knows no observer. Max-Age (1 s) + 2 s after the last notification the
        point registers again, without the device ever going offline."""
        server = self.start_server()
        self.start_gateway(coap_device("srv", server, [
            dict(name="time", path="/time", type="string"),
        ], timeout_ms=TIMEOUT_MS))
        self.wait_availability("srv", "online")
        self.distinct_good_values("srv", "time", 2, timeout=4)
        server.kill()
        server.start()  # same port, at once
        restarted = time.monotonic()
        self.distinct_good_values("srv", "time", 3, timeout=10, since=restarted)
        self.assertEqual([m for m in self.inbox.on("e2e/availability/srv")
                          if m[2] == b"offline"], [])

    def test_server_not_answering(self):
        server = self.start_server()
        self.start_gateway(coap_device("srv", server, [
            dict(name="time", path="/time", type="string"),
            dict(name="data", path="/example_data", mode="poll", poll_ms=200, type="string"),
        ], timeout_ms=TIMEOUT_MS))
        self.wait_availability("srv", "online")
        self.wait_good("srv", "data")
        frozen = time.monotonic()
        server.freeze()
        p = self.wait_bad("srv", "data", timeout=3, since=frozen)
        self.assertIn("timeout", p["error"])
        self.assertIn("1000 ms", p["error"])
        self.wait_availability("srv", "offline", timeout=3, since=frozen)
        self.assertLess(time.monotonic() - frozen, TIMEOUT_MS / 1000.0 + 1.5)
        # a command to an offline device fails at once, saying why
        r = self.command("srv", "time", "x")
        self.assertFalse(r["ok"])
        time.sleep(2.0)  # a few probes with back-off
        thawed = time.monotonic()
        server.thaw()
        self.wait_availability("srv", "online", timeout=10, since=thawed)
        self.wait_good("srv", "data", since=thawed)
        self.distinct_good_values("srv", "time", 2, timeout=6, since=thawed)
        self.assertIn("does not answer", self.gateway_log())


if __name__ == "__main__":
    harness.main()
