#!/usr/bin/python3
"""MQTT 3.1.1 and 5.0 clients side by side: they share topics at every QoS, retained messages
(with their properties for MQTT 5 readers) and wills; paho's MQTT 5 client and the mosquitto
command-line clients in MQTT 5 mode work against the broker."""

import queue

import harness
import mqtt5raw as m5
from harness import BrokerTestCase

try:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
except ImportError:  # reported by the tests that need paho
    PacketTypes = Properties = None


class Mqtt5InteropTest(m5.V5Mixin, BrokerTestCase):

    def test_topics_shared_both_ways_at_every_qos(self):
        old = self.raw()
        new = self.v5()
        old.subscribe([("mix/from5", 2)])
        new.subscribe([("mix/from311", m5.options(2))])
        for qos in (0, 1, 2):
            new.publish("mix/from5", b"5-%d" % qos, qos=qos)
            p = old.recv_publish()
            self.assertEqual((p.payload, p.qos), (b"5-%d" % qos, qos))
            old.publish("mix/from311", b"3-%d" % qos, qos=qos)
            p = new.recv_publish()
            self.assertEqual((p.payload, p.qos), (b"3-%d" % qos, qos))

    def test_retained_messages_shared(self):
        self.raw().publish("mixr/old", b"by311", qos=1, retain=True)
        self.v5().publish("mixr/new", b"by5", qos=1, retain=True,
                          properties={"content_type": "text/plain", "user": [("u", "1")]})
        new = self.v5()
        new.subscribe([("mixr/#", m5.options(1))])
        got = {p.topic: p for p in (new.recv_publish(), new.recv_publish())}
        self.assertEqual((got["mixr/old"].payload, got["mixr/old"].retain), (b"by311", True))
        self.assertEqual(got["mixr/new"].props.get("content_type"), "text/plain")
        self.assertEqual(got["mixr/new"].props.get("user"), [("u", "1")])
        old = self.raw()
        old.subscribe([("mixr/#", 1)])
        got = {p.topic: p.payload for p in (old.recv_publish(), old.recv_publish())}
        self.assertEqual(got, {"mixr/old": b"by311", "mixr/new": b"by5"})

    def test_wills_shared(self):
        old_watch = self.raw()
        old_watch.subscribe([("mixw/#", 1)])
        new_watch = self.v5()
        new_watch.subscribe([("mixw/#", m5.options(1))])
        c5 = self.v5(will=("mixw/5", b"gone5", 1, False, {"user": [("k", "v")]}))
        c5.abort()
        self.assertEqual(old_watch.recv_publish().payload, b"gone5")
        p = new_watch.recv_publish()
        self.assertEqual((p.payload, p.props.get("user")), (b"gone5", [("k", "v")]))
        c3 = self.raw(will=("mixw/3", b"gone3", 1, False))
        c3.abort()
        self.assertEqual(old_watch.recv_publish().payload, b"gone3")
        self.assertEqual(new_watch.recv_publish().payload, b"gone3")

    def test_paho_mqtt5_request_response(self):
        if harness.paho is None or Properties is None:
            self.skipTest("paho-mqtt not available: run with /usr/bin/python3")
        paho = harness.paho
        got = queue.Queue()

        def client(name):
            c = paho.Client(client_id=name, protocol=paho.MQTTv5)
            connected = queue.Queue()
            c.on_connect = lambda cl, u, flags, rc, props=None: connected.put(rc)
            c.on_message = lambda cl, u, msg: got.put((name, msg))
            c.connect("127.0.0.1", self.port)
            c.loop_start()
            self.addCleanup(c.loop_stop)
            self.addCleanup(c.disconnect)
            self.assertEqual(connected.get(timeout=5), 0)
            return c

        responder = client("paho-responder")
        requester = client("paho-requester")
        for c, topic in ((responder, "svc/request"), (requester, "svc/reply/1")):
            subscribed = queue.Queue()
            c.on_subscribe = lambda cl, u, mid, codes, props=None: subscribed.put(codes)
            c.subscribe(topic, qos=1)
            subscribed.get(timeout=5)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "svc/reply/1"
        props.CorrelationData = b"req-42"
        requester.publish("svc/request", b"ping", qos=1, properties=props)
        name, msg = got.get(timeout=5)
        self.assertEqual((name, msg.payload), ("paho-responder", b"ping"))
        self.assertEqual(msg.properties.ResponseTopic, "svc/reply/1")
        self.assertEqual(msg.properties.CorrelationData, b"req-42")
        answer = Properties(PacketTypes.PUBLISH)
        answer.CorrelationData = msg.properties.CorrelationData
        responder.publish(msg.properties.ResponseTopic, b"pong", qos=1, properties=answer)
        name, msg = got.get(timeout=5)
        self.assertEqual((name, msg.payload, msg.properties.CorrelationData),
                         ("paho-requester", b"pong", b"req-42"))

    def test_mosquitto_clients_v5_with_an_mqtt311_peer(self):
        sub = self.mosquitto_sub("-V", "mqttv5", "-t", "mixcli/t", "-q", "2", "-F", "%t %p")
        self.raw().publish("mixcli/t", b"from311", qos=2)
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        self.assertIn("mixcli/t from311", out)
        old = self.raw()
        old.subscribe([("mixcli/u", 1)])
        self.mosquitto_pub("-V", "mqttv5", "-t", "mixcli/u", "-m", "from5", "-q", "1",
                           "-D", "publish", "user-property", "a", "b")
        self.assertEqual(old.recv_publish().payload, b"from5")


if __name__ == "__main__":
    harness.main()
