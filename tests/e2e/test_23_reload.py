#!/usr/bin/python3
"""SIGHUP reloads the config (shared/spec/SPEC.md, "Command line"): devices, points and mapping
change without dropping MQTT clients; a config with errors is refused with its errors logged and
the running one keeps going.

fieldgate only (skipped on Mosquitto). Peers: pymodbus 3.0.0rc1 (modbus_peer.py), paho-mqtt."""

import signal
import time

import harness
from modbus_peer import ModbusTestCase, good, tcp_device

POINT_A = dict(name="a", table="holding", address=0, type="uint16")
POINT_B = dict(name="b", table="holding", address=1, type="uint16")
POINT_C = dict(name="c", table="holding", address=2, type="uint16", writable=True)


class ReloadTest(ModbusTestCase):
    def reload_with(self, extra_config):
        self.broker.options["extra_config"] = extra_config
        self.broker._fieldgate_config()  # rewrites the config file the broker runs with
        self.broker.proc.send_signal(signal.SIGHUP)

    def test_devices_and_points_change_and_clients_stay(self):
        peer = self.start_peer()
        for address, value in ((0, 10), (1, 11), (2, 12)):
            peer.set_value(1, "holding", address, "uint16", value)
        self.start_gateway(tcp_device("plc", peer, [POINT_A, POINT_B], poll_ms=200))
        self.wait_good("plc", "a", 10)
        self.wait_good("plc", "b", 11)

        since = time.monotonic()
        self.reload_with(tcp_device("plc", peer, [POINT_A, POINT_C], poll_ms=200))
        self.wait_good("plc", "c", 12, since=since)
        # b is gone: its retained value is cleared
        self.inbox.wait(self.topic("plc", "b"), lambda p: p == "", since=since,
                        what="an empty retained message clearing the removed point")
        # the new point takes commands, the subscriber that saw it all is still connected
        self.assertEqual(self.command("plc", "c", "42"), {"ok": True})
        self.assertEqual(peer.get(1, "holding", 2), [42])
        since = time.monotonic()
        peer.set_value(1, "holding", 0, "uint16", 20)
        self.wait_good("plc", "a", 20, since=since)
        self.assertNotIn("e2e-", "".join(
            line for line in self.broker.log_text().splitlines()
            if "disconnected" in line and "ready-probe" not in line))
        self.assertIn("configuration reloaded", self.broker.log_text())

    def test_config_with_errors_is_refused_and_the_old_one_runs_on(self):
        peer = self.start_peer()
        peer.set_value(1, "holding", 0, "uint16", 1)
        self.start_gateway(tcp_device("plc", peer, [POINT_A], poll_ms=200))
        self.wait_good("plc", "a", 1)
        self.reload_with(tcp_device("plc", peer, [POINT_A], poll_ms=200) + "\npoll_msec = 5\n")
        harness.wait_for(lambda: "the running configuration stays in force"
                         in self.broker.log_text(), what="the refusal in the log")
        self.assertIn("poll_msec", self.broker.log_text())
        since = time.monotonic()
        peer.set_value(1, "holding", 0, "uint16", 2)
        self.wait_good("plc", "a", 2, since=since)


if __name__ == "__main__":
    harness.main()
