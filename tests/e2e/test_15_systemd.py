#!/usr/bin/python3
"""systemd's notify protocol: READY=1 once serving, WATCHDOG=1 from the event loop at half the
watchdog period, STOPPING=1 on SIGTERM. The test plays systemd's part with a datagram socket
named by NOTIFY_SOCKET."""

import os
import socket
import tempfile
import time
import unittest

import harness
from harness import BrokerTestCase

NOTIFY_DIR = tempfile.mkdtemp(prefix="fieldgate-notify-")
NOTIFY_PATH = os.path.join(NOTIFY_DIR, "notify")
NOTIFY = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
NOTIFY.bind(NOTIFY_PATH)
WATCHDOG_USEC = 400000  # systemd asks for a WATCHDOG=1 at least every 0.4 s


def messages(timeout):
    """The notify datagrams that arrive within timeout seconds."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        NOTIFY.settimeout(left)
        try:
            got.extend(NOTIFY.recv(4096).decode().split("\n"))
        except socket.timeout:
            return got


@unittest.skipIf(harness.TARGET == "mosquitto", "fieldgate's systemd integration")
class NotifyTest(BrokerTestCase):

    @harness.broker_options(env={"NOTIFY_SOCKET": NOTIFY_PATH, "WATCHDOG_USEC": WATCHDOG_USEC})
    def test_ready_watchdog_stopping(self):
        self.assertIn("READY=1", messages(2.0))
        beats = messages(1.0).count("WATCHDOG=1")
        # Every 0.2 s: about 5 in a second; at least 3 leaves room for a busy machine.
        self.assertGreaterEqual(beats, 3, "WATCHDOG=1 from the loop")
        self.raw().ping()  # serving while it beats
        self.assertEqual(self.broker.stop(), 0)
        self.assertIn("STOPPING=1", messages(1.0))


if __name__ == "__main__":
    harness.main()
