#!/usr/bin/python3
"""Persistent and clean sessions: queued messages, redelivery of unacknowledged messages with
DUP, QoS 2 state across reconnects, clean_session=1 discarding state."""

import harness
import mqttraw as m
from harness import BrokerTestCase


class SessionTest(BrokerTestCase):

    def _persistent_sub(self, cid, filters):
        c = self.raw(cid, clean=False)
        c.subscribe(filters)
        return c

    def test_offline_qos1_qos2_delivered_on_reconnect(self):
        self._persistent_sub("ps1", [("ps/#", 2)]).disconnect()
        pub = self.raw()
        pub.publish("ps/a", b"q1-1", qos=1)
        pub.publish("ps/b", b"q2-1", qos=2)
        pub.publish("ps/a", b"q0", qos=0)
        pub.publish("ps/a", b"q1-2", qos=1)
        pub.publish("ps/b", b"q2-2", qos=2)
        c = self.raw(connect=False)
        ack = c.connect("ps1", clean=False)
        self.assertEqual(ack.session_present, 1)
        got = []
        while True:
            try:
                p = c.recv_publish(timeout=1.0)
            except m.Timeout:
                break
            got.append((p.payload, p.qos))
        # QoS 0 may or may not be queued; QoS 1 and 2 must all be there, in order.
        self.assertEqual([g for g in got if g[1] > 0],
                         [(b"q1-1", 1), (b"q2-1", 2), (b"q1-2", 1), (b"q2-2", 2)])
        # the subscription itself survived too
        pub.publish("ps/c", b"live", qos=1)
        self.assertEqual(c.recv_publish().payload, b"live")

    def test_unacked_qos1_resent_with_dup_on_reconnect(self):
        sub = self._persistent_sub("dup1", [("dup/t", 1)])
        pub = self.raw()
        pub.publish("dup/t", b"needs-ack", qos=1)
        first = sub.expect(m.PUBLISH)
        self.assertEqual((first.payload, first.dup), (b"needs-ack", False))
        sub.abort()  # no PUBACK
        c = self.raw(connect=False)
        self.assertEqual(c.connect("dup1", clean=False).session_present, 1)
        again = c.expect(m.PUBLISH)
        self.assertEqual((again.payload, again.qos), (b"needs-ack", 1))
        self.assertTrue(again.dup, "a resent PUBLISH has DUP=1")
        self.assertEqual(again.pid, first.pid, "resent with its original packet id")
        c.send(m.puback(again.pid))
        c.expect_nothing(0.5)

    def test_unacked_qos2_publish_resent_with_dup(self):
        sub = self._persistent_sub("dup2", [("dup2/t", 2)])
        pub = self.raw()
        pub.publish("dup2/t", b"exactly", qos=2)
        first = sub.expect(m.PUBLISH)
        sub.abort()  # no PUBREC
        c = self.raw(connect=False)
        self.assertEqual(c.connect("dup2", clean=False).session_present, 1)
        again = c.expect(m.PUBLISH)
        self.assertEqual((again.payload, again.qos, again.dup, again.pid),
                         (b"exactly", 2, True, first.pid))
        c.ack(again)
        c.expect_nothing(0.5)

    def test_qos2_after_pubrec_broker_resends_pubrel_not_publish(self):
        sub = self._persistent_sub("rel2", [("rel2/t", 2)])
        pub = self.raw()
        pub.publish("rel2/t", b"once", qos=2)
        p = sub.expect(m.PUBLISH)
        sub.send(m.pubrec(p.pid))
        self.assertEqual(sub.expect(m.PUBREL).pid, p.pid)
        sub.abort()  # no PUBCOMP
        c = self.raw(connect=False)
        self.assertEqual(c.connect("rel2", clean=False).session_present, 1)
        rel = c.expect(m.PUBREL)
        self.assertEqual((rel.pid, rel.flags), (p.pid, 0x02))
        c.send(m.pubcomp(rel.pid))
        c.expect_nothing(0.5)

    def test_publisher_qos2_pubrel_after_reconnect_delivers_once(self):
        sub = self.raw()
        sub.subscribe([("pr/t", 2)])
        pub = self.raw("pubsess", clean=False)
        pub.send(m.publish("pr/t", b"x", qos=2, pid=9))
        self.assertEqual(pub.expect(m.PUBREC).pid, 9)
        pub.abort()  # the PUBREL never went out
        pub = self.raw(connect=False)
        self.assertEqual(pub.connect("pubsess", clean=False).session_present, 1)
        pub.send(m.pubrel(9))
        self.assertEqual(pub.expect(m.PUBCOMP).pid, 9)
        p = sub.recv_publish()
        self.assertEqual(p.payload, b"x")
        sub.expect_nothing(0.5)

    def test_clean_session_discards_session(self):
        self._persistent_sub("cs", [("cs/t", 1)]).disconnect()
        pub = self.raw()
        pub.publish("cs/t", b"queued-then-discarded", qos=1)
        c = self.raw(connect=False)
        self.assertEqual(c.connect("cs", clean=True).session_present, 0)
        c.expect_nothing(0.5)  # neither the queue nor the subscription
        c.disconnect()
        pub.publish("cs/t", b"after", qos=1)
        c = self.raw(connect=False)
        self.assertEqual(c.connect("cs", clean=False).session_present, 0)
        c.expect_nothing(0.5)

    def test_clean_session_client_gets_nothing_after_reconnect(self):
        sub = self.raw("cl", clean=True)
        sub.subscribe([("cl/t", 1)])
        sub.disconnect()
        pub = self.raw()
        pub.publish("cl/t", b"lost", qos=1)
        c = self.raw(connect=False)
        self.assertEqual(c.connect("cl", clean=True).session_present, 0)
        c.expect_nothing(0.5)

    def test_session_kept_across_several_reconnects(self):
        self._persistent_sub("many", [("many/t", 1)]).disconnect()
        pub = self.raw()
        for i in range(3):
            pub.publish("many/t", b"%d" % i, qos=1)
            c = self.raw(connect=False)
            self.assertEqual(c.connect("many", clean=False).session_present, 1)
            self.assertEqual(c.recv_publish().payload, b"%d" % i)
            c.disconnect()

    def test_mosquitto_sub_persistent_session(self):
        # -c: clean session off; first run only subscribes and leaves (after a marker message)
        sub = self.mosquitto_sub("-c", "-i", "ms-persist", "-q", "1", "-t", "msp/#", count=1)
        self.mosquitto_pub("-t", "msp/marker", "-m", "m", "-q", "1")
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        for i in range(3):
            self.mosquitto_pub("-t", "msp/v", "-m", "v%d" % i, "-q", "1")
        sub = self.mosquitto_sub("-c", "-i", "ms-persist", "-q", "1", "-t", "msp/#", count=3)
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        self.assertEqual([ln for ln in out.splitlines() if ln.startswith("v")],
                         ["v0", "v1", "v2"])

    def test_paho_persistent_session_31(self):
        sub = self.paho("paho31p", protocol="31", clean_session=False)
        sub.subscribe("p31/t", 2)
        sub.disconnect()
        pub = self.paho(protocol="31")
        pub.publish("p31/t", b"while-away", qos=2)
        sub = self.paho("paho31p", protocol="31", clean_session=False, connect=False)
        flags, rc = sub.connect()
        self.assertEqual(rc, 0)
        self.assertEqual(sub.get(), ("p31/t", b"while-away", 2, False))


if __name__ == "__main__":
    harness.main()
