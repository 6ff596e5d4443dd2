#!/usr/bin/python3
"""MQTT 5 subscription options (no local, retain as published, retain handling 0/1/2),
subscription identifiers, and SUBACK / UNSUBACK reason codes."""

import harness
import mqtt5raw as m5
from harness import BrokerTestCase


class Mqtt5SubscribeTest(m5.V5Mixin, BrokerTestCase):

    def test_no_local(self):
        c = self.v5()
        c.subscribe([("nl/t", m5.options(1, no_local=True))])
        other = self.v5()
        other.subscribe([("nl/t", m5.options(1))])
        c.publish("nl/t", b"mine", qos=1)
        self.assertEqual(other.recv_publish().payload, b"mine")
        c.expect_nothing(0.5)
        other.publish("nl/t", b"theirs", qos=1)
        self.assertEqual(c.recv_publish().payload, b"theirs")

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 accepts no local on a shared subscription "
                                "[MQTT-3.8.3-4]")
    def test_no_local_on_a_shared_subscription_is_a_protocol_error(self):
        c = self.v5()
        c.send(m5.subscribe(1, [("$share/g/nl", m5.options(0, no_local=True))]))
        got = c.wait_closed()
        for p in got:
            if p.type == m5.DISCONNECT:
                self.assertEqual(p.rc, 0x82)

    def test_retain_as_published(self):
        rap = self.v5()
        rap.subscribe([("rap/t", m5.options(1, rap=True))])
        plain = self.v5()
        plain.subscribe([("rap/t", m5.options(1))])
        self.v5().publish("rap/t", b"kept", qos=1, retain=True)
        self.assertTrue(rap.recv_publish().retain)
        self.assertFalse(plain.recv_publish().retain)

    def _retained(self, topic):
        self.v5().publish(topic, b"retained", qos=1, retain=True)

    def test_retain_handling_0_sends_on_every_subscribe(self):
        self._retained("rh0/t")
        c = self.v5()
        for _ in range(2):
            c.subscribe([("rh0/t", m5.options(1, rh=0))])
            p = c.recv_publish()
            self.assertEqual((p.payload, p.retain), (b"retained", True))

    def test_retain_handling_1_sends_only_for_a_new_subscription(self):
        self._retained("rh1/t")
        c = self.v5()
        c.subscribe([("rh1/t", m5.options(1, rh=1))])
        self.assertEqual(c.recv_publish().payload, b"retained")
        c.subscribe([("rh1/t", m5.options(1, rh=1))])
        c.expect_nothing(0.5)

    def test_retain_handling_2_never_sends(self):
        self._retained("rh2/t")
        c = self.v5()
        c.subscribe([("rh2/t", m5.options(1, rh=2))])
        c.expect_nothing(0.5)
        self.v5().publish("rh2/t", b"live", qos=1)
        self.assertEqual(c.recv_publish().payload, b"live")

    def test_subscription_identifiers(self):
        c = self.v5()
        c.subscribe([("sid/#", m5.options(1))], properties={"subscription_id": [5]})
        c.subscribe([("sid/+/x", m5.options(1))], properties={"subscription_id": [300000]})
        c.subscribe([("sid/a/#", m5.options(1))])  # none
        pub = self.v5()
        pub.publish("sid/a/x", b"both", qos=1)
        # One copy with every identifier, or one copy per subscription: the specification
        # allows both [MQTT-3.3.4-3, -4, -5].
        ids = []
        while True:
            try:
                ids += c.recv_publish(timeout=0.5).props.get("subscription_id", [])
            except m5.mqttraw.Timeout:
                break
        self.assertEqual(sorted(ids), [5, 300000])
        pub.publish("sid/b", b"one", qos=1)
        self.assertEqual(c.recv_publish().props.get("subscription_id"), [5])
        # A retained message sent on subscribe carries the new subscription's identifier.
        pub.publish("sid/r", b"r", qos=1, retain=True)
        self.assertEqual(c.recv_publish().props.get("subscription_id"), [5])
        d = self.v5()
        d.subscribe([("sid/r", m5.options(1))], properties={"subscription_id": [9]})
        self.assertEqual(d.recv_publish().props.get("subscription_id"), [9])

    def test_suback_reason_codes(self):
        c = self.v5()
        ack = c.subscribe([("q/0", m5.options(0)), ("q/1", m5.options(1)),
                           ("q/2", m5.options(2))])
        self.assertEqual(ack.codes, [0, 1, 2])

    @harness.broker_options(acl_file="topic read allowed/#\n")
    @harness.xfail_on_mosquitto("Mosquitto grants a subscription the ACL denies and filters "
                                "on delivery; fieldgate refuses it (SPEC.md)")
    def test_suback_not_authorized_0x87(self):
        c = self.v5()
        ack = c.subscribe([("allowed/t", m5.options(1)), ("denied/t", m5.options(1))])
        self.assertEqual(ack.codes, [1, 0x87])
        # MQTT 3.1.1 keeps 0x80.
        self.assertEqual(self.raw().subscribe([("denied/t", 1)]), [0x80])

    def test_invalid_filter_closes_with_a_reason(self):
        c = self.v5()
        c.send(m5.subscribe(1, [("bad/#/filter", m5.options(0))]))
        got = c.wait_closed()
        for p in got:
            if p.type == m5.DISCONNECT:
                self.assertIn(p.rc, (0x81, 0x82, 0x8F))
            if p.type == m5.SUBACK:
                self.assertEqual(p.codes, [0x8F])
        self.assert_broker_works()

    def test_unsuback_reason_codes(self):
        c = self.v5()
        c.subscribe([("un/a", m5.options(0))])
        ack = c.unsubscribe(["un/a", "un/never"])
        self.assertEqual(ack.codes, [0x00, 0x11])

    def test_mosquitto_sub_v5(self):
        sub = self.mosquitto_sub("-V", "mqttv5", "-t", "cli/sub", "-q", "1",
                                 "-F", "%t %p %P")
        self.v5().publish("cli/sub", b"hello", qos=1, properties={"user": [("a", "b")]})
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        self.assertIn("cli/sub hello a:b", out)


if __name__ == "__main__":
    harness.main()
