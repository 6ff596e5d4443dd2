#!/usr/bin/python3
"""PUBLISH at QoS 0, 1 and 2: exact packet flows in both directions, QoS downgrade,
overlapping subscriptions, ordering, exactly-once, the in-flight window."""

import threading
import time

import harness
import mqttraw as m
from harness import BrokerTestCase, broker_options, xfail_on_mosquitto


class PublishQosTest(BrokerTestCase):

    def test_qos0_both_directions(self):
        sub = self.raw()
        sub.subscribe([("q0/t", 0)])
        pub = self.raw()
        pub.send(m.publish("q0/t", b"zero", qos=0))
        p = sub.expect(m.PUBLISH)
        self.assertEqual((p.topic, p.payload, p.qos, p.dup, p.retain, p.pid),
                         ("q0/t", b"zero", 0, False, False, None))
        pub.expect_nothing(0.3)  # no acknowledgement at QoS 0

    def test_qos1_flow(self):
        sub = self.raw()
        sub.subscribe([("q1/t", 1)])
        pub = self.raw()
        pub.send(m.publish("q1/t", b"one", qos=1, pid=4242))
        ack = pub.expect(m.PUBACK)
        self.assertEqual(ack.pid, 4242)
        self.assertEqual(len(ack.body), 2)
        p = sub.expect(m.PUBLISH)
        self.assertEqual((p.topic, p.payload, p.qos, p.dup, p.retain), ("q1/t", b"one", 1,
                                                                         False, False))
        self.assertNotEqual(p.pid, 0)
        sub.send(m.puback(p.pid))
        sub.expect_nothing(0.5)  # acknowledged: not resent
        pub.expect_nothing(0.1)

    def test_qos2_flow(self):
        sub = self.raw()
        sub.subscribe([("q2/t", 2)])
        pub = self.raw()
        pub.send(m.publish("q2/t", b"two", qos=2, pid=777))
        rec = pub.expect(m.PUBREC)
        self.assertEqual(rec.pid, 777)
        pub.send(m.pubrel(777))
        comp = pub.expect(m.PUBCOMP)
        self.assertEqual(comp.pid, 777)

        p = sub.expect(m.PUBLISH)
        self.assertEqual((p.topic, p.payload, p.qos, p.dup), ("q2/t", b"two", 2, False))
        self.assertNotEqual(p.pid, 0)
        sub.send(m.pubrec(p.pid))
        rel = sub.expect(m.PUBREL)
        self.assertEqual((rel.pid, rel.flags), (p.pid, 0x02))
        sub.send(m.pubcomp(p.pid))
        sub.expect_nothing(0.5)

    def test_qos2_unknown_pubrel_gets_pubcomp(self):
        # A PUBREL for a packet id the broker does not hold is answered with PUBCOMP (the
        # client may be retrying after a reconnect).
        c = self.raw()
        c.send(m.pubrel(999))
        self.assertEqual(c.expect(m.PUBCOMP).pid, 999)

    def test_delivery_qos_is_min_of_publish_and_subscription(self):
        subs = {}
        for sq in (0, 1, 2):
            subs[sq] = self.raw()
            self.assertEqual(subs[sq].subscribe([("min/t", sq)]), [sq])
        pub = self.raw()
        for pq in (0, 1, 2):
            pub.publish("min/t", b"pub%d" % pq, qos=pq)
            for sq, sub in subs.items():
                p = sub.recv_publish()
                self.assertEqual(p.payload, b"pub%d" % pq)
                self.assertEqual(p.qos, min(pq, sq), "pub qos %d, sub qos %d" % (pq, sq))

    def test_overlapping_subscriptions_delivered_once_at_highest_qos(self):
        sub = self.raw()
        self.assertEqual(sub.subscribe([("ov/#", 1), ("ov/b", 2)]), [1, 2])
        pub = self.raw()
        pub.publish("ov/b", b"x", qos=2)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload, p.qos), ("ov/b", b"x", 2))
        sub.expect_nothing(0.5)

    @xfail_on_mosquitto("with overlapping subscriptions it delivers once, but at the QoS of "
                        "the exact-match subscription, not the maximum (MQTT-3.3.5-1)")
    def test_overlapping_subscriptions_wildcard_has_highest_qos(self):
        sub = self.raw()
        self.assertEqual(sub.subscribe([("ow/+", 2), ("ow/b", 0), ("#", 1)]), [2, 0, 1])
        pub = self.raw()
        pub.publish("ow/b", b"y", qos=2)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload, p.qos), ("ow/b", b"y", 2))
        sub.expect_nothing(0.5)

    def test_order_kept_per_topic(self):
        n = 200
        subs = [(self.raw(), q) for q in (0, 1, 2)]
        for s, q in subs:
            s.subscribe([("ord/t", q)])
        pub = self.raw()
        # pipelined QoS 1 publishes: all sent before any PUBACK is read
        pub.send(b"".join(m.publish("ord/t", b"%d" % i, qos=1, pid=i + 1) for i in range(n)))
        acks = [pub.expect(m.PUBACK).pid for _ in range(n)]
        self.assertEqual(sorted(acks), list(range(1, n + 1)))
        for s, q in subs:
            got = [int(s.recv_publish().payload) for _ in range(n)]
            self.assertEqual(got, list(range(n)), "order at subscription QoS %d" % q)

    def test_order_kept_across_qos_levels_on_one_topic(self):
        sub = self.raw()
        sub.subscribe([("mix/t", 2)])
        pub = self.raw()
        for i in range(30):
            pub.publish("mix/t", b"%d" % i, qos=i % 3)
        got = [int(sub.recv_publish().payload) for _ in range(30)]
        self.assertEqual(got, list(range(30)))

    def test_qos2_exactly_once_with_dup_resend(self):
        sub = self.raw()
        sub.subscribe([("eo/t", 2)])
        pub = self.raw()
        pub.send(m.publish("eo/t", b"only-once", qos=2, pid=31))
        self.assertEqual(pub.expect(m.PUBREC).pid, 31)
        # the publisher did not see the PUBREC (as far as the broker knows) and resends
        pub.send(m.publish("eo/t", b"only-once", qos=2, pid=31, dup=True))
        self.assertEqual(pub.expect(m.PUBREC).pid, 31)
        pub.send(m.pubrel(31))
        self.assertEqual(pub.expect(m.PUBCOMP).pid, 31)
        p = sub.recv_publish()
        self.assertEqual((p.payload, p.qos), (b"only-once", 2))
        sub.expect_nothing(0.7)
        # the packet id is free again: a new message with it is a new message
        pub.publish("eo/t", b"second", qos=2)
        self.assertEqual(sub.recv_publish().payload, b"second")

    def test_qos1_dup_resend_is_acknowledged(self):
        # QoS 1 is at-least-once: a resent PUBLISH (DUP) is acknowledged again.
        sub = self.raw()
        sub.subscribe([("dup1/t", 1)])
        pub = self.raw()
        pub.send(m.publish("dup1/t", b"a", qos=1, pid=5))
        self.assertEqual(pub.expect(m.PUBACK).pid, 5)
        pub.send(m.publish("dup1/t", b"a", qos=1, pid=5, dup=True))
        self.assertEqual(pub.expect(m.PUBACK).pid, 5)
        self.assertEqual(sub.recv_publish().payload, b"a")

    def test_subscriber_packet_ids_distinct_while_in_flight(self):
        sub = self.raw()
        sub.subscribe([("pids/t", 2)])
        pub = self.raw()
        for i in range(10):
            pub.publish("pids/t", b"%d" % i, qos=1 + i % 2)
        got = [sub.expect(m.PUBLISH) for _ in range(10)]
        pids = [p.pid for p in got]
        self.assertEqual(len(set(pids)), 10, "packet ids in flight must differ: %r" % pids)
        self.assertNotIn(0, pids)
        for p in got:
            sub.ack(p)
        sub.expect_nothing(0.3)

    def test_empty_and_large_payloads(self):
        sub = self.raw()
        sub.subscribe([("size/#", 1)])
        pub = self.raw()
        big = bytes(range(256)) * 1024  # 256 KiB, every byte value
        pub.publish("size/empty", b"", qos=1)
        pub.publish("size/big", big, qos=1)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload), ("size/empty", b""))
        p = sub.recv_publish(timeout=10)
        self.assertEqual(p.topic, "size/big")
        self.assertTrue(p.payload == big, "256 KiB payload intact")

    def test_utf8_topic_and_binary_payload(self):
        sub = self.raw()
        topic = "ü/温度/℃"
        sub.subscribe([(topic, 1)])
        pub = self.raw()
        pub.publish(topic, b"\x00\xff\x00", qos=1)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload), (topic, b"\x00\xff\x00"))

    def test_paho_qos_roundtrip_31_and_311(self):
        for proto in ("31", "311"):
            for qos in (0, 1, 2):
                with self.subTest(protocol=proto, qos=qos):
                    t = "pq/%s/%d" % (proto, qos)
                    sub = self.paho(protocol=proto)
                    sub.subscribe(t, qos)
                    pub = self.paho(protocol=proto)
                    for i in range(5):
                        pub.publish(t, b"%d" % i, qos=qos)
                    got = [sub.get() for _ in range(5)]
                    self.assertEqual(got, [(t, b"%d" % i, qos, False) for i in range(5)])
                    pub.disconnect()
                    sub.disconnect()

    def test_mosquitto_pub_sub_qos2_lines(self):
        sub = self.mosquitto_sub("-t", "mq/lines", "-q", "2", count=5)
        r = harness.subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "mq/lines",
             "-q", "2", "-l"], input=b"l1\nl2\nl3\nl4\nl5\n", stdout=harness.subprocess.PIPE,
            stderr=harness.subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        lines = [ln for ln in out.splitlines() if ln.startswith("l")]
        self.assertEqual(lines, ["l1", "l2", "l3", "l4", "l5"])

    @broker_options(max_inflight_messages=20)
    @xfail_on_mosquitto("its QoS 1 window accounting is off when more than "
                        "max_inflight_messages queue for an online subscriber: PEERS.md saw "
                        "stalls, here it puts more than 20 in flight; timing-dependent",
                        strict=False)
    def test_inflight_window_1000_qos1_to_slow_subscriber(self):
        n = 1000
        sub = self.raw()
        sub.subscribe([("win/t", 1)])
        received = []
        problems = []
        done = threading.Event()
        acked = [0]
        max_unacked = [0]  # received but not yet acknowledged by us: never above the window

        def slow_acker():
            # Acks everything it has read, but only every 10 ms: the broker keeps hitting its
            # in-flight window and must queue the rest, then release it in order.
            pending = []
            last = time.monotonic()
            try:
                while len(received) < n:
                    try:
                        p = sub.recv(timeout=0.01)
                    except m.Timeout:
                        p = None
                    if p is not None:
                        if p.type != m.PUBLISH:
                            problems.append("unexpected %r" % p)
                            return
                        received.append(p)
                        pending.append(p.pid)
                        max_unacked[0] = max(max_unacked[0], len(received) - acked[0])
                        last = time.monotonic()
                    if pending and (p is None or len(pending) >= 25):
                        time.sleep(0.01)
                        sub.send(b"".join(m.puback(pid) for pid in pending))
                        acked[0] += len(pending)
                        pending = []
                    if time.monotonic() - last > 5:
                        problems.append("stalled: nothing for 5 s after %d messages"
                                        % len(received))
                        return
                if pending:
                    sub.send(b"".join(m.puback(pid) for pid in pending))
            except Exception as e:  # reported below
                problems.append(repr(e))
            finally:
                done.set()

        t = threading.Thread(target=slow_acker, daemon=True)
        t.start()
        pub = self.raw()
        pub.send(b"".join(m.publish("win/t", b"%d" % i, qos=1, pid=i % 65535 + 1)
                          for i in range(n)))
        for _ in range(n):
            pub.expect(m.PUBACK, timeout=10)
        done.wait(60)
        self.assertEqual(problems, [])
        self.assertEqual(len(received), n)
        payloads = [int(p.payload) for p in received]
        self.assertEqual(payloads, list(range(n)), "all 1000 in order, no loss, no repeat")
        self.assertFalse(any(p.dup for p in received), "nothing resent on a live connection")
        self.assertLessEqual(max_unacked[0], 20, "more than max_inflight_messages in flight: %d" % max_unacked[0])


if __name__ == "__main__":
    harness.main()
