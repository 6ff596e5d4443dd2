#!/usr/bin/python3
"""MQTT 5 CONNECT and CONNACK: what the broker advertises, assigned client ids, server keep
alive, Clean Start and Session Expiry (and the MQTT 3.1.1 clean session mapping), session
expiry on DISCONNECT, reason strings, and AUTH (no extended authentication is offered)."""

import time

import harness
import mqtt5raw as m5
from harness import BrokerTestCase


class Mqtt5ConnectTest(m5.V5Mixin, BrokerTestCase):

    def test_connack_advertises_what_the_broker_supports(self):
        ack = self.v5().connack
        p = ack.props
        self.assertEqual(ack.rc, 0)
        # Absent means "available" for these; when present they must say so.
        for name in ("retain_available", "wildcard_available", "subscription_ids_available",
                     "shared_available"):
            self.assertEqual(p.get(name, 1), 1, name)
        self.assertNotIn("maximum_qos", p)  # QoS 2 is supported
        self.assertGreater(p.get("receive_maximum", 65535), 0)
        self.assertGreater(p.get("topic_alias_maximum", 0), 0)
        if harness.TARGET == "fieldgate":
            for name in ("retain_available", "wildcard_available", "subscription_ids_available",
                         "shared_available", "receive_maximum", "maximum_packet_size"):
                self.assertIn(name, p)

    @harness.broker_options(max_inflight_messages=7, max_packet_size=4096)
    def test_connack_limits_follow_the_configuration(self):
        p = self.v5().connack.props
        self.assertEqual(p.get("receive_maximum"), 7)
        self.assertEqual(p.get("maximum_packet_size"), 4096)

    def test_empty_client_id_gets_an_assigned_identifier(self):
        c = self.v5(client_id="")
        assigned = c.connack.props.get("assigned_client_id")
        self.assertTrue(assigned, "no assigned client identifier: %r" % c.connack)
        # MQTT 5 allows an empty id with Clean Start 0 too.
        d = self.v5(client_id="", clean=False)
        self.assertTrue(d.connack.props.get("assigned_client_id"))
        self.assertNotEqual(assigned, d.connack.props["assigned_client_id"])

    @harness.broker_options(max_keepalive_s=10)
    def test_server_keep_alive_when_the_broker_lowers_it(self):
        c = self.v5(keepalive=60)
        self.assertEqual(c.connack.props.get("server_keep_alive"), 10)

    def test_session_resumed_within_its_expiry(self):
        s = self.v5("sx-resume", clean=True, properties={"session_expiry": 30})
        s.subscribe([("sx/resume", m5.options(1))])
        s.disconnect()
        self.v5().publish("sx/resume", b"while away", qos=1)
        s = self.v5("sx-resume", clean=False, properties={"session_expiry": 30})
        self.assertEqual(s.connack.session_present, 1)
        p = s.recv_publish()
        self.assertEqual((p.topic, p.payload), ("sx/resume", b"while away"))

    def test_session_expiry_zero_ends_with_the_connection(self):
        s = self.v5("sx-zero", clean=False)  # no Session Expiry Interval: 0
        s.subscribe([("sx/zero", m5.options(1))])
        s.disconnect()
        s = self.v5("sx-zero", clean=False)
        self.assertEqual(s.connack.session_present, 0)

    def test_session_gone_after_its_expiry(self):
        s = self.v5("sx-expire", properties={"session_expiry": 1})
        s.subscribe([("sx/expire", m5.options(1))])
        s.disconnect()
        time.sleep(2.5)
        s = self.v5("sx-expire", clean=False, properties={"session_expiry": 1})
        self.assertEqual(s.connack.session_present, 0)

    def test_clean_start_discards_the_session(self):
        s = self.v5("sx-clean", properties={"session_expiry": 30})
        s.subscribe([("sx/clean", m5.options(1))])
        s.disconnect()
        s = self.v5("sx-clean", clean=True, properties={"session_expiry": 30})
        self.assertEqual(s.connack.session_present, 0)

    def test_mqtt311_persistent_session_continues_as_mqtt5(self):
        # clean session 0 is Clean Start 0 with a session that does not expire.
        old = self.raw("sx-311", clean=False)
        old.subscribe([("sx/311", 1)])
        old.disconnect()
        time.sleep(0.2)
        self.v5().publish("sx/311", b"queued", qos=1)
        s = self.v5("sx-311", clean=False, properties={"session_expiry": 60})
        self.assertEqual(s.connack.session_present, 1)
        self.assertEqual(s.recv_publish().payload, b"queued")

    def test_disconnect_may_end_the_session(self):
        s = self.v5("sx-end", properties={"session_expiry": 60})
        s.subscribe([("sx/end", m5.options(1))])
        s.disconnect(properties={"session_expiry": 0})
        time.sleep(0.2)
        s = self.v5("sx-end", clean=False, properties={"session_expiry": 60})
        self.assertEqual(s.connack.session_present, 0)

    def test_disconnect_may_not_keep_a_session_that_was_to_end(self):
        s = self.v5("sx-raise")  # session expiry 0
        s.send(m5.disconnect(0, {"session_expiry": 60}))
        got = s.wait_closed()
        discs = [p for p in got if p.type == m5.DISCONNECT]
        if discs:  # the server may say why before closing
            self.assertEqual(discs[-1].rc, 0x82)
        s = self.v5("sx-raise", clean=False)
        self.assertEqual(s.connack.session_present, 0)

    def test_unsupported_authentication_method_refused_0x8c(self):
        c = self.v5(connect=False)
        c.send(m5.connect("auth-m", properties={"auth_method": "SCRAM-SHA-1"}))
        ack = c.expect(m5.CONNACK)
        self.assertEqual(ack.rc, 0x8C)
        c.wait_closed()
        self.assert_broker_works()

    def test_auth_packets_close_the_connection_not_the_broker(self):
        bodies = [
            m5.auth(0x18, {"auth_method": "SCRAM-SHA-1", "auth_data": b"x"}),
            m5.auth(0x19, {"auth_method": "PLAIN"}),
            m5.packet(m5.AUTH, 0, b""),
            m5.packet(m5.AUTH, 0, b"\x18"),
            m5.packet(m5.AUTH, 0, b"\x18\x05\x15\x00\x09"),  # truncated method
            m5.packet(m5.AUTH, 0, b"\x55\x00"),              # undefined reason code
            m5.packet(m5.AUTH, 1, b"\x00\x00"),              # reserved flags
        ]
        for body in bodies:
            c = self.v5()
            c.send(body)
            got = c.wait_closed()
            for p in got:
                if p.type == m5.DISCONNECT:
                    self.assertGreaterEqual(p.rc, 0x80, "%r -> %r" % (body, p))
        # AUTH before CONNECT, and from an MQTT 3.1.1 client.
        c = self.v5(connect=False)
        c.send(m5.auth(0x18, {"auth_method": "X"}))
        c.wait_closed()
        r = self.raw()
        r.send(m5.auth(0, None))
        r.wait_closed()
        self.assert_broker_works()

    @harness.broker_options(allow_anonymous=False,
                            password_file=lambda path: harness.subprocess.run(
                                ["mosquitto_passwd", "-b", path, "alice", "secret"], check=True))
    def test_bad_password_refused_with_reason(self):
        c = self.v5(connect=False)
        c.send(m5.connect("bad-pw", username="alice", password="wrong"))
        ack = c.expect(m5.CONNACK)
        self.assertIn(ack.rc, (0x86, 0x87))
        c.wait_closed()
        good = self.v5(username="alice", password="secret")
        self.assertEqual(good.connack.rc, 0)

    def test_invalid_connect_property_refused(self):
        c = self.v5(connect=False)
        # Receive Maximum 0 is a Protocol Error [MQTT-3.1.2-?].
        c.send(m5.connect("bad-prop", properties={"receive_maximum": 0}))
        got = c.wait_closed()
        for p in got:
            if p.type == m5.CONNACK:
                self.assertGreaterEqual(p.rc, 0x80)
        self.assert_broker_works()


if __name__ == "__main__":
    harness.main()
