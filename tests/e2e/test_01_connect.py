#!/usr/bin/python3
"""CONNECT / CONNACK: protocol versions, client identifiers, takeover, session present."""

import unittest

import harness
import mqttraw as m
from harness import BrokerTestCase


class ConnectTest(BrokerTestCase):

    def test_311_accepted(self):
        c = self.raw(connect=False)
        ack = c.connect("c311", proto_name="MQTT", proto_level=4)
        self.assertEqual((ack.rc, ack.session_present), (0, 0))
        self.assertEqual(len(ack.body), 2, "CONNACK has a 2-byte variable header")
        c.ping()

    def test_31_accepted(self):
        c = self.raw(connect=False)
        ack = c.connect("c31", proto_name="MQIsdp", proto_level=3)
        self.assertEqual((ack.rc, ack.session_present), (0, 0))
        c.ping()
        c.subscribe([("v31/t", 1)])
        c.publish("v31/t", b"hello", qos=1)
        p = c.recv_publish()
        self.assertEqual((p.topic, p.payload, p.qos), ("v31/t", b"hello", 1))

    def test_unknown_protocol_level_connack_1_then_close(self):
        c = self.raw(connect=False)
        c.send(m.connect("badlevel", proto_name="MQTT", proto_level=6))
        got = c.wait_closed()
        self.assertEqual(len(got), 1, "exactly one CONNACK before close, got %r" % got)
        self.assertEqual(got[0].type, m.CONNACK)
        self.assertEqual(got[0].rc, 1, "unacceptable protocol version")
        self.assert_broker_works()

    def test_mqtt5_accepted(self):
        c = self.raw(connect=False)
        # CONNECT, MQTT level 5, clean start, keep-alive 60, no properties, client id "v5".
        body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x02v5"
        c.send(bytes([0x10, len(body)]) + body)
        p = c.recv()
        self.assertEqual(p.type, m.CONNACK)
        # v5 CONNACK: flags, reason code 0x00 (Success), then properties.
        self.assertEqual(p.body[:2], b"\x00\x00")

    def test_bad_protocol_name_closed(self):
        c = self.raw(connect=False)
        c.send(m.connect("badname", proto_name="MQTX", proto_level=4))
        got = c.wait_closed()
        self.assertFalse([p for p in got if p.type == m.CONNACK and p.rc == 0],
                         "a bad protocol name must not be accepted: %r" % got)
        self.assert_broker_works()

    def test_zero_length_id_clean_accepted_311(self):
        c = self.raw(connect=False)
        ack = c.connect("", clean=True)
        self.assertEqual((ack.rc, ack.session_present), (0, 0))
        c.subscribe([("zl/t", 1)])
        c.publish("zl/t", b"x", qos=1)
        self.assertEqual(c.recv_publish().payload, b"x")

    def test_two_zero_length_ids_are_distinct_clients(self):
        a = self.raw(connect=False)
        a.connect("")
        b = self.raw(connect=False)
        b.connect("")
        self.assertTrue(a.is_open(0.3), "second anonymous-id client must not take over the first")
        a.ping()
        b.ping()

    def test_zero_length_id_persistent_rejected_311(self):
        c = self.raw(connect=False)
        c.send(m.connect("", clean=False))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(m.CONNACK, 2)],
                         "identifier rejected, then close")

    def test_zero_length_id_rejected_31(self):
        c = self.raw(connect=False)
        c.send(m.connect31("", clean=True))
        got = c.wait_closed()
        self.assertEqual([(p.type, p.rc) for p in got], [(m.CONNACK, 2)],
                         "identifier rejected, then close")

    def test_second_connect_closes(self):
        c = self.raw("twice")
        c.send(m.connect("twice"))
        got = c.wait_closed()
        self.assertFalse([p for p in got if p.type == m.CONNACK],
                         "no CONNACK for a second CONNECT: %r" % got)
        self.assert_broker_works()

    def test_first_packet_not_connect_closes(self):
        for name, pkt in [("PINGREQ", m.pingreq()),
                          ("PUBLISH", m.publish("no/connect", b"x")),
                          ("SUBSCRIBE", m.subscribe(1, [("#", 0)]))]:
            with self.subTest(first=name):
                c = self.raw(connect=False)
                c.send(pkt)
                got = c.wait_closed()
                self.assertEqual(got, [], "nothing answered before close")
        self.assert_broker_works()

    def test_takeover_closes_first(self):
        first = self.raw("same-id")
        second = self.raw(connect=False)
        ack = second.connect("same-id")
        self.assertEqual(ack.rc, 0)
        first.wait_closed()
        second.ping()
        second.subscribe([("take/over", 0)])
        second.publish("take/over", b"1")
        self.assertEqual(second.recv_publish().payload, b"1")

    def test_takeover_of_persistent_session_keeps_it(self):
        first = self.raw("same-persist", clean=False)
        first.subscribe([("tp/t", 1)])
        second = self.raw(connect=False)
        ack = second.connect("same-persist", clean=False)
        self.assertEqual(ack.session_present, 1)
        first.wait_closed()
        pub = self.raw()
        pub.publish("tp/t", b"after-takeover", qos=1)
        self.assertEqual(second.recv_publish().payload, b"after-takeover")

    def test_session_present_flag(self):
        c = self.raw(connect=False)
        self.assertEqual(c.connect("sp", clean=True).session_present, 0, "clean session")
        c.disconnect()
        c = self.raw(connect=False)
        self.assertEqual(c.connect("sp", clean=False).session_present, 0,
                         "no stored session yet")
        c.subscribe([("sp/t", 1)])
        c.disconnect()
        c = self.raw(connect=False)
        self.assertEqual(c.connect("sp", clean=False).session_present, 1, "resumed session")
        c.disconnect()
        c = self.raw(connect=False)
        self.assertEqual(c.connect("sp", clean=True).session_present, 0,
                         "clean session after a persistent one")
        c.disconnect()
        c = self.raw(connect=False)
        self.assertEqual(c.connect("sp", clean=False).session_present, 0,
                         "clean session discarded the stored one")

    def test_session_present_31_always_zero_byte(self):
        # MQTT 3.1 has no session-present flag: the first CONNACK byte is reserved (0).
        c = self.raw(connect=False)
        c.connect("sp31", proto_name="MQIsdp", proto_level=3, clean=False)
        c.disconnect()
        c = self.raw(connect=False)
        ack = c.connect("sp31", proto_name="MQIsdp", proto_level=3, clean=False)
        self.assertEqual(ack.body[0], 0, "3.1 CONNACK first byte is reserved")

    def test_paho_311_and_31(self):
        for proto in ("311", "31"):
            with self.subTest(protocol=proto):
                sub = self.paho(protocol=proto)
                self.assertEqual(sub.subscribe("paho/%s" % proto, 1), (1,))
                pub = self.paho(protocol=proto)
                pub.publish("paho/%s" % proto, b"p" + proto.encode(), qos=1)
                self.assertEqual(sub.get(), ("paho/%s" % proto, b"p" + proto.encode(), 1, False))

    def test_mosquitto_clients_31_and_311(self):
        for version in ("mqttv31", "mqttv311"):
            with self.subTest(version=version):
                topic = "cli/" + version
                sub = self.mosquitto_sub("-V", version, "-t", topic, "-q", "1", "-v")
                self.mosquitto_pub("-V", version, "-t", topic, "-q", "1", "-m", "hi")
                rc, out, err = self.finish(sub)
                self.assertEqual(rc, 0, err)
                self.assertIn("%s hi" % topic, out.splitlines())


if __name__ == "__main__":
    harness.main()
