#!/usr/bin/python3
"""Retained messages: set, replace, clear, retain flag on delivery, wildcards."""

import harness
from harness import BrokerTestCase


class RetainTest(BrokerTestCase):

    def _retained_for(self, filt, qos=1, expect=None):
        """Subscribe a fresh client to filt; return the retained messages it gets (waits for
        expect messages if given, else collects until 0.5 s of silence)."""
        c = self.raw()
        c.subscribe([(filt, qos)])
        got = []
        if expect is not None:
            for _ in range(expect):
                got.append(c.recv_publish())
            c.expect_nothing(0.3)
        else:
            while True:
                try:
                    got.append(c.recv_publish(timeout=0.5))
                except AssertionError:
                    break
        c.disconnect()
        return got

    def test_set_then_subscribe_gets_it_with_retain_flag(self):
        pub = self.raw()
        pub.publish("ret/a", b"21.5", qos=1, retain=True)
        got = self._retained_for("ret/a", expect=1)
        p = got[0]
        self.assertEqual((p.topic, p.payload, p.retain, p.qos), ("ret/a", b"21.5", True, 1))

    def test_replace(self):
        pub = self.raw()
        pub.publish("ret/r", b"old", qos=1, retain=True)
        pub.publish("ret/r", b"new", qos=1, retain=True)
        got = self._retained_for("ret/r", expect=1)
        self.assertEqual(got[0].payload, b"new")

    def test_clear_with_empty_payload(self):
        pub = self.raw()
        pub.publish("ret/c", b"something", qos=1, retain=True)
        self.assertEqual(len(self._retained_for("ret/c", expect=1)), 1)
        pub.publish("ret/c", b"", qos=1, retain=True)
        self.assertEqual(self._retained_for("ret/c", expect=0), [])

    def test_clearing_message_forwarded_to_existing_subscribers(self):
        sub = self.raw()
        sub.subscribe([("ret/cf", 1)])
        pub = self.raw()
        pub.publish("ret/cf", b"", qos=1, retain=True)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload, p.retain), ("ret/cf", b"", False))

    def test_live_messages_have_retain_0_for_existing_subscribers(self):
        sub = self.raw()
        sub.subscribe([("ret/live", 2)])
        pub = self.raw()
        for qos in (0, 1, 2):
            pub.publish("ret/live", b"v%d" % qos, qos=qos, retain=True)
            p = sub.recv_publish()
            self.assertEqual((p.payload, p.retain), (b"v%d" % qos, False))

    def test_retained_qos_is_min_of_stored_and_subscription(self):
        pub = self.raw()
        pub.publish("ret/q", b"x", qos=2, retain=True)
        for sq in (0, 1, 2):
            got = self._retained_for("ret/q", qos=sq, expect=1)
            self.assertEqual((got[0].qos, got[0].retain), (sq, True))
        pub.publish("ret/q0", b"y", qos=0, retain=True)
        got = self._retained_for("ret/q0", qos=2, expect=1)
        self.assertEqual((got[0].qos, got[0].payload), (0, b"y"))

    def test_wildcard_subscribe_gets_all_matching_retained(self):
        pub = self.raw()
        topics = {"rw/a": b"1", "rw/b": b"2", "rw/c/d": b"3", "rw": b"4", "other/a": b"5",
                  "$rw/a": b"6"}
        for t, v in topics.items():
            pub.publish(t, v, qos=1, retain=True)
        got = self._retained_for("rw/#", expect=4)
        self.assertEqual(sorted((p.topic, p.payload) for p in got),
                         [("rw", b"4"), ("rw/a", b"1"), ("rw/b", b"2"), ("rw/c/d", b"3")])
        self.assertTrue(all(p.retain for p in got))
        got = self._retained_for("rw/+", expect=2)
        self.assertEqual(sorted(p.topic for p in got), ["rw/a", "rw/b"])
        got = self._retained_for("+/a", expect=2)
        self.assertEqual(sorted(p.topic for p in got), ["other/a", "rw/a"])
        # '#' matches all but the $-topic
        got = self._retained_for("#", expect=5)
        self.assertNotIn("$rw/a", [p.topic for p in got])

    def test_resubscribe_resends_retained(self):
        pub = self.raw()
        pub.publish("ret/rs", b"again", qos=1, retain=True)
        sub = self.raw()
        sub.subscribe([("ret/rs", 1)])
        self.assertEqual(sub.recv_publish().payload, b"again")
        sub.subscribe([("ret/rs", 1)])
        p = sub.recv_publish()
        self.assertEqual((p.payload, p.retain), (b"again", True))

    def test_retained_survives_publisher_disconnect(self):
        pub = self.raw()
        pub.publish("ret/gone", b"stay", qos=0, retain=True)
        pub.disconnect()
        got = self._retained_for("ret/gone", expect=1)
        self.assertEqual(got[0].payload, b"stay")

    def test_mosquitto_clients_retained(self):
        self.mosquitto_pub("-t", "ret/cli", "-m", "on", "-r", "-q", "1")
        sub = self.mosquitto_sub("-t", "ret/cli", "-v")
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        self.assertIn("ret/cli on", out.splitlines())
        self.assertIn("r1", out, "mosquitto_sub -d shows the retain flag set")
        # clear it: a new subscriber gets nothing (-W 1 times out: exit code 27)
        self.mosquitto_pub("-t", "ret/cli", "-n", "-r", "-q", "1")
        c = self.raw()
        c.subscribe([("ret/cli", 1)])
        c.expect_nothing(0.5)


if __name__ == "__main__":
    harness.main()
