#!/usr/bin/python3
"""MQTT 5 flow control and size limits: the client's Receive Maximum bounds what the broker
has in flight to it, a client exceeding the broker's Receive Maximum is disconnected with
0x93, a message larger than the client's Maximum Packet Size is not sent to it, and a packet
larger than the broker's is answered with DISCONNECT 0x95."""

import harness
import mqtt5raw as m5
from harness import BrokerTestCase


class Mqtt5FlowTest(m5.V5Mixin, BrokerTestCase):

    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 can have one more message in flight than "
                                "the client's receive maximum", strict=False)
    def test_client_receive_maximum_bounds_the_inflight_window(self):
        sub = self.v5(properties={"receive_maximum": 2})
        sub.subscribe([("rm/t", m5.options(1))])
        pub = self.v5()
        for i in range(5):
            pub.publish("rm/t", b"%d" % i, qos=1)
        first = [sub.recv_publish(ack=False) for _ in range(2)]
        sub.expect_nothing(0.5)  # two unacknowledged: no third
        sub.ack(first[0])
        third = sub.recv_publish(ack=False)
        sub.expect_nothing(0.3)
        for p in [first[1], third]:
            sub.ack(p)
        rest = [sub.recv_publish(ack=True) for _ in range(2)]
        self.assertEqual([p.payload for p in first + [third] + rest],
                         [b"0", b"1", b"2", b"3", b"4"])

    @harness.broker_options(max_inflight_messages=3)
    @harness.xfail_on_mosquitto("Mosquitto 2.0.11 answers PUBREC 0x97 instead of DISCONNECT "
                                "0x93 [MQTT-3.3.4-9]")
    def test_exceeding_the_broker_receive_maximum_is_0x93(self):
        c = self.v5()
        maximum = c.connack.props.get("receive_maximum", 65535)
        self.assertEqual(maximum, 3)
        for pid in range(1, maximum + 1):  # QoS 2 without PUBREL: they stay in flight
            c.send(m5.publish("rm/in", b"x", qos=2, pid=pid))
            self.assertIn(c.expect_ack(m5.PUBREC, pid).rc, (0x00, 0x10))
        c.send(m5.publish("rm/in", b"x", qos=2, pid=maximum + 1))
        c.expect_disconnect(0x93)

    def test_message_larger_than_the_client_accepts_is_not_sent(self):
        sub = self.v5(properties={"maximum_packet_size": 200})
        sub.subscribe([("mps/#", m5.options(1))])
        pub = self.v5()
        pub.publish("mps/big", b"x" * 500, qos=1)
        pub.publish("mps/big0", b"y" * 500, qos=0)
        pub.publish("mps/small", b"ok", qos=1)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload), ("mps/small", b"ok"))
        sub.expect_nothing(0.3)

    def test_retained_message_larger_than_the_client_accepts_is_not_sent(self):
        self.v5().publish("mps/retained", b"z" * 500, qos=1, retain=True)
        sub = self.v5(properties={"maximum_packet_size": 100})
        sub.subscribe([("mps/retained", m5.options(1))])
        sub.expect_nothing(0.5)

    @harness.broker_options(max_packet_size=1000)
    def test_oversize_packet_is_disconnected_0x95(self):
        c = self.v5()
        self.assertEqual(c.connack.props.get("maximum_packet_size"), 1000)
        c.send(m5.publish("big/in", b"x" * 2000, qos=0))
        c.expect_disconnect(0x95)
        self.assert_broker_works()


if __name__ == "__main__":
    harness.main()
