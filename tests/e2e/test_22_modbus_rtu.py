#!/usr/bin/python3
"""Modbus RTU end to end (shared/spec/SPEC.md, "[[modbus]]"): two unit ids on one serial line,
a socat pseudo-terminal pair with pymodbus's RTU server (modbus_peer.py) on the far end.

- both units are polled on the one line and publish their values; a command writes over it;
- one unit stops answering: it goes offline and bad, and the other keeps its poll rate (SPEC.md:
  "a device that stops answering is polled less often (capped back-off) so that it never
  stalls the other devices on its line"); it answers again: back online with good values.

fieldgate only (skipped on Mosquitto). Peers: pymodbus 3.0.0rc1, socat, paho-mqtt 1.6.1."""

import time

import harness
from modbus_peer import ModbusTestCase, PtyPair, modbus_device

POLL_MS = 200
BAUD = 19200


class RtuTest(ModbusTestCase):
    def setUp(self):
        super().setUp()
        self.pty = PtyPair()
        self.addCleanup(self.pty.close)
        self.peer = self.start_peer(units=(1, 2), tcp=False, rtu=self.pty.peer_end, baud=BAUD)

    def device(self, name, unit_id, points, timeout_ms=300, retries=1):
        return modbus_device(name, points, transport="rtu", serial=self.pty.gateway_end,
                             baud=BAUD, unit_id=unit_id, poll_ms=POLL_MS,
                             timeout_ms=timeout_ms, retries=retries)

    def start(self):
        self.peer.set_value(1, "holding", 0, "float32", 21.5, "CDAB")
        self.peer.set_value(1, "holding", 2, "int16", 215)
        self.peer.set_value(2, "input", 0, "uint32", 123456, "CDAB")
        self.peer.set_bits(2, "coil", 0, [1])
        self.start_gateway(
            self.device("boiler", 1, [
                dict(name="temperature", table="holding", address=0, type="float32",
                     order="CDAB", unit="°C"),
                dict(name="setpoint", table="holding", address=2, type="int16", scale=0.1,
                     writable=True)]) +
            self.device("meter", 2, [
                dict(name="energy", table="input", address=0, type="uint32", order="CDAB"),
                dict(name="relay", table="coil", address=0, type="bool")]))
        self.wait_availability("boiler", "online")
        self.wait_availability("meter", "online")
        p = self.wait_good("boiler", "temperature", 21.5)
        self.assertEqual(p["unit"], "°C")
        self.assert_fresh(p)
        self.wait_good("boiler", "setpoint", 21.5)
        self.wait_good("meter", "energy", 123456)
        self.wait_good("meter", "relay", True)

    def poll_count(self, unit, window):
        self.peer.reset_counts()
        time.sleep(window)
        return sum(self.peer.counts(unit).values())

    def test_two_units_on_one_line(self):
        self.start()
        since = time.monotonic()
        self.peer.set_value(2, "input", 0, "uint32", 123457, "CDAB")
        self.wait_good("meter", "energy", 123457, since=since)
        # a command goes over the same line
        result = self.command("boiler", "setpoint", "22.5")
        self.assertEqual(result, {"ok": True})
        self.assertEqual(self.peer.get(1, "holding", 2), [225])
        self.wait_good("boiler", "setpoint", 22.5, since=since)
        # each unit is polled at its rate (one holding read for the boiler; an input and a
        # coil read for the meter, per cycle)
        window = 2.0
        self.peer.reset_counts()
        time.sleep(window)
        counts = self.peer.counts()
        nominal = window * 1000 / POLL_MS  # 10 cycles
        self.assertGreaterEqual(counts.get(1, {}).get(3, 0), 0.6 * nominal, counts)
        self.assertLessEqual(counts.get(1, {}).get(3, 0), nominal + 2, counts)
        self.assertGreaterEqual(counts.get(2, {}).get(4, 0), 0.6 * nominal, counts)
        self.assertGreaterEqual(counts.get(2, {}).get(1, 0), 0.6 * nominal, counts)

    def test_silent_unit_does_not_stall_the_line(self):
        self.start()
        window = 3.0
        nominal = window * 1000 / POLL_MS  # meter poll cycles in the window: 15
        muted = time.monotonic()
        self.peer.mute(1)
        self.wait_availability("boiler", "offline", since=muted)
        p = self.wait_bad("boiler", "temperature", since=muted)
        self.assertIsNone(p["value"], p)
        self.assertIn("timeout", p.get("error", "").lower(), p)
        self.wait_bad("boiler", "setpoint", since=muted)
        # Every attempt on the silent boiler costs (retries + 1) * timeout_ms = 600 ms of line
        # time, three poll periods: polled every cycle it would leave the meter a quarter of
        # its rate. Let the back-off settle a moment, then count the meter's cycles (one
        # input read each).
        time.sleep(1.0)
        self.peer.reset_counts()
        time.sleep(window)
        meter = self.peer.counts(2).get(4, 0)
        boiler = sum(self.peer.counts(1).values())
        self.assertGreaterEqual(meter, 0.6 * nominal,
                                "meter polled %d times in %.1f s (nominal %d; the silent boiler "
                                "got %d requests)" % (meter, window, nominal, boiler))
        # the meter stays online and its values keep coming
        self.assertEqual(self.inbox.on("e2e/availability/meter", muted), [])
        since = time.monotonic()
        self.peer.set_value(2, "input", 0, "uint32", 200000, "CDAB")
        self.wait_good("meter", "energy", 200000, timeout=2.0, since=since)

        # the boiler answers again: back within its (capped) back-off
        self.peer.mute(1, on=False)
        self.wait_availability("boiler", "online", timeout=15, since=since)
        self.wait_good("boiler", "temperature", 21.5, timeout=5, since=since)
        self.wait_good("boiler", "setpoint", 21.5, timeout=5, since=since)


if __name__ == "__main__":
    harness.main()
