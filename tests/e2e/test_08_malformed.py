#!/usr/bin/python3
"""Malformed packets: the offending connection is closed, nothing else is affected.

Each case is its own test: a well-behaved client connects and subscribes first, the bad client
sends one malformed packet and must be closed (with nothing but possibly a CONNACK refusal
before), then the good client publishes and receives again, and a new client can still join."""

import struct

import harness
import mqttraw as m
from harness import BrokerTestCase

B = m.packet  # (type, flags, body) -> bytes


def _connect_body(flags, payload, proto=b"\x00\x04MQTT", level=4, keepalive=60):
    return proto + bytes([level, flags]) + struct.pack("!H", keepalive) + payload


def _str(s):
    return m.mqtt_str(s)


# name -> (bytes to send, send a valid CONNECT first?)
CASES = {
    # --- CONNECT itself ---
    "connect_reserved_flag_set":
        (B(m.CONNECT, 0, _connect_body(0x03, _str("r"))), False),
    "connect_will_qos_3":
        (B(m.CONNECT, 0, _connect_body(0x02 | 0x04 | 0x18, _str("r") + _str("w/t") + _str("x"))),
         False),
    "connect_will_qos_without_will_flag":
        (B(m.CONNECT, 0, _connect_body(0x02 | 0x08, _str("r"))), False),
    "connect_will_retain_without_will_flag":
        (B(m.CONNECT, 0, _connect_body(0x02 | 0x20, _str("r"))), False),
    "connect_password_without_username":
        (B(m.CONNECT, 0, _connect_body(0x02 | 0x40, _str("r") + _str("pw"))), False),
    "connect_invalid_utf8_client_id":
        (B(m.CONNECT, 0, _connect_body(0x02, _str(b"a\xc3\x28"))), False),
    "connect_truncated_payload":
        (B(m.CONNECT, 0, _connect_body(0x02, struct.pack("!H", 20) + b"short")), False),
    "connect_flags_set_in_fixed_header":
        (B(m.CONNECT, 0x01, _connect_body(0x02, _str("r"))), False),
    # --- framing ---
    "remaining_length_five_bytes":
        (bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) + b"\x00" * 16, True),
    "publish_topic_length_exceeds_packet":
        (B(m.PUBLISH, 0, struct.pack("!H", 100) + b"abc"), True),
    "reserved_packet_type_0":
        (bytes([0x00, 0x00]), True),
    "reserved_packet_type_15":
        (bytes([0xF0, 0x00]), True),
    "server_only_packet_connack":
        (bytes([0x20, 0x02, 0x00, 0x00]), True),
    "server_only_packet_suback":
        (B(m.SUBACK, 0, b"\x00\x01\x00"), True),
    "puback_wrong_length":
        (B(m.PUBACK, 0, b"\x00\x01\x00"), True),
    # --- reserved flags ---
    "subscribe_reserved_flags_0":
        (B(m.SUBSCRIBE, 0x00, b"\x00\x01" + _str("a/b") + b"\x00"), True),
    "unsubscribe_reserved_flags_0":
        (B(m.UNSUBSCRIBE, 0x00, b"\x00\x01" + _str("a/b")), True),
    "pubrel_reserved_flags_0":
        (B(m.PUBREL, 0x00, b"\x00\x01"), True),
    "pingreq_reserved_flags":
        (bytes([0xC1, 0x00]), True),
    # --- PUBLISH ---
    "publish_qos_3":
        (B(m.PUBLISH, 0x06, _str("a/b") + b"\x00\x01x"), True),
    "publish_invalid_utf8_topic":
        (B(m.PUBLISH, 0, _str(b"a/\xc3\x28") + b"x"), True),
    "publish_utf8_surrogate_in_topic":
        (B(m.PUBLISH, 0, _str(b"a/\xed\xa0\x80") + b"x"), True),
    "publish_nul_in_topic":
        (B(m.PUBLISH, 0, _str(b"a/\x00b") + b"x"), True),
    "publish_wildcard_plus_in_topic":
        (m.publish("a/+/c", b"x"), True),
    "publish_wildcard_hash_in_topic":
        (m.publish("a/#", b"x", qos=1, pid=3), True),
    "publish_empty_topic":
        (m.publish("", b"x"), True),
    "publish_qos1_packet_id_0":
        (m.publish("a/b", b"x", qos=1, pid=0), True),
    "publish_qos2_packet_id_0":
        (m.publish("a/b", b"x", qos=2, pid=0), True),
    # --- SUBSCRIBE / UNSUBSCRIBE ---
    "subscribe_no_filters":
        (B(m.SUBSCRIBE, 0x02, b"\x00\x01"), True),
    "subscribe_packet_id_0":
        (m.subscribe(0, [("a/b", 1)]), True),
    "subscribe_qos_3":
        (m.subscribe(1, [("a/b", 3)]), True),
    "subscribe_reserved_option_bits":
        (B(m.SUBSCRIBE, 0x02, b"\x00\x01" + _str("a/b") + b"\x81"), True),
    "subscribe_missing_qos_byte":
        (B(m.SUBSCRIBE, 0x02, b"\x00\x01" + _str("a/b")), True),
    "subscribe_invalid_utf8_filter":
        (B(m.SUBSCRIBE, 0x02, b"\x00\x01" + _str(b"a/\xff") + b"\x00"), True),
    "subscribe_nul_in_filter":
        (B(m.SUBSCRIBE, 0x02, b"\x00\x01" + _str(b"a/\x00") + b"\x00"), True),
    "unsubscribe_no_filters":
        (B(m.UNSUBSCRIBE, 0x02, b"\x00\x01"), True),
    "unsubscribe_packet_id_0":
        (m.unsubscribe(0, ["a/b"]), True),
}

# Cases Mosquitto 2.0.11 lets through (validated against it): name -> what it does instead.
MOSQUITTO_DEVIATIONS = {
    "pingreq_reserved_flags": "answers a PINGREQ with flags 0x1 (MQTT-2.2.2-2 says close)",
    "puback_wrong_length": "accepts a 3-byte PUBACK from a 3.1.1 client",
    "server_only_packet_suback": "ignores a SUBACK sent by a client",
}


class MalformedTest(BrokerTestCase):

    def _run_case(self, name):
        data, connect_first = CASES[name]
        good = self.raw("good-client")
        good.subscribe([("good/t", 1)])
        bad = self.raw("bad-" + name[:40], connect=connect_first)
        bad.send(data)
        try:
            got = bad.wait_closed(timeout=5)
        except m.Timeout as e:
            self.fail("%s: offending connection not closed: %s" % (name, e))
        # Nothing but (for a bad CONNECT) a refusing CONNACK may come back before the close.
        for p in got:
            self.assertFalse(p.type == m.CONNACK and p.rc == 0,
                             "%s: malformed CONNECT was accepted" % name)
            self.assertIn(p.type, (m.CONNACK,), "%s: unexpected %r before close" % (name, p))
        # the good client, connected all along, still works
        good.publish("good/t", b"still-here", qos=1)
        p = good.recv_publish()
        self.assertEqual(p.payload, b"still-here")
        self.assert_broker_works()
        self.assertTrue(good.is_open(0.05))


def _make(name):
    def test(self):
        self._run_case(name)
    test.__name__ = "test_" + name
    test.__doc__ = "malformed: %s" % name
    if name in MOSQUITTO_DEVIATIONS:
        test = harness.xfail_on_mosquitto(MOSQUITTO_DEVIATIONS[name])(test)
    return test


for _name in CASES:
    setattr(MalformedTest, "test_" + _name, _make(_name))


if __name__ == "__main__":
    harness.main()
