#!/usr/bin/python3
"""systemd's notify protocol: READY=1 once serving, WATCHDOG=1 from the event loop at half the
watchdog period with a STATUS= line (clients connected, devices online), STOPPING=1 on
SIGTERM. The test plays systemd's part with a datagram socket
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

    @harness.broker_options(
        env={"NOTIFY_SOCKET": NOTIFY_PATH, "WATCHDOG_USEC": WATCHDOG_USEC},
        extra_config=lambda broker: "\n".join([
            "[[modbus]]", 'name = "nobody"', 'host = "127.0.0.1"',
            "port = %d" % harness.free_port(),  # nothing listens there: offline
            "[[modbus.point]]", 'name = "x"', 'table = "holding"', "address = 0",
            'type = "uint16"']))
    def test_status_line_counts_clients_and_devices(self):
        self.assertIn("READY=1", messages(2.0))
        client = self.raw()
        client.ping()
        status = [m for m in messages(1.0) if m.startswith("STATUS=")]
        self.assertIn("STATUS=1 client connected, 0 of 1 device online", status)
        client.close()


if __name__ == "__main__":
    harness.main()
