#!/usr/bin/python3
"""MQTT 5 DISCONNECT both ways: the broker says why it closes a connection (session taken over,
keep-alive timeout, protocol error, malformed packet), the client's reason code decides the
will (0x04 publishes it), and the will delay interval and will properties."""

import time

import harness
import mqtt5raw as m5
from harness import BrokerTestCase


class Mqtt5DisconnectTest(m5.V5Mixin, BrokerTestCase):

    def _watcher(self, topic="will5/#"):
        w = self.v5()
        w.subscribe([(topic, m5.options(1))])
        return w

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 closes the connection without DISCONNECT")
    def test_session_taken_over_0x8e(self):
        old = self.v5("takeover-5")
        self.v5("takeover-5")
        old.expect_disconnect(0x8E)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 neither checks keep-alive within 1.5 x 1 s "
                                "nor sends DISCONNECT 0x8D", strict=False)
    def test_keep_alive_timeout_0x8d(self):
        c = self.v5(keepalive=1)
        start = time.monotonic()
        c.expect_disconnect(0x8D, timeout=5)
        self.assertGreaterEqual(time.monotonic() - start, 1.0)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 closes the connection without DISCONNECT")
    def test_second_connect_is_a_protocol_error_0x82(self):
        c = self.v5()
        c.send(m5.connect("again"))
        c.expect_disconnect(0x82)

    def test_malformed_packet_0x81(self):
        c = self.v5()
        # PUBLISH whose property length runs past the packet.
        c.send(m5.packet(m5.PUBLISH, 0, m5.mqtt_str("t") + b"\x09\x01"))
        c.expect_disconnect(0x81)
        self.assert_broker_works()

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 closes the connection without DISCONNECT")
    def test_disconnect_reason_string_names_the_problem(self):
        c = self.v5()
        c.send(m5.connect("again"))
        d = c.expect_disconnect(0x82)
        if harness.TARGET == "fieldgate":
            self.assertIn("CONNECT", d.props.get("reason_string", ""))

    def test_disconnect_with_will_0x04_publishes_the_will(self):
        w = self._watcher()
        c = self.v5(will=("will5/dw", b"asked", 1, False))
        c.disconnect(rc=0x04)
        p = w.recv_publish()
        self.assertEqual((p.topic, p.payload), ("will5/dw", b"asked"))

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 discards the will on any DISCONNECT but 0x04")
    def test_disconnect_with_an_error_reason_publishes_the_will(self):
        # Only 0x00 discards the will [MQTT-3.14.4-3, MQTT 5 3.1.2.5].
        w = self._watcher()
        c = self.v5(will=("will5/err", b"failed", 1, False))
        c.disconnect(rc=0x80, properties={"reason_string": "sensor failed"})
        self.assertEqual(w.recv_publish().payload, b"failed")

    def test_normal_disconnect_discards_the_will(self):
        w = self._watcher()
        c = self.v5(will=("will5/nd", b"no", 1, False))
        c.disconnect(rc=0x00)
        w.expect_nothing(1.0)

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 drops the will of a client it disconnects "
                                "for a protocol error")
    def test_server_disconnect_publishes_the_will(self):
        w = self._watcher()
        c = self.v5(will=("will5/proto", b"err", 0, False))
        c.send(m5.connect("again"))
        c.wait_closed()
        self.assertEqual(w.recv_publish().payload, b"err")

    def test_will_properties_are_passed_on(self):
        w = self._watcher()
        props = {"content_type": "text/plain", "response_topic": "back/here",
                 "correlation_data": b"cd", "user": [("why", "test")], "payload_format": 1}
        c = self.v5(will=("will5/props", b"bye", 1, False, props))
        c.abort()
        p = w.recv_publish()
        for name, value in props.items():
            self.assertEqual(p.props.get(name), value, name)

    def test_will_delay_then_published(self):
        w = self._watcher()
        c = self.v5("wd-pub", properties={"session_expiry": 30},
                    will=("will5/delayed", b"late", 1, False, {"will_delay": 2}))
        c.abort()
        start = time.monotonic()
        w.expect_nothing(1.2)
        p = w.recv_publish(timeout=4)
        self.assertEqual(p.payload, b"late")
        self.assertGreaterEqual(time.monotonic() - start, 1.5)

    def test_will_delay_cancelled_by_a_reconnect(self):
        w = self._watcher()
        c = self.v5("wd-cancel", properties={"session_expiry": 30},
                    will=("will5/cancelled", b"never", 1, False, {"will_delay": 2}))
        c.abort()
        time.sleep(0.3)
        self.v5("wd-cancel", clean=False, properties={"session_expiry": 30})
        w.expect_nothing(3.5)

    def test_will_published_when_the_session_ends_before_the_delay(self):
        w = self._watcher()
        c = self.v5("wd-expiry", properties={"session_expiry": 1},
                    will=("will5/session-end", b"ended", 1, False, {"will_delay": 60}))
        c.abort()
        p = w.recv_publish(timeout=5)
        self.assertEqual(p.payload, b"ended")

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 does not publish a delayed will when the "
                                "session ends with the connection [MQTT-3.1.2-8]")
    def test_will_delay_without_session_expiry_publishes_at_once(self):
        w = self._watcher()
        c = self.v5(will=("will5/no-session", b"now", 1, False, {"will_delay": 60}))
        c.abort()
        self.assertEqual(w.recv_publish(timeout=2).payload, b"now")


if __name__ == "__main__":
    harness.main()
