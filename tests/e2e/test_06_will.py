#!/usr/bin/python3
"""Will messages: on abnormal close, not after DISCONNECT, on keep-alive timeout, on a
protocol error, retained wills, will QoS."""


import harness
import mqttraw as m
from harness import BrokerTestCase


class WillTest(BrokerTestCase):

    def _watcher(self, topic="will/#", qos=2):
        w = self.raw()
        w.subscribe([(topic, qos)])
        return w

    def test_published_on_abnormal_close(self):
        w = self._watcher()
        c = self.raw(will=("will/abn", b"gone", 1, False))
        c.ping()
        c.abort()
        p = w.recv_publish()
        self.assertEqual((p.topic, p.payload, p.qos, p.retain), ("will/abn", b"gone", 1, False))

    def test_published_on_socket_close_without_disconnect(self):
        w = self._watcher()
        c = self.raw(will=("will/fin", b"fin", 0, False))
        c.ping()
        c.close()  # orderly TCP FIN, but no MQTT DISCONNECT
        p = w.recv_publish()
        self.assertEqual((p.topic, p.payload), ("will/fin", b"fin"))

    def test_not_published_after_disconnect(self):
        w = self._watcher()
        c = self.raw(will=("will/clean", b"should-not", 1, False))
        c.ping()
        c.disconnect()
        w.expect_nothing(1.0)

    def test_published_on_keepalive_timeout(self):
        # (the timing itself is checked in test_07_keepalive; Mosquitto 2.0.11 checks
        # keep-alives only every few seconds, hence the generous wait here)
        w = self._watcher()
        c = self.raw(will=("will/ka", b"timeout", 1, False), keepalive=1)
        p = w.recv_publish(timeout=9)
        self.assertEqual((p.topic, p.payload), ("will/ka", b"timeout"))
        c.wait_closed(timeout=2)

    def test_published_on_protocol_error(self):
        w = self._watcher()
        c = self.raw(will=("will/proto", b"bad-packet", 1, False))
        c.send(m.publish("bad/+/topic", b"x"))  # wildcard in a PUBLISH topic
        c.wait_closed()
        p = w.recv_publish()
        self.assertEqual((p.topic, p.payload), ("will/proto", b"bad-packet"))

    def test_will_retain_honoured(self):
        c = self.raw(will=("will/ret", b"offline", 1, True))
        c.ping()
        live = self._watcher("will/ret", 1)
        c.abort()
        p = live.recv_publish()
        self.assertEqual((p.payload, p.retain), (b"offline", False),
                         "live subscribers get it with retain 0")
        late = self._watcher("will/ret", 1)
        p = late.recv_publish()
        self.assertEqual((p.payload, p.retain), (b"offline", True), "and it was retained")

    def test_will_without_retain_not_retained(self):
        c = self.raw(will=("will/noret", b"x", 1, False))
        c.ping()
        live = self._watcher("will/noret", 1)
        c.abort()
        live.recv_publish()
        late = self._watcher("will/noret", 1)
        late.expect_nothing(0.5)

    def test_will_qos_levels(self):
        w = self._watcher("will/q/#", 2)
        for q in (0, 1, 2):
            c = self.raw(will=("will/q/%d" % q, b"q%d" % q, q, False))
            c.ping()
            c.abort()
            p = w.recv_publish()
            self.assertEqual((p.topic, p.qos), ("will/q/%d" % q, q))

    def test_will_31_via_paho(self):
        w = self._watcher()
        c = self.raw(proto_name="MQIsdp", proto_level=3, will=("will/v31", b"31", 1, False))
        c.abort()
        p = w.recv_publish()
        self.assertEqual((p.topic, p.payload), ("will/v31", b"31"))
        # a paho 3.1 client with a will, disconnecting cleanly: no will
        pc = self.paho(protocol="31", will=("will/paho", b"no", 1, False))
        pc.disconnect()
        w.expect_nothing(0.7)

    def test_will_empty_payload(self):
        w = self._watcher()
        c = self.raw(will=("will/empty", b"", 1, False))
        c.ping()
        c.abort()
        p = w.recv_publish()
        self.assertEqual((p.topic, p.payload), ("will/empty", b""))


if __name__ == "__main__":
    harness.main()
