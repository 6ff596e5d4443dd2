#!/usr/bin/python3
"""$SYS/broker/... statistics, as Mosquitto publishes them, every sys_interval_s (1 s here)."""

import re
import time

import harness
import mqttraw as m
from harness import BrokerTestCase

REQUIRED = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/disconnected",
    "$SYS/broker/clients/total",
    "$SYS/broker/clients/maximum",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/publish/messages/received",
    "$SYS/broker/publish/messages/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
]

LOAD = ["$SYS/broker/load/%s/%s" % (what, span)
        for what in ("messages/received", "messages/sent", "bytes/received", "bytes/sent",
                     "publish/received", "publish/sent", "connections", "sockets")
        for span in ("1min", "5min", "15min")]

NUMERIC = re.compile(rb"^\d+(\.\d+)?$")


class SysTest(BrokerTestCase):

    def _watch(self, filt="$SYS/#"):
        w = self.raw()
        w.subscribe([(filt, 0)])
        return w

    def _wait_value(self, w, topic, pred, timeout=5.0):
        """Read w until topic carries a payload for which pred(payload) holds; returns it."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                p = w.recv(timeout=max(0.01, deadline - time.monotonic()))
            except m.Timeout:
                break
            if p.type == m.PUBLISH and p.topic == topic:
                seen.append(p.payload)
                if pred(p.payload):
                    return p.payload
        raise AssertionError("%s: no matching value within %.0f s; saw %r"
                             % (topic, timeout, seen[-5:]))

    def _latest(self, w, topic, window=2.5):
        """The last value of topic seen during window seconds (sys_interval is 1 s, but
        Mosquitto updates about every 2 s, and publishes a value only when it changed, so this
        is the current one)."""
        return self._latest_many(w, [topic], window)[topic]

    def _latest_many(self, w, topics, window=2.5):
        deadline = time.monotonic() + window
        last = {}
        while time.monotonic() < deadline:
            try:
                p = w.recv(timeout=max(0.01, deadline - time.monotonic()))
            except m.Timeout:
                break
            if p.type == m.PUBLISH and p.topic in topics:
                last[p.topic] = p.payload
        for t in topics:
            self.assertIn(t, last, "%s not published within %.1f s" % (t, window))
        return last

    def test_required_topics_appear(self):
        self._topics_appear(REQUIRED)

    def test_load_averages_appear(self):
        self._topics_appear(LOAD)

    def _topics_appear(self, required):
        w = self._watch()
        missing = set(required)
        payloads = {}
        deadline = time.monotonic() + 4.0
        while missing and time.monotonic() < deadline:
            try:
                p = w.recv(timeout=max(0.01, deadline - time.monotonic()))
            except m.Timeout:
                break
            if p.type == m.PUBLISH:
                missing.discard(p.topic)
                payloads[p.topic] = p.payload
        self.assertEqual(sorted(missing), [], "missing $SYS topics")
        for t in required:
            if t in ("$SYS/broker/version", "$SYS/broker/uptime"):
                continue
            self.assertRegex(payloads[t], NUMERIC, t)

    def test_version(self):
        w = self._watch("$SYS/broker/version")
        p = w.recv_publish(timeout=3)
        self.assertTrue(p.retain, "version is retained")
        self.assertTrue(p.payload.strip(), "non-empty version")
        if harness.TARGET == "fieldgate":
            self.assertIn(b"fieldgate", p.payload.lower())

    def test_uptime_counts_seconds(self):
        w = self._watch("$SYS/broker/uptime")
        first = w.recv_publish(timeout=3).payload
        self.assertRegex(first, rb"^\d+ seconds$")
        n0 = int(first.split()[0])
        later = self._wait_value(w, "$SYS/broker/uptime",
                                 lambda v: int(v.split()[0]) >= n0 + 1, timeout=4)
        self.assertRegex(later, rb"^\d+ seconds$")

    def test_clients_connected_follows_connections(self):
        w = self._watch("$SYS/broker/clients/connected")
        base = int(self._latest(w, "$SYS/broker/clients/connected"))
        extra = [self.raw() for _ in range(3)]
        self._wait_value(w, "$SYS/broker/clients/connected", lambda v: int(v) == base + 3)
        for c in extra[:2]:
            c.disconnect()
        self._wait_value(w, "$SYS/broker/clients/connected", lambda v: int(v) == base + 1)

    def test_messages_received_and_sent_grow(self):
        w = self._watch("$SYS/broker/messages/#")
        v = self._latest_many(w, ["$SYS/broker/messages/received",
                                  "$SYS/broker/messages/sent"])
        recv0 = int(v["$SYS/broker/messages/received"])
        sent0 = int(v["$SYS/broker/messages/sent"])
        sub = self.raw()
        sub.subscribe([("stats/t", 1)])
        pub = self.raw()
        for i in range(10):
            pub.publish("stats/t", b"%d" % i, qos=1)
            sub.recv_publish()
        self._wait_value(w, "$SYS/broker/messages/received", lambda v: int(v) >= recv0 + 10)
        self._wait_value(w, "$SYS/broker/messages/sent", lambda v: int(v) >= sent0 + 10)

    def test_subscription_and_retained_counts(self):
        w = self._watch("$SYS/broker/#")
        v = self._latest_many(w, ["$SYS/broker/subscriptions/count",
                                  "$SYS/broker/retained messages/count"])
        subs0 = int(v["$SYS/broker/subscriptions/count"])
        ret0 = int(v["$SYS/broker/retained messages/count"])
        c = self.raw()
        c.subscribe([("cnt/a", 0), ("cnt/b", 1), ("cnt/+", 2)])
        c.publish("cnt/r1", b"x", qos=1, retain=True)
        c.publish("cnt/r2", b"y", qos=1, retain=True)
        self._wait_value(w, "$SYS/broker/subscriptions/count", lambda v: int(v) >= subs0 + 3)
        self._wait_value(w, "$SYS/broker/retained messages/count",
                         lambda v: int(v) >= ret0 + 2)

    def test_hash_subscriber_sees_no_sys(self):
        c = self.raw()
        c.subscribe([("#", 0)])
        c.expect_nothing(2.2)


if __name__ == "__main__":
    harness.main()
