#!/usr/bin/python3
"""Shutdown: SIGTERM (and SIGINT) stop the broker cleanly, exit code 0, even with clients
connected and messages in flight."""

import signal
import time

import harness
import mqttraw as m
from harness import BrokerTestCase


class ShutdownTest(BrokerTestCase):

    def _busy_broker(self):
        """Clients in every state: idle, persistent session with an unacknowledged QoS 1
        message, a QoS 2 exchange half done, an offline session with queued messages."""
        idle = self.raw()
        sub = self.raw("sd-sub", clean=False)
        sub.subscribe([("sd/#", 2)])
        off = self.raw("sd-off", clean=False)
        off.subscribe([("sd/#", 1)])
        off.disconnect()
        pub = self.raw()
        pub.publish("sd/q1", b"unacked", qos=1)
        sub.expect(m.PUBLISH)  # not acknowledged
        pub.send(m.publish("sd/q2", b"half", qos=2, pid=50))
        pub.expect(m.PUBREC)   # PUBREL never sent
        return [idle, sub, pub]

    def _stop(self, sig):
        clients = self._busy_broker()
        start = time.monotonic()
        self.broker.proc.send_signal(sig)
        for c in clients:
            c.wait_closed(timeout=10)
        rc = self.broker.stop()
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(rc, 0, "exit code after %s" % sig.name)

    def test_sigterm_exit_0_with_clients(self):
        self._stop(signal.SIGTERM)

    def test_sigint_exit_0_with_clients(self):
        self._stop(signal.SIGINT)

    def test_sigterm_exit_0_idle(self):
        rc = self.broker.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
