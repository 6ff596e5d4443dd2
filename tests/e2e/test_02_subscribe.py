#!/usr/bin/python3
"""SUBSCRIBE / UNSUBSCRIBE: wildcards, $-topics, granted QoS, unsubscribe."""

import time

import harness
import mqttraw as m
from harness import BrokerTestCase


class SubscribeTest(BrokerTestCase):

    def _matches(self, filt, publish_topics):
        """Subscribe to filt, publish each topic (QoS 1, payload = topic) from another client,
        then a sentinel; return the topics the subscriber got before the sentinel."""
        sub = self.raw()
        self.assertEqual(sub.subscribe([(filt, 1), ("sentinel/end", 1)]), [1, 1])
        pub = self.raw()
        for t in publish_topics:
            pub.publish(t, t.encode(), qos=1)
        pub.publish("sentinel/end", b"", qos=1)
        got = []
        while True:
            p = sub.recv_publish()
            if p.topic == "sentinel/end":
                break
            self.assertEqual(p.payload, p.topic.encode())
            got.append(p.topic)
        sub.disconnect()
        pub.disconnect()
        return got

    def test_plus_wildcard(self):
        got = self._matches("a/+/c", ["a/b/c", "a/b/d", "a/b/c/d", "a//c", "a/c", "x/b/c",
                                      "a/bb/c"])
        self.assertEqual(got, ["a/b/c", "a//c", "a/bb/c"])

    def test_plus_alone_and_leading(self):
        self.assertEqual(self._matches("+", ["a", "a/b", "/a", "b"]), ["a", "b"])
        self.assertEqual(self._matches("+/+", ["a", "a/b", "/a", "a/b/c"]), ["a/b", "/a"])

    def test_hash_wildcard(self):
        got = self._matches("h/#", ["h", "h/1", "h/1/2/3", "hx", "x/h/1", "h/"])
        self.assertEqual(got, ["h", "h/1", "h/1/2/3", "h/"], "# also matches the parent level")

    def test_hash_alone_matches_everything_but_dollar_topics(self):
        got = self._matches("#", ["a", "a/b", "/x", "$app/x", "$SYS/fake", "x/$y"])
        self.assertEqual(got, ["a", "a/b", "/x", "x/$y"])

    def test_leading_plus_does_not_match_dollar_topics(self):
        got = self._matches("+/x", ["$app/x", "app/x"])
        self.assertEqual(got, ["app/x"])

    def test_dollar_filter_matches_dollar_topics(self):
        got = self._matches("$app/#", ["$app/x", "$app/x/y", "app/x"])
        self.assertEqual(got, ["$app/x", "$app/x/y"])

    def test_sys_hash_vs_hash(self):
        all_ = self.raw()
        all_.subscribe([("#", 0)])
        sys_ = self.raw()
        sys_.subscribe([("$SYS/#", 0)])
        p = sys_.recv_publish(timeout=4)
        self.assertTrue(p.topic.startswith("$SYS/"), p.topic)
        # sys_interval is 1 s: within 2.5 s "#" would have seen $SYS traffic if it matched it.
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                q = all_.recv(timeout=max(0.01, deadline - time.monotonic()))
            except m.Timeout:
                break
            self.assertFalse(q.type == m.PUBLISH and q.topic.startswith("$"),
                             "'#' must not match %s" % getattr(q, "topic", q))

    def test_suback_granted_qos(self):
        c = self.raw()
        self.assertEqual(c.subscribe([("g/0", 0), ("g/1", 1), ("g/2", 2)]), [0, 1, 2])
        self.assertEqual(c.subscribe([("g/x", 2)]), [2])
        self.assertEqual(c.subscribe([("g/#", 1), ("+/+", 0)]), [1, 0])

    def test_suback_packet_id_echoed(self):
        c = self.raw()
        for pid in (1, 0x1234, 65535):
            c.send(m.subscribe(pid, [("pid/t", 1)]))
            ack = c.expect(m.SUBACK)
            self.assertEqual((ack.pid, ack.codes), (pid, [1]))

    def test_resubscribe_replaces_qos(self):
        sub = self.raw()
        self.assertEqual(sub.subscribe([("rs/t", 0)]), [0])
        self.assertEqual(sub.subscribe([("rs/t", 2)]), [2])
        pub = self.raw()
        pub.publish("rs/t", b"once", qos=2)
        p = sub.recv_publish()
        self.assertEqual((p.payload, p.qos), (b"once", 2))
        sub.expect_nothing(0.5)

    def test_unsubscribe_stops_delivery(self):
        sub = self.raw()
        sub.subscribe([("u/a", 1), ("u/b", 1)])
        pub = self.raw()
        pub.publish("u/a", b"1", qos=1)
        self.assertEqual(sub.recv_publish().payload, b"1")
        sub.unsubscribe(["u/a"])
        pub.publish("u/a", b"2", qos=1)
        pub.publish("u/b", b"3", qos=1)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload), ("u/b", b"3"), "u/a was unsubscribed")
        sub.expect_nothing(0.3)

    def test_unsubscribe_wildcard_filter_exactly(self):
        sub = self.raw()
        sub.subscribe([("w/#", 1), ("w/+", 1)])
        sub.unsubscribe(["w/#"])
        pub = self.raw()
        pub.publish("w/x", b"1", qos=1)
        pub.publish("w/x/y", b"2", qos=1)
        pub.publish("w/z", b"3", qos=1)
        got = [sub.recv_publish().payload for _ in range(2)]
        self.assertEqual(got, [b"1", b"3"], "w/+ still active, w/# gone")
        sub.expect_nothing(0.3)

    def test_unsuback_for_unknown_filter(self):
        c = self.raw()
        c.send(m.unsubscribe(77, ["never/subscribed"]))
        ack = c.expect(m.UNSUBACK)
        self.assertEqual(ack.pid, 77)
        self.assertEqual(len(ack.body), 2)
        c.ping()

    def test_unsubscribe_several_filters(self):
        c = self.raw()
        c.subscribe([("m/1", 0), ("m/2", 0), ("m/3", 0)])
        c.unsubscribe(["m/1", "m/2", "not/there"])
        c.publish("m/1", b"a")
        c.publish("m/2", b"b")
        c.publish("m/3", b"c")
        p = c.recv_publish()
        self.assertEqual(p.topic, "m/3")
        c.expect_nothing(0.3)

    def test_invalid_filter_rejected_or_closed(self):
        # 3.1.1 leaves the choice: SUBACK 0x80 for that filter, or close the connection.
        for bad in ("a/#/b", "a+", "a/b#", "#/a"):
            with self.subTest(filter=bad):
                c = self.raw()
                c.send(m.subscribe(5, [(bad, 1)]))
                try:
                    p = c.recv()
                except m.Closed:
                    continue
                self.assertEqual(p.type, m.SUBACK, p)
                self.assertEqual(p.codes, [0x80])
        self.assert_broker_works()

    def test_mosquitto_sub_wildcards(self):
        sub = self.mosquitto_sub("-t", "ms/+/temp", "-t", "ms/hall/#", "-v", count=3)
        for t, v in [("ms/kitchen/temp", "21"), ("ms/kitchen/hum", "40"),
                     ("ms/hall/light/1", "on"), ("ms/cellar/temp", "12")]:
            self.mosquitto_pub("-t", t, "-m", v, "-q", "1")
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        lines = [ln for ln in out.splitlines() if ln.startswith("ms/")]
        self.assertEqual(lines, ["ms/kitchen/temp 21", "ms/hall/light/1 on",
                                 "ms/cellar/temp 12"])


if __name__ == "__main__":
    harness.main()
