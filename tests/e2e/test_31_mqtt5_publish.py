#!/usr/bin/python3
"""MQTT 5 PUBLISH: properties passed through to subscribers (and dropped for MQTT 3.1.1 ones),
payload format indicator checks, message expiry in queues with the remaining interval
forwarded, topic aliases in both directions, and PUBACK / PUBREC reason codes (no matching
subscribers, not authorized)."""

import time

import harness
import mqtt5raw as m5
from harness import BrokerTestCase

ALL = {
    "payload_format": 1,
    "content_type": "text/plain",
    "response_topic": "reply/here",
    "correlation_data": b"\x00\x01corr",
    "user": [("k1", "v1"), ("k2", "v2"), ("k1", "again")],
}


class Mqtt5PublishTest(m5.V5Mixin, BrokerTestCase):

    def test_properties_reach_mqtt5_subscribers(self):
        for qos in (0, 1, 2):
            with self.subTest(qos=qos):
                topic = "props/q%d" % qos
                sub = self.v5()
                sub.subscribe([(topic, m5.options(qos))])
                self.v5().publish(topic, b"hello", qos=qos, properties=ALL)
                p = sub.recv_publish()
                self.assertEqual((p.topic, p.payload, p.qos), (topic, b"hello", qos))
                for name, value in ALL.items():
                    self.assertEqual(p.props.get(name), value, name)

    def test_mqtt311_subscribers_get_topic_and_payload(self):
        old = self.raw()
        old.subscribe([("props/old", 1)])
        self.v5().publish("props/old", b"bare", qos=1, properties=ALL)
        p = old.recv_publish()
        self.assertEqual((p.topic, p.payload), ("props/old", b"bare"))

    def test_mqtt311_publish_reaches_mqtt5_without_properties(self):
        sub = self.v5()
        sub.subscribe([("props/from311", m5.options(1))])
        self.raw().publish("props/from311", b"x", qos=1)
        p = sub.recv_publish()
        self.assertEqual(p.payload, b"x")
        self.assertEqual(p.props, {})

    def test_mosquitto_clients_pass_properties(self):
        sub = self.mosquitto_sub("-V", "mqttv5", "-t", "props/cli", "-F", "%t|%p|%P|%C|%R|%E")
        self.mosquitto_pub("-V", "mqttv5", "-t", "props/cli", "-m", "hi", "-q", "1",
                           "-D", "publish", "user-property", "k", "v",
                           "-D", "publish", "content-type", "text/x",
                           "-D", "publish", "response-topic", "r/t",
                           "-D", "publish", "message-expiry-interval", "30")
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        line = [l for l in out.splitlines() if l.startswith("props/cli|")]
        self.assertEqual(line, ["props/cli|hi|k:v|text/x|r/t|30"], out)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 does not check payloads that say they are "
                                "UTF-8")
    def test_payload_format_invalid_refused(self):
        sub = self.v5()
        sub.subscribe([("pfi/#", m5.options(1))])
        c = self.v5()
        ack = c.publish("pfi/bad", b"\xff\xfe", qos=1, properties={"payload_format": 1})
        self.assertEqual(ack.rc, 0x99)
        ack = c.publish("pfi/bad", b"\xff\xfe", qos=2, properties={"payload_format": 1})
        self.assertEqual(ack.rc, 0x99)
        c.publish("pfi/good", "grüße".encode(), qos=1, properties={"payload_format": 1})
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.props.get("payload_format")), ("pfi/good", 1))
        sub.expect_nothing(0.3)

    def test_message_expires_in_the_queue(self):
        s = self.v5("exp-sub", properties={"session_expiry": 60})
        s.subscribe([("exp/t", m5.options(1))])
        s.disconnect()
        pub = self.v5()
        pub.publish("exp/t", b"short", qos=1, properties={"message_expiry": 1})
        pub.publish("exp/t", b"long", qos=1, properties={"message_expiry": 60})
        time.sleep(2.2)
        s = self.v5("exp-sub", clean=False, properties={"session_expiry": 60})
        p = s.recv_publish()
        self.assertEqual(p.payload, b"long")
        # The remaining interval is forwarded: about two seconds have gone.
        self.assertLessEqual(p.props.get("message_expiry"), 58)
        self.assertGreaterEqual(p.props.get("message_expiry"), 55)
        s.expect_nothing(0.3)

    def test_retained_message_expires(self):
        pub = self.v5()
        pub.publish("exp/retained", b"r", qos=1, retain=True, properties={"message_expiry": 1})
        s = self.v5()
        s.subscribe([("exp/retained", m5.options(1))])
        self.assertEqual(s.recv_publish().payload, b"r")
        time.sleep(2.2)
        s2 = self.v5()
        s2.subscribe([("exp/retained", m5.options(1))])
        s2.expect_nothing(0.5)

    def test_topic_alias_from_the_client(self):
        sub = self.v5()
        sub.subscribe([("alias/#", m5.options(1))])
        c = self.v5()
        c.publish("alias/one", b"1", qos=1, properties={"topic_alias": 1})
        c.publish("", b"2", qos=1, properties={"topic_alias": 1})
        c.publish("alias/two", b"3", qos=1, properties={"topic_alias": 1})  # re-mapped
        c.publish("", b"4", qos=0, properties={"topic_alias": 1})
        got = [(p.topic, p.payload) for p in (sub.recv_publish() for _ in range(4))]
        self.assertEqual(got, [("alias/one", b"1"), ("alias/one", b"2"), ("alias/two", b"3"),
                               ("alias/two", b"4")])

    def test_topic_alias_above_the_maximum_is_refused_0x94(self):
        c = self.v5()
        maximum = c.connack.props.get("topic_alias_maximum", 0)
        c.send(m5.publish("alias/x", b"", properties={"topic_alias": maximum + 1}))
        c.expect_disconnect(0x94)
        self.assert_broker_works()

    def test_unknown_topic_alias_is_a_protocol_error(self):
        c = self.v5()
        c.send(m5.publish("", b"", properties={"topic_alias": 2}))
        c.expect_disconnect(0x82)

    @harness.xfail_on_mosquitto("Mosquitto 2.0 does not use topic aliases towards clients "
                                "(the specification allows that)")
    def test_topic_aliases_towards_the_client(self):
        sub = self.v5(properties={"topic_alias_maximum": 2})
        sub.subscribe([("out/#", m5.options(0))])
        pub = self.v5()
        for topic in ("out/a", "out/a", "out/b", "out/c", "out/c"):
            pub.publish(topic, topic.encode(), qos=1)
        got = [sub.recv_publish() for _ in range(5)]
        # Two aliases at most: out/a and out/b get one; out/c goes by name each time.
        self.assertEqual([p.payload for p in got],
                         [b"out/a", b"out/a", b"out/b", b"out/c", b"out/c"])
        self.assertEqual(got[0].topic, "out/a")
        alias = got[0].props.get("topic_alias")
        self.assertIn(alias, (1, 2))
        self.assertEqual((got[1].topic, got[1].props.get("topic_alias")), ("", alias))
        self.assertEqual(got[3].topic, "out/c")
        self.assertEqual(got[4].topic, "out/c")
        for p in got:
            self.assertLessEqual(p.props.get("topic_alias", 0), 2)

    def test_no_topic_alias_unless_the_client_allows(self):
        sub = self.v5()
        sub.subscribe([("noalias/#", m5.options(0))])
        pub = self.v5()
        for _ in range(3):
            pub.publish("noalias/t", b"x", qos=1)
        for _ in range(3):
            p = sub.recv_publish()
            self.assertEqual(p.topic, "noalias/t")
            self.assertNotIn("topic_alias", p.props)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 answers 0x00 when no one subscribes")
    def test_puback_no_matching_subscribers(self):
        c = self.v5()
        self.assertEqual(c.publish("nobody/listens", b"x", qos=1).rc, 0x10)
        self.assertEqual(c.publish("nobody/listens", b"x", qos=2).rc, 0x10)
        sub = self.v5()
        sub.subscribe([("somebody/listens", m5.options(0))])
        self.assertEqual(c.publish("somebody/listens", b"x", qos=1).rc, 0x00)

    @harness.broker_options(acl_file="topic readwrite open/#\n")
    def test_puback_not_authorized_when_the_acl_denies(self):
        sub = self.v5()
        sub.subscribe([("open/#", m5.options(1))])
        c = self.v5()
        self.assertEqual(c.publish("closed/t", b"x", qos=1).rc, 0x87)
        self.assertEqual(c.publish("closed/t", b"x", qos=2).rc, 0x87)
        self.assertEqual(c.publish("open/t", b"y", qos=1).rc, 0x00)
        self.assertEqual(sub.recv_publish().payload, b"y")
        # MQTT 3.1.1 keeps its silent acknowledgement.
        self.raw().publish("closed/t", b"z", qos=1)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 accepts a subscription identifier from a "
                                "client [MQTT-3.3.4-6]")
    def test_client_may_not_send_subscription_identifiers(self):
        c = self.v5()
        c.send(m5.publish("sid/t", b"x", properties={"subscription_id": [3]}))
        got = c.wait_closed()
        for p in got:
            if p.type == m5.DISCONNECT:
                self.assertEqual(p.rc, 0x82)


if __name__ == "__main__":
    harness.main()
