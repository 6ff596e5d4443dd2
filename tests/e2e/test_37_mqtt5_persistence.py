#!/usr/bin/python3
"""MQTT 5 state in fieldgate's store across restarts: a session's expiry interval, its
subscription options and identifiers, and its queued messages' properties and expiry."""

import signal
import time
import unittest

import harness
import mqtt5raw as m5
from harness import BrokerTestCase


@unittest.skipIf(harness.TARGET == "mosquitto",
                 "fieldgate's persistence only: Mosquitto saves its state periodically")
class Mqtt5PersistenceTest(m5.V5Mixin, BrokerTestCase):
    broker_options = {"persistence": True}

    def restart(self, sig=signal.SIGTERM):
        rc = self.broker.restart(sig)
        self.port = self.broker.port
        if sig == signal.SIGTERM:
            self.assertEqual(rc, 0)

    def test_session_options_and_message_properties_survive_a_restart(self):
        s = self.v5("p5-sub", properties={"session_expiry": 600})
        s.subscribe([("p5/#", m5.options(1, no_local=True, rap=True))],
                    properties={"subscription_id": [77]})
        s.disconnect()
        pub = self.v5()
        pub.publish("p5/t", b"kept", qos=1, retain=True,
                    properties={"content_type": "text/plain", "correlation_data": b"\x00c",
                                "response_topic": "p5/reply", "user": [("a", "1"), ("b", "2")],
                                "payload_format": 1, "message_expiry": 300})
        pub.publish("p5/short", b"gone", qos=1, properties={"message_expiry": 1})
        pub.disconnect()
        self.restart(signal.SIGKILL)
        time.sleep(1.5)
        s = self.v5("p5-sub", clean=False, properties={"session_expiry": 600})
        self.assertEqual(s.connack.session_present, 1)
        p = s.recv_publish()
        self.assertEqual((p.topic, p.payload, p.retain), ("p5/t", b"kept", True))
        self.assertEqual(p.props.get("content_type"), "text/plain")
        self.assertEqual(p.props.get("correlation_data"), b"\x00c")
        self.assertEqual(p.props.get("response_topic"), "p5/reply")
        self.assertEqual(p.props.get("user"), [("a", "1"), ("b", "2")])
        self.assertEqual(p.props.get("payload_format"), 1)
        self.assertEqual(p.props.get("subscription_id"), [77])
        self.assertLess(p.props.get("message_expiry"), 300)
        s.expect_nothing(0.5)  # p5/short expired while the broker was down
        # no local came back with the subscription
        s.publish("p5/own", b"mine", qos=1)
        s.expect_nothing(0.5)
        # the retained message kept its properties too
        r = self.v5()
        r.subscribe([("p5/t", m5.options(1))])
        self.assertEqual(r.recv_publish().props.get("user"), [("a", "1"), ("b", "2")])

    def test_session_expiry_survives_a_restart(self):
        s = self.v5("p5-exp", properties={"session_expiry": 2})
        s.subscribe([("p5e/t", m5.options(1))])
        s.disconnect()
        self.restart()
        s = self.v5("p5-exp", clean=False, properties={"session_expiry": 2})
        self.assertEqual(s.connack.session_present, 1)
        s.disconnect()
        self.restart()
        time.sleep(2.5)
        s = self.v5("p5-exp", clean=False, properties={"session_expiry": 2})
        self.assertEqual(s.connack.session_present, 0)


if __name__ == "__main__":
    harness.main()
