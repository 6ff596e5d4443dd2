#!/usr/bin/python3
"""Shared subscriptions $share/{group}/{filter}: each message goes to one member of each group,
spread evenly; ordinary subscribers still get every message; no retained messages on joining;
a member's unacknowledged messages go to another member when it leaves."""

import harness
import mqtt5raw as m5
from harness import BrokerTestCase


class Mqtt5SharedTest(m5.V5Mixin, BrokerTestCase):

    def _drain(self, c, timeout=0.5):
        got = []
        while True:
            try:
                got.append(c.recv_publish(timeout=timeout))
            except m5.mqttraw.Timeout:
                return got

    def test_each_message_to_one_member_spread_evenly(self):
        a, b = self.v5(), self.v5()
        for c in (a, b):
            self.assertEqual(c.subscribe([("$share/g1/sh/#", m5.options(1))]).codes, [1])
        everyone = self.v5()
        everyone.subscribe([("sh/#", m5.options(1))])
        pub = self.v5()
        for i in range(10):
            pub.publish("sh/t", b"%d" % i, qos=1)
        got_a = [p.payload for p in self._drain(a)]
        got_b = [p.payload for p in self._drain(b)]
        self.assertEqual(sorted(got_a + got_b), sorted(b"%d" % i for i in range(10)))
        self.assertEqual((len(got_a), len(got_b)), (5, 5))
        self.assertEqual(len(self._drain(everyone)), 10)

    def test_two_groups_each_get_every_message(self):
        g1, g2 = self.v5(), self.v5()
        g1.subscribe([("$share/one/two/t", m5.options(0))])
        g2.subscribe([("$share/two/two/t", m5.options(0))])
        pub = self.v5()
        for i in range(4):
            pub.publish("two/t", b"%d" % i, qos=1)
        self.assertEqual(len(self._drain(g1)), 4)
        self.assertEqual(len(self._drain(g2)), 4)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 sends retained messages to a new shared "
                                "subscription [MQTT 5, 4.8.2]")
    def test_no_retained_messages_on_joining(self):
        self.v5().publish("shr/t", b"kept", qos=1, retain=True)
        c = self.v5()
        c.subscribe([("$share/g/shr/t", m5.options(1))])
        c.expect_nothing(0.5)

    def test_unsubscribe_leaves_the_group(self):
        a, b = self.v5(), self.v5()
        for c in (a, b):
            c.subscribe([("$share/g/shu/t", m5.options(1))])
        self.assertEqual(a.unsubscribe(["$share/g/shu/t"]).codes, [0])
        pub = self.v5()
        for i in range(4):
            pub.publish("shu/t", b"%d" % i, qos=1)
        self.assertEqual(len(self._drain(b)), 4)
        a.expect_nothing(0.2)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 keeps a departed member's messages in its "
                                "session")
    def test_unacknowledged_messages_go_to_another_member(self):
        a = self.v5("sh-a", properties={"session_expiry": 60})
        a.subscribe([("$share/g/sho/t", m5.options(1))])
        b = self.v5("sh-b")
        b.subscribe([("$share/g/sho/t", m5.options(1))])
        pub = self.v5()
        for i in range(6):
            pub.publish("sho/t", b"%d" % i, qos=1)
        # a receives its share but does not acknowledge it, then goes away.
        unacked = []
        while True:
            try:
                unacked.append(a.recv_publish(timeout=0.5, ack=False).payload)
            except m5.mqttraw.Timeout:
                break
        self.assertEqual(len(unacked), 3)
        a.abort()
        got_b = [p.payload for p in self._drain(b, 1.0)]
        self.assertEqual(sorted(got_b), sorted(b"%d" % i for i in range(6)))

    def test_mqtt311_clients_may_share(self):
        a, b = self.raw(), self.raw()
        for c in (a, b):
            self.assertEqual(c.subscribe([("$share/old/sh311/t", 1)]), [1])
        pub = self.v5()
        for i in range(4):
            pub.publish("sh311/t", b"%d" % i, qos=1)
        got = []
        for c in (a, b):
            while True:
                try:
                    got.append(c.recv_publish(timeout=0.5).payload)
                except m5.mqttraw.Timeout:
                    break
        self.assertEqual(sorted(got), [b"0", b"1", b"2", b"3"])


if __name__ == "__main__":
    harness.main()
