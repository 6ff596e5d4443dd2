#!/usr/bin/python3
"""Persistence (fieldgate only): persistent sessions, their queued and in-flight QoS 1/2
messages, inbound QoS 2 ids and retained messages survive a restart (SIGTERM) and a crash
(SIGKILL) of the broker; what the broker acknowledged is never lost; a full disk refuses QoS 1/2
without losing anything; sessions expire; start-up errors exit with code 2.

Skipped on Mosquitto: its persistence is a periodic snapshot, not a store committed before the
acknowledgement."""

import os
import signal
import time
import unittest

import harness
import mqttraw as m
from harness import BrokerTestCase

TERM, KILL = signal.SIGTERM, signal.SIGKILL


def seq_of(payload):
    """The sequence number at the end of a payload b"<label>-<seq>"."""
    return int(bytes(payload).rsplit(b"-", 1)[1])


def collect(c, quiet=0.5, total=10.0, ack=True):
    """Read what the broker sends on c until quiet seconds without a packet (at most total
    seconds). With ack, completes the receiver side of every QoS 1/2 flow (PUBACK; PUBREC and,
    on PUBREL, PUBCOMP), pipelined. Returns the PUBLISH packets in arrival order; other packets
    (PUBRELs with ack=False, ...) are in c.others."""
    got = []
    c.others = []
    deadline = time.monotonic() + total
    while time.monotonic() < deadline:
        try:
            p = c.recv(min(quiet, max(0.01, deadline - time.monotonic())))
        except m.Timeout:
            return got
        except m.Closed:
            raise AssertionError("connection closed while collecting (got %d PUBLISHes)"
                                 % len(got))
        if p.type == m.PUBLISH:
            got.append(p)
            if ack and p.qos == 1:
                c.send(m.puback(p.pid))
            elif ack and p.qos == 2:
                c.send(m.pubrec(p.pid))
        elif p.type == m.PUBREL and ack:
            c.send(m.pubcomp(p.pid))
        else:
            c.others.append(p)
    raise AssertionError("still receiving after %.0f s (got %d PUBLISHes)" % (total, len(got)))


class Flow:
    """A pipelined raw publisher: keeps up to `window` QoS 1/2 messages outstanding and runs
    their flows (PUBREL on PUBREC). Records what the broker acknowledged: `acked` has the seqs
    whose PUBACK (QoS 1) or PUBREC (QoS 2) arrived, `done` those whose flow completed (PUBACK,
    PUBCOMP). Stops quietly when the connection goes (self.closed)."""

    def __init__(self, client, topic, label, qos):
        self.c, self.topic, self.label, self.qos = client, topic, label, qos
        self.sent = {}      # pid -> seq of what is outstanding
        self.seq_pid = {}   # seq -> pid, every message sent
        self.acked, self.done = set(), set()
        self.released = set()   # QoS 2: PUBREL sent (pid), PUBCOMP not yet received
        self.closed = False
        self.next_seq = 0

    def payload(self, seq):
        return b"%s-%05d" % (self.label.encode(), seq)

    def send_next(self):
        seq = self.next_seq
        self.next_seq += 1
        pid = seq + 1
        self.seq_pid[seq] = pid
        self.sent[pid] = seq
        self._send(m.publish(self.topic, self.payload(seq), self.qos, pid=pid))
        return seq

    def _send(self, data):
        if self.closed:
            return
        try:
            self.c.send(data)
        except OSError:
            self.closed = True

    def poll(self, timeout):
        """Handle one packet if one arrives within timeout; False if none (or closed)."""
        if self.closed:
            return False
        try:
            p = self.c.recv(timeout)
        except m.Timeout:
            return False
        except m.Closed:
            self.closed = True
            return False
        seq = self.sent.get(p.pid)
        if seq is None:
            raise AssertionError("unexpected %r" % p)
        if p.type == m.PUBACK and self.qos == 1:
            self.acked.add(seq)
            self.done.add(seq)
            del self.sent[p.pid]
        elif p.type == m.PUBREC and self.qos == 2:
            self.acked.add(seq)
            self.released.add(p.pid)
            self._send(m.pubrel(p.pid))
        elif p.type == m.PUBCOMP and self.qos == 2 and p.pid in self.released:
            self.done.add(seq)
            self.released.discard(p.pid)
            del self.sent[p.pid]
        else:
            raise AssertionError("unexpected %r" % p)
        return True

    def run(self, count, window=20, timeout=20.0):
        """Send count more messages, at most window outstanding; wait until all are done."""
        target = self.next_seq + count
        deadline = time.monotonic() + timeout
        while len(self.done) < target:
            if self.closed:
                raise AssertionError("publisher connection closed (%d of %d done)"
                                     % (len(self.done), target))
            while self.next_seq < target and len(self.sent) < window:
                self.send_next()
            if time.monotonic() > deadline:
                raise AssertionError("publishing: %d of %d done after %.0f s"
                                     % (len(self.done), target, timeout))
            self.poll(0.2)

    def drain_until_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() > deadline:
                raise AssertionError("publisher connection still open %.0f s after the broker "
                                     "was killed" % timeout)
            self.poll(0.2)


@unittest.skipIf(harness.TARGET == "mosquitto",
                 "fieldgate's persistence only: Mosquitto saves its state periodically")
class PersistenceTest(BrokerTestCase):
    broker_options = {"persistence": True}

    # -- helpers --
    def restart(self, sig=TERM, **options):
        rc = self.broker.restart(sig, **options)
        self.port = self.broker.port
        if sig == TERM:
            self.assertEqual(rc, 0, "exit code after SIGTERM")
        else:
            self.assertEqual(rc, -sig, "killed by %s" % sig.name)

    def reconnect(self, cid, session_present, clean=False):
        c = self.raw(connect=False)
        ack = c.connect(cid, clean=clean)
        self.assertEqual(ack.session_present, session_present,
                         "session present for %s after the restart" % cid)
        return c

    def persistent_sub(self, cid, filters, stay=False):
        c = self.raw(cid, clean=False)
        c.subscribe(filters)
        if not stay:
            c.disconnect()
        return c

    def log_count(self, text):
        return self.broker.log_text().count(text)

    # -- 1: offline queue across SIGTERM --
    def test_offline_queue_survives_sigterm(self):
        n = 200
        self.persistent_sub("q-sub", [("q/#", 2)])
        pub = self.raw("q-pub")
        # N QoS 1 and N QoS 2, alternating, each acknowledged (PUBACK / PUBCOMP) in turn
        for i in range(n):
            pub.publish("q/one", b"q1-%05d" % i, qos=1)
            pub.publish("q/two", b"q2-%05d" % i, qos=2)
        pub.disconnect()
        self.restart(TERM)
        c = self.reconnect("q-sub", 1)
        got = collect(c, quiet=1.0)
        q1 = [(p.payload, p.topic) for p in got if p.qos == 1]
        q2 = [(p.payload, p.topic) for p in got if p.qos == 2]
        self.assertEqual(len(got), len(q1) + len(q2), "only QoS 1 and 2 deliveries")
        self.assertEqual(q1, [(b"q1-%05d" % i, "q/one") for i in range(n)], "QoS 1, in order")
        self.assertEqual(q2, [(b"q2-%05d" % i, "q/two") for i in range(n)],
                         "QoS 2, in order, exactly once")
        self.assertFalse(any(p.dup for p in got), "never sent before: DUP=0")
        c.disconnect()
        # all acknowledged: nothing more, neither on reconnect nor after another restart
        c = self.reconnect("q-sub", 1)
        c.expect_nothing(0.5)
        c.disconnect()
        self.restart(TERM)
        c = self.reconnect("q-sub", 1)
        c.expect_nothing(0.5)

    # -- 2: SIGKILL in the middle of a publish stream --
    def _kill_during_stream(self, qos):
        label = "k%d" % qos
        self.persistent_sub(label + "-sub", [("k/#", 2)])
        pub = self.raw(label + "-pub", clean=False)
        flow = Flow(pub, "k/%d" % qos, label, qos)
        flow.run(120)                       # a steady stream ...
        for _ in range(60):                 # ... then a burst nobody waits for
            flow.send_next()
        self.broker.proc.kill()             # SIGKILL while those are in flight
        for _ in range(20):                 # sent after the kill: never acknowledged
            flow.send_next()
        flow.drain_until_closed()           # PUBACK/PUBRECs that made it out before the kill
        sent = set(range(flow.next_seq))
        self.assertGreaterEqual(len(flow.acked), 120)
        self.restart(KILL)

        sub = self.reconnect(label + "-sub", 1)
        got = [seq_of(p.payload) for p in collect(sub, quiet=1.0)]
        missing = sorted(flow.acked - set(got))
        self.assertEqual(missing, [], "acknowledged (PUBACK/PUBREC) before the kill but not "
                         "delivered after the restart (%d acked, %d received)"
                         % (len(flow.acked), len(got)))
        self.assertLessEqual(set(got), sent)
        first = []
        for s in got:
            if s not in first:
                first.append(s)
        self.assertEqual(first, sorted(first), "in publish order")
        if qos == 2:
            self.assertEqual(len(got), len(set(got)), "QoS 2: no duplicates")
            # The publisher completes its flows as a client must on reconnect: PUBREL for what
            # got a PUBREC, the PUBLISH again (DUP=1, same id) for what did not. Then every
            # message it sent is delivered exactly once, in order.
            pub = self.reconnect(label + "-pub", 1)
            flow.c, flow.closed = pub, False
            for pid in sorted(flow.released):
                pub.send(m.pubrel(pid))
            for pid, seq in sorted(flow.sent.items()):
                if pid not in flow.released:
                    pub.send(m.publish(flow.topic, flow.payload(seq), 2, dup=True, pid=pid))
            deadline = time.monotonic() + 10
            while flow.sent and time.monotonic() < deadline:
                flow.poll(0.2)
            self.assertEqual(flow.sent, {}, "flows completed after the restart")
            got += [seq_of(p.payload) for p in collect(sub, quiet=0.5)]
            self.assertEqual(got, sorted(sent), "QoS 2: every message exactly once, in order")

    def test_sigkill_during_qos1_stream_loses_nothing_acknowledged(self):
        self._kill_during_stream(1)

    def test_sigkill_during_qos2_stream_loses_nothing_acknowledged(self):
        self._kill_during_stream(2)

    # -- 3: in-flight state of a subscriber --
    def _inflight_survives(self, sig):
        sub = self.persistent_sub("if-sub", [("if/#", 2)], stay=True)
        pub = self.raw("if-pub")
        pub.publish("if/1", b"one", qos=1)
        pub.publish("if/2", b"two", qos=2)
        pub.publish("if/3", b"three", qos=2)
        p1, p2, p3 = (sub.expect(m.PUBLISH) for _ in range(3))
        self.assertEqual([(p.payload, p.qos) for p in (p1, p2, p3)],
                         [(b"one", 1), (b"two", 2), (b"three", 2)])
        sub.send(m.pubrec(p3.pid))          # "three": PUBREC, but no PUBCOMP
        self.assertEqual(sub.expect(m.PUBREL).pid, p3.pid)
        self.restart(sig)                   # nothing acknowledged: "one" and "two" in flight

        c = self.reconnect("if-sub", 1)
        got = collect(c, ack=False, quiet=0.7)
        rels = [p for p in c.others if p.type == m.PUBREL]
        with self.subTest("PUBREL again for the PUBREC'd QoS 2 message"):
            self.assertEqual([(p.pid, p.flags) for p in rels], [(p3.pid, 0x02)],
                             "packets: %r %r" % (got, c.others))
        with self.subTest("nothing but the two unacknowledged PUBLISHes and the PUBREL"):
            self.assertEqual(sorted(p.payload for p in got), [b"one", b"two"],
                             "packets: %r %r" % (got, c.others))
            self.assertEqual(len(c.others), len(rels), "packets: %r" % c.others)
        two = [p for p in got if p.payload == b"two"]
        with self.subTest("QoS 2 PUBLISH again with DUP=1 and its packet id"):
            self.assertEqual([(p.qos, p.dup, p.pid) for p in two], [(2, True, p2.pid)])
        with self.subTest("resent in the order first sent (MQTT-4.6.0-1)"):
            self.assertEqual([p.payload for p in got], [b"one", b"two"],
                             "packets: %r %r" % (got, c.others))
        one = [p for p in got if p.payload == b"one"]
        with self.subTest("QoS 1 PUBLISH again with DUP=1"):
            self.assertEqual([(p.qos, p.dup) for p in one], [(1, True)],
                             "QoS 1 in flight before the restart (first sent with id %d): %r"
                             % (p1.pid, one))
        # acknowledge everything: then nothing more comes, now or after a reconnect
        for p in got:
            if p.qos == 1:
                c.send(m.puback(p.pid))
            else:
                c.send(m.pubrec(p.pid))
        for p in rels:
            c.send(m.pubcomp(p.pid))
        rest = collect(c, quiet=0.5)
        self.assertEqual(rest, [], "after the acks")
        c.disconnect()
        c = self.reconnect("if-sub", 1)
        self.assertEqual(collect(c, quiet=0.5), [])
        self.assertEqual(c.others, [])

    def test_inflight_survives_sigterm(self):
        self._inflight_survives(TERM)

    def test_inflight_survives_sigkill(self):
        self._inflight_survives(KILL)

    @harness.broker_options(durability="power", max_packet_size=16 << 20)
    def test_qos2_completed_by_subscriber_not_delivered_again_after_sigkill(self):
        """The subscriber completes QoS 2 flows (PUBREC, PUBREL from the broker, PUBCOMP) and
        the broker is killed right after its PUBRELs went out. After the restart the broker
        may send PUBREL again, but never the PUBLISH: the client has let go of those packet
        ids, so a PUBLISH with one of them would be a new message (a second delivery)."""
        n = 20  # the default in-flight window
        sub = self.persistent_sub("x2-sub", [("x2/#", 2)], stay=True)
        pub = self.raw("x2-pub")
        Flow(pub, "x2/t", "x2", 2).run(n)
        got = [sub.expect(m.PUBLISH) for _ in range(n)]
        # Another client keeps the store busy for a moment (a large retained message), as
        # other traffic does on a busy broker: the PUBRECs' writes wait for the next commit.
        busy = self.raw("x2-busy")
        busy.send(m.publish("x2-busy/big", b"b" * (8 << 20), qos=0, retain=True))
        busy.ping()
        sub.send(b"".join(m.pubrec(p.pid) for p in got))
        rels = [sub.expect(m.PUBREL) for _ in range(n)]
        sub.send(b"".join(m.pubcomp(p.pid) for p in rels))
        self.broker.proc.kill()
        self.restart(KILL)
        c = self.reconnect("x2-sub", 1)
        again = collect(c)
        self.assertEqual(again, [], "QoS 2 PUBLISHes delivered a second time (their PUBREL and "
                         "PUBCOMP had been exchanged before the kill); other packets: %r"
                         % c.others)

    # -- 4: inbound QoS 2 exactly once across a restart --
    def _inbound_qos2(self, sig):
        online = self.persistent_sub("in-on", [("in/t", 2)], stay=True)
        self.persistent_sub("in-off", [("in/t", 2)])
        pub = self.raw("in-pub", clean=False)
        pub.send(m.publish("in/t", b"once", qos=2, pid=7))
        self.assertEqual(pub.expect(m.PUBREC).pid, 7)   # PUBREL never sent
        self.assertEqual([p.payload for p in collect(online)], [b"once"])
        online.disconnect()
        time.sleep(0.3)  # the online subscriber's PUBCOMP is not part of this test
        self.restart(sig)

        pub = self.reconnect("in-pub", 1)
        pub.send(m.publish("in/t", b"once", qos=2, dup=True, pid=7))
        self.assertEqual(pub.expect(m.PUBREC).pid, 7)
        pub.send(m.pubrel(7))
        self.assertEqual(pub.expect(m.PUBCOMP).pid, 7)
        on = self.reconnect("in-on", 1)
        self.assertEqual(collect(on), [], "already delivered before the restart")
        off = self.reconnect("in-off", 1)
        self.assertEqual([(p.payload, p.qos) for p in collect(off)], [(b"once", 2)],
                         "queued before the restart, delivered once")
        # the id is free again: a new message with id 7 is a new message
        pub.publish("in/t", b"next", qos=2)
        self.assertEqual([p.payload for p in collect(off)], [b"next"])
        self.assertEqual([p.payload for p in collect(on)], [b"next"])

    def test_inbound_qos2_exactly_once_across_sigterm(self):
        self._inbound_qos2(TERM)

    def test_inbound_qos2_exactly_once_across_sigkill(self):
        self._inbound_qos2(KILL)

    # -- 5: retained messages --
    def _retained(self, sig):
        pub = self.raw()
        pub.publish("r/keep1", b"k1", qos=1, retain=True)
        pub.publish("r/keep2", b"k2", qos=2, retain=True)
        pub.publish("r/gone", b"g", qos=1, retain=True)
        pub.publish("r/gone", b"", qos=1, retain=True)      # cleared before the restart
        pub.publish("r/gone2", b"g2", qos=2, retain=True)   # cleared after the first restart
        pub.publish("r/replaced", b"old", qos=1, retain=True)
        if sig == TERM:  # QoS 0 has no acknowledgement: only a clean stop promises it
            pub.send(m.publish("r/zero", b"z0", qos=0, retain=True))
            pub.ping()
        self.restart(sig)
        pub = self.raw()
        pub.publish("r/gone2", b"", qos=1, retain=True)
        pub.publish("r/replaced", b"new", qos=2, retain=True)
        self.restart(sig)

        c = self.raw()
        c.subscribe([("r/#", 2)])
        got = {p.topic: (p.payload, p.qos, p.retain) for p in collect(c)}
        expected = {"r/keep1": (b"k1", 1, True), "r/keep2": (b"k2", 2, True),
                    "r/replaced": (b"new", 2, True)}
        if sig == TERM:
            expected["r/zero"] = (b"z0", 0, True)
        self.assertEqual(got, expected)

    def test_retained_survive_sigterm(self):
        self._retained(TERM)

    def test_retained_survive_sigkill(self):
        self._retained(KILL)

    # -- 6: subscriptions --
    def _subscriptions(self, sig):
        sub = self.raw("s-sub", clean=False)
        self.assertEqual(sub.subscribe([("s/+", 1), ("sb/#", 2), ("sc/#", 1)]), [1, 2, 1])
        sub.unsubscribe(["sc/#"])
        if sig == TERM:
            sub.disconnect()
        self.restart(sig)   # SIGKILL: right after the UNSUBACK, the client still connected
        pub = self.raw()
        pub.publish("s/x", b"after", qos=1)
        pub.publish("sb/y/z", b"after2", qos=2)
        pub.publish("sc/x", b"unsubscribed", qos=1)
        c = self.reconnect("s-sub", 1)
        got = [(p.topic, p.payload, p.qos) for p in collect(c)]
        self.assertEqual(got, [("s/x", b"after", 1), ("sb/y/z", b"after2", 2)])

    def test_subscriptions_survive_sigterm(self):
        self._subscriptions(TERM)

    def test_subscriptions_survive_sigkill(self):
        self._subscriptions(KILL)

    # -- 7: clean sessions leave nothing --
    def test_clean_session_leaves_nothing(self):
        c = self.raw("cs-a", clean=True)
        c.subscribe([("cs/#", 1)])
        pub = self.raw()
        pub.publish("cs/x", b"x", qos=1)
        self.assertEqual(c.expect(m.PUBLISH).payload, b"x")  # left unacknowledged
        c.disconnect()
        # a persistent session, then discarded by a clean_session=1 connect
        self.persistent_sub("cs-b", [("cs/#", 2)])
        pub.publish("cs/y", b"queued", qos=1)
        d = self.reconnect("cs-b", 0, clean=True)
        d.disconnect()
        self.restart(TERM)
        for cid in ("cs-a", "cs-b"):
            c = self.reconnect(cid, 0)
            pub = self.raw()
            pub.publish("cs/z", b"z", qos=1)
            self.assertEqual(collect(c), [], "%s has no subscription, nothing queued" % cid)
            c.disconnect()

    @harness.broker_options(durability="power", max_packet_size=16 << 20)
    def test_clean_session_discarding_a_session_survives_sigkill(self):
        """A clean_session=1 CONNACK tells the client its old session is gone: after a crash
        the old session must not come back (same store-busy setup as the QoS 2 test above)."""
        self.persistent_sub("cs-k", [("csk/#", 1)])
        busy = self.raw("cs-busy")
        busy.send(m.publish("cs-busy/big", b"b" * (8 << 20), qos=0, retain=True))
        busy.ping()
        d = self.reconnect("cs-k", 0, clean=True)
        d.disconnect()
        self.broker.proc.kill()
        self.restart(KILL)
        self.reconnect("cs-k", 0)

    # -- 8: full disk --
    FULL_PAGES = 150   # 4096-byte pages: the empty database (8 pages) fits, ~45 x 10 KB do not

    @harness.broker_options(env={"FIELDGATE_STORE_MAX_PAGES": FULL_PAGES})
    def test_full_disk_refuses_qos1_and_loses_nothing_acknowledged(self):
        error_line = "cannot write the state database"
        pub = self.raw("full-pub")
        acked, refused = [], None
        for i in range(300):
            pid = pub.pid()
            pub.send(m.publish("full/%03d" % i, b"%05d" % i + b"x" * 10240, qos=1, retain=True,
                               pid=pid))
            try:
                p = pub.recv(5.0)
            except m.Closed:
                refused = i
                break
            self.assertEqual((p.type, p.pid), (m.PUBACK, pid), "reply %r" % p)
            acked.append(i)
        self.assertIsNotNone(refused, "300 x 10 KB retained messages all stored under a cap "
                             "of %d pages" % self.FULL_PAGES)
        self.assertGreater(len(acked), 5, "the cap leaves room for a few messages")
        harness.wait_for(lambda: self.log_count(error_line), what="the store error in the log")
        # a second publisher is refused while the disk is full; QoS 0 still goes through
        sub = self.raw()
        sub.subscribe([("live/#", 1)])
        q0 = self.raw()
        q0.send(m.publish("live/q0", b"still", qos=0))
        self.assertEqual(sub.recv_publish().payload, b"still")
        other = self.raw("full-other")
        other.send(m.publish("live/q1", b"refused", qos=1, pid=1))
        got = other.wait_closed(timeout=3.0)
        self.assertEqual([p for p in got if p.type == m.PUBACK], [], "no PUBACK when refused")
        time.sleep(1.5)  # the broker retries every second: the log still says it once
        self.assertEqual(self.log_count(error_line), 1, "the store error is logged once")

        # restart without the cap: everything acknowledged is there, and QoS 1 works again
        self.restart(TERM, env={})
        c = self.raw()
        c.subscribe([("full/#", 1)])
        stored = sorted(int(p.topic.split("/")[1]) for p in collect(c, quiet=1.0))
        self.assertEqual(sorted(set(acked) - set(stored)), [],
                         "acknowledged retained messages lost")
        self.assertLessEqual(set(stored), set(acked) | {refused})
        pub = self.raw("full-pub2")
        pub.publish("full/new", b"y" * 10240, qos=1, retain=True)
        self.assert_broker_works("QoS 1 after the restart without the cap")

    @harness.broker_options(env={"FIELDGATE_STORE_MAX_PAGES": FULL_PAGES})
    def test_full_disk_recovers_when_space_is_freed(self):
        """Clearing retained messages (QoS 0, empty payload) frees pages: the broker then
        stores again and accepts QoS 1 publishes without a restart."""
        pub = self.raw("free-pub")
        acked = []
        for i in range(300):
            try:
                pub.publish("free/%03d" % i, b"x" * 10240, qos=1, retain=True)
            except AssertionError:
                break
            acked.append(i)
        self.assertLess(len(acked), 300, "the disk never got full")
        clear = self.raw("free-clear")
        for i in acked:
            clear.send(m.publish("free/%03d" % i, b"", qos=0, retain=True))
        clear.ping()
        deadline = time.monotonic() + 5.0
        while True:
            c = self.raw("free-again")
            try:
                c.publish("free/again", b"z", qos=1, timeout=1.0)
                break
            except (AssertionError, OSError):
                if time.monotonic() > deadline:
                    self.fail("QoS 1 still refused 5 s after the retained messages were cleared")
                time.sleep(0.3)
        self.assertEqual(self.log_count("writes again"), 1, "recovery logged")
        self.assert_broker_works("after the recovery")

    # -- 9: session expiry --
    @harness.broker_options(persistent_session_expiry_s=2)
    def test_persistent_session_expiry_across_restart(self):
        self.persistent_sub("ex-old", [("ex/#", 1)])
        time.sleep(2.5)
        self.persistent_sub("ex-new", [("ex/#", 1)])
        self.broker.stop()
        time.sleep(0.5)     # ex-old away 3 s (> 2), ex-new 0.5 s
        self.broker.start(same_port=True)
        self.port = self.broker.port
        self.reconnect("ex-old", 0).disconnect()
        self.reconnect("ex-new", 1).disconnect()
        self.assertEqual(self.log_count("session ex-old expired"), 1)
        self.assertEqual(self.log_count("session ex-new expired"), 0)

    # -- 10: start-up errors --
    def test_garbage_database_exit_2(self):
        db = os.path.join(self.broker.tmpdir, "fieldgate.db")
        self.assertEqual(self.broker.stop(), 0)
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        with open(db, "wb") as f:
            f.write(b"this is not a database\n" * 1000)
        rc, out, err = self.broker.run_to_exit()
        self.assertEqual(rc, 2, "exit code; stderr %r" % err)
        self.assertIn(db, err, "stderr names the file")
        self.assertRegex(err, r"(?i)not a (fieldgate )?database|corrupt")
        self.assertRegex(err, r"(?i)move it away|restore|remove|delete", "says what to do")

    def test_second_instance_on_same_state_dir_exit_2(self):
        db = os.path.join(self.broker.tmpdir, "fieldgate.db")
        rc, out, err = self.broker.run_to_exit()
        self.assertEqual(rc, 2, "exit code; stderr %r" % err)
        self.assertIn(db, err, "stderr names the file")
        self.assertRegex(err, r"(?i)in use|locked")
        self.assertTrue(self.broker.alive(), "the first instance keeps running")
        self.assert_broker_works("the first instance still works")


if __name__ == "__main__":
    harness.main()
