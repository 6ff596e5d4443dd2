#!/usr/bin/python3
"""Modbus TCP devices end to end (shared/spec/SPEC.md, "[[modbus]]", "Value encoding in
registers", "Topics and payloads"): fieldgate polls a pymodbus server (modbus_peer.py) and
publishes what it reads on e2e/{device}/{point}; commands on .../set write back.

- every type and word order, bits of coils, discrete inputs and registers, strings, scale,
  offset, unit, address_base, payload = "value": exact values, quality good, ts near now;
- topic templates ({gateway}, {protocol}, {device}, {point}), per-point topic and retain;
- the planner's batching, counted on the server: one read per table per poll cycle for
  neighbouring points; an illegal address inside a batch makes only that point bad;
- a server that dies: points bad with an error, availability offline; back on the same port:
  online and good values again; a unit that stops answering on a shared endpoint does not stop
  the other;
- commands: coils, int16 with scale, float32 in CDAB checked in the server's registers; bad
  values and non-writable points refused with an error that never reaches the server;
- deadband and heartbeat_s.

fieldgate only (skipped on Mosquitto). Peers: pymodbus 3.0.0rc1, paho-mqtt 1.6.1."""

import queue
import time

import harness
from modbus_peer import ModbusTestCase, bad, encode, good, parse_payload, tcp_device

POLL_MS = 250
POLL_S = POLL_MS / 1000.0

ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
# type -> (a value whose bytes read differently in every order, registers)
WIDE_VALUES = {
    "int32": (-2000000000, 2),
    "uint32": (4000000000, 2),
    "float32": (-1234.5, 2),  # exact in a float32, so its shortest spelling is unambiguous
    "int64": (-1234567890123456789, 4),  # not exact in a double: proves 64-bit stays exact
    "uint64": (0xFEDCBA9876543210, 4),
    "float64": (6.02214076e23, 4),
}


class TypesTest(ModbusTestCase):
    def setUp(self):
        super().setUp()
        self.peer = self.start_peer(units=(1, 2))

    def test_every_type_and_order(self):
        peer = self.peer
        points = []
        expected = {}  # point -> value

        def point(name, value, **keys):
            points.append(dict(name=name, **keys))
            expected[name] = value

        # bools: coils, discrete inputs, one bit of a register, a whole register (!= 0)
        peer.set_bits(1, "coil", 0, [1, 0])
        point("coil_on", True, table="coil", address=0, type="bool")
        point("coil_off", False, table="coil", address=1, type="bool")
        peer.set_bits(1, "discrete", 0, [0, 1])
        point("di_off", False, table="discrete", address=0, type="bool")
        point("di_on", True, table="discrete", address=1, type="bool")
        peer.set_registers(1, "holding", 0, [0x8008, 5])
        point("bit3", True, table="holding", address=0, type="bool", bit=3)
        point("bit2", False, table="holding", address=0, type="bool", bit=2)
        point("bit15", True, table="holding", address=0, type="bool", bit=15)
        point("nonzero", True, table="holding", address=1, type="bool")
        # 16-bit
        peer.set_value(1, "holding", 2, "int16", -1234)
        point("i16", -1234, table="holding", address=2, type="int16")
        peer.set_value(1, "holding", 3, "uint16", 65535)
        point("u16", 65535, table="holding", address=3, type="uint16")
        # 32- and 64-bit in every order
        address = 10
        for type_, (value, count) in WIDE_VALUES.items():
            for order in ORDERS:
                peer.set_value(1, "holding", address, type_, value, order)
                point("%s_%s" % (type_, order.lower()), value, table="holding",
                      address=address, type=type_, order=order)
                address += count
        self.assertLessEqual(address, 100)
        # strings: SPEC.md says both properties of the order (bytes swapped inside a register,
        # registers least significant first) also apply to strings; for CDAB/DCBA we take
        # "least significant first" as the registers in reverse order, as the codec does.
        for i, order in enumerate(ORDERS):
            peer.set_value(1, "holding", 100 + 4 * i, "string", "Hello", order, length=4)
            point("str_%s" % order.lower(), "Hello", table="holding", address=100 + 4 * i,
                  type="string", length=4, order=order)
        peer.set_value(1, "holding", 120, "string", "ab  ", length=3)  # trailing spaces, NULs
        point("str_trimmed", "ab", table="holding", address=120, type="string", length=3)
        # scale, offset, unit
        peer.set_value(1, "holding", 130, "int16", 215)
        point("setpoint", 21.5, table="holding", address=130, type="int16", scale=0.1,
              unit="°C")
        peer.set_value(1, "holding", 131, "int16", -40)
        point("scaled_offset", 80.0, table="holding", address=131, type="int16", scale=0.5,
              offset=100.0)
        peer.set_value(1, "holding", 132, "uint16", 300)
        point("kelvin", 300 - 273.15, table="holding", address=132, type="uint16",
              offset=-273.15, unit="°C")
        peer.set_value(1, "input", 0, "uint32", 123456, "CDAB")
        point("energy", 1234.56, table="input", address=0, type="uint32", order="CDAB",
              scale=0.01, unit="kWh")
        peer.set_value(1, "input", 2, "float32", 21.5)
        point("in_float", 21.5, table="input", address=2, type="float32")
        # payload = "value": the bare value as text
        peer.set_value(1, "holding", 140, "int16", -7)
        peer.set_value(1, "holding", 141, "string", "ok", length=2)
        bare = [dict(name="bare_int", table="holding", address=140, type="int16",
                     payload="value"),
                dict(name="bare_text", table="holding", address=141, type="string", length=2,
                     payload="value")]
        # address_base = 1 on a second unit behind the same endpoint (one shared connection):
        # address 1 is wire address 0
        peer.set_registers(2, "holding", 0, [4242, 1111])
        peer.set_bits(2, "coil", 0, [1, 0])
        manual = [dict(name="first_register", table="holding", address=1, type="int16"),
                  dict(name="first_coil", table="coil", address=1, type="bool")]

        self.start_gateway(tcp_device("plc", peer, points + bare, poll_ms=POLL_MS) +
                           tcp_device("manual", peer, manual, unit_id=2, address_base=1,
                                      poll_ms=POLL_MS))
        self.wait_availability("plc", "online")
        self.wait_availability("manual", "online")
        units = {"setpoint": "°C", "kelvin": "°C", "energy": "kWh"}
        scaled = ("setpoint", "scaled_offset", "kelvin", "energy")
        for name, value in expected.items():
            p = self.wait_good("plc", name)
            if name in scaled:
                # raw * scale + offset in doubles: equal to what Python computes, give or take
                # the last bit (80.0 may well be spelled 80)
                self.assertAlmostEqual(p["value"], value, delta=1e-9, msg=name)
            else:
                self.assertEqual(p["value"], value, name)
                # integers stay integers (JSON numbers without a fraction), bools stay bools
                self.assertIs(type(p["value"]), type(value), "%s: %r" % (name, p))
            self.assertEqual(p["quality"], "good", name)
            self.assertNotIn("error", p, name)
            self.assertEqual(p.get("unit"), units.get(name), "%s: %r" % (name, p))
            self.assert_fresh(p)
        self.assertEqual(self.inbox.wait("e2e/plc/bare_int"), -7)
        self.assertEqual(self.inbox.wait("e2e/plc/bare_text"), "ok")
        self.assertEqual(self.wait_good("manual", "first_register")["value"], 4242)
        self.assertIs(self.wait_good("manual", "first_coil")["value"], True)

        # availability and values are retained: a client that subscribes now gets them
        late = self.paho()
        late.subscribe("e2e/availability/plc")
        topic, payload, _qos, retain = late.get()
        self.assertEqual((topic, payload, retain), ("e2e/availability/plc", b"online", True))
        late.subscribe("e2e/plc/i16")
        topic, payload, _qos, retain = late.get()
        self.assertEqual(topic, "e2e/plc/i16")
        self.assertTrue(retain)

    def test_value_changes_are_published(self):
        self.peer.set_value(1, "holding", 0, "float32", 20.5, "CDAB")
        self.start_gateway(tcp_device("plc", self.peer, [
            dict(name="t", table="holding", address=0, type="float32", order="CDAB")],
            poll_ms=POLL_MS))
        self.wait_good("plc", "t", 20.5)
        since = time.monotonic()
        self.peer.set_value(1, "holding", 0, "float32", -3.25, "CDAB")
        p = self.wait_good("plc", "t", -3.25, since=since)
        self.assert_fresh(p, window_s=2.0)


class TopicTest(ModbusTestCase):
    def test_templates_and_per_point_overrides(self):
        peer = self.start_peer()
        peer.set_value(1, "holding", 0, "int16", 1)
        peer.set_value(1, "holding", 1, "int16", 2)
        peer.set_value(1, "holding", 2, "int16", 3)
        peer.set_value(1, "holding", 3, "int16", 4)
        self.start_gateway(tcp_device("plc", peer, [
            dict(name="a", table="holding", address=0, type="int16"),
            dict(name="b", table="holding", address=1, type="int16",
                 topic="site/{gateway}/{device}/{point}/raw"),
            dict(name="c", table="holding", address=2, type="int16", topic="literal/c",
                 writable=True),
            dict(name="d", table="holding", address=3, type="int16", retain=False),
        ], poll_ms=POLL_MS), mapping='topic = "{gateway}/{protocol}/{device}/{point}"')
        self.assertEqual(self.inbox.wait("e2e/modbus/plc/a", good)["value"], 1)
        self.assertEqual(self.inbox.wait("site/e2e/plc/b/raw", good)["value"], 2)
        self.assertEqual(self.inbox.wait("literal/c", good)["value"], 3)
        # d is not retained: its first value went out before this test subscribed, so change it
        peer.set_value(1, "holding", 3, "int16", 5)
        self.assertEqual(self.inbox.wait("e2e/modbus/plc/d", good)["value"], 5)
        # availability keeps its own topic whatever the template
        self.wait_availability("plc", "online")
        # commands follow the point's topic
        self.assertEqual(self.command("plc", "c", "30", topic="literal/c"), {"ok": True})
        self.assertEqual(peer.get(1, "holding", 2), [30])
        # retain = false: a late subscriber gets the retained points only
        late = self.paho()
        late.subscribe("e2e/modbus/plc/+")
        topic, _payload, _qos, retain = late.get()
        self.assertEqual((topic, retain), ("e2e/modbus/plc/a", True))
        late.get_nothing(timeout=0.3)


class BatchingTest(ModbusTestCase):
    def setUp(self):
        super().setUp()
        self.peer = self.start_peer()

    def test_neighbouring_points_are_read_in_one_request_per_table(self):
        points = [dict(name="h%d" % a, table="holding", address=a, type="int16")
                  for a in range(12)]
        points.append(dict(name="f", table="holding", address=12, type="float32"))
        points.append(dict(name="flag", table="holding", address=14, type="bool", bit=0))
        points += [dict(name="c%d" % a, table="coil", address=a, type="bool") for a in range(4)]
        self.peer.set_registers(1, "holding", 0, list(range(100, 112)))
        self.peer.set_value(1, "holding", 12, "float32", 1.5)
        self.peer.set_registers(1, "holding", 14, [1])
        self.peer.set_bits(1, "coil", 0, [1, 0, 1, 1])
        self.start_gateway(tcp_device("plc", self.peer, points, poll_ms=POLL_MS))
        for a in range(12):
            self.wait_good("plc", "h%d" % a, 100 + a)
        self.wait_good("plc", "f", 1.5)
        self.wait_good("plc", "c3", True)

        window = 2.0
        self.peer.reset_counts()
        time.sleep(window)
        counts = self.peer.counts(1)
        cycles = window / POLL_S  # 8
        # one holding read (function code 3) and one coil read (1) per cycle, nothing else;
        # a read per point would be 15 + 4 requests a cycle
        self.assertEqual(set(counts), {1, 3}, counts)
        self.assertLessEqual(abs(counts[3] - counts[1]), 1, counts)
        self.assertGreaterEqual(counts[3], cycles * 0.5, counts)
        self.assertLessEqual(counts[3], cycles + 2, counts)

    def test_illegal_address_in_a_batch_takes_only_its_point_down(self):
        points = [dict(name="h%d" % a, table="holding", address=a, type="uint16")
                  for a in range(8)]
        self.peer.set_registers(1, "holding", 0, list(range(10, 18)))
        self.peer.illegal(1, "holding", [5])
        self.start_gateway(tcp_device("plc", self.peer, points, poll_ms=POLL_MS))
        self.wait_availability("plc", "online")
        p = self.wait_bad("plc", "h5")
        self.assertIsNone(p["value"], p)
        error = p.get("error", "").lower()
        self.assertTrue("exception 2" in error or "illegal data address" in error, p)
        self.assert_fresh(p)
        for a in range(8):
            if a != 5:
                self.wait_good("plc", "h%d" % a, 10 + a)
        # the neighbours stay good cycle after cycle, and h5 is not repeated while its error
        # stays the same (SPEC.md: published once, again only if the reason changes)
        since = time.monotonic()
        self.peer.set_registers(1, "holding", 4, [99])
        self.peer.set_registers(1, "holding", 6, [98])
        self.wait_good("plc", "h4", 99, since=since)
        self.wait_good("plc", "h6", 98, since=since)
        time.sleep(4 * POLL_S)
        self.assertEqual(self.inbox.on("e2e/plc/h5", since), [])
        # An exception is an answer: the device is still there. (Our reading of SPEC.md:
        # offline is for "a device that stops answering".)
        self.assertEqual(self.inbox.on("e2e/availability/plc", since), [])
        # the address comes back: so does the point
        self.peer.illegal(1, "holding", [5], on=False)
        self.wait_good("plc", "h5", 15, since=since)


class FailureTest(ModbusTestCase):
    def test_server_killed_and_restarted(self):
        peer = self.start_peer()
        peer.set_value(1, "holding", 0, "int32", 123456)
        peer.set_bits(1, "coil", 0, [1])
        self.start_gateway(tcp_device("plc", peer, [
            dict(name="count", table="holding", address=0, type="int32"),
            dict(name="pump", table="coil", address=0, type="bool")],
            poll_ms=POLL_MS, timeout_ms=300, retries=0))
        self.wait_availability("plc", "online")
        self.wait_good("plc", "count", 123456)
        self.wait_good("plc", "pump", True)

        killed = time.monotonic()
        peer.kill()
        self.wait_availability("plc", "offline", since=killed)
        for name in ("count", "pump"):
            p = self.wait_bad("plc", name, since=killed)
            self.assertIsNone(p["value"], p)
            self.assertTrue(p.get("error"), "a bad reading says why: %r" % p)
            self.assert_fresh(p)
        time.sleep(6 * POLL_S)  # a few failed polls and reconnect attempts
        for name in ("count", "pump"):
            messages = [parse_payload(m[2]) for m in self.inbox.on("e2e/plc/" + name, killed)]
            while messages and good(messages[0]):
                messages.pop(0)  # read just before the kill, published just after
            self.assertTrue(messages and all(bad(m) for m in messages), messages)
            # bad readings are published once, again only when the reason changes
            errors = [m.get("error") for m in messages]
            for a, b in zip(errors, errors[1:]):
                self.assertNotEqual(a, b, "the same bad reading twice: %r" % messages)

        restarted = time.monotonic()
        peer.restart()  # same port, same values
        # "online and good values within a couple of poll periods" (issue 4); reconnecting
        # with back-off may take a little longer: allow a few seconds
        self.wait_availability("plc", "online", timeout=6, since=restarted)
        self.wait_good("plc", "count", 123456, timeout=6, since=restarted)
        self.wait_good("plc", "pump", True, timeout=6, since=restarted)
        # and it keeps polling: a new value shows
        since = time.monotonic()
        peer.set_value(1, "holding", 0, "int32", -5)
        self.wait_good("plc", "count", -5, since=since)

    def test_unreachable_at_start_then_appears(self):
        # SPEC.md: an unreachable host is not a configuration error; the adapter keeps
        # retrying and reports the device offline
        peer = self.start_peer()
        peer.set_value(1, "holding", 0, "uint16", 7)
        peer.kill()
        self.start_gateway(tcp_device("plc", peer, [
            dict(name="v", table="holding", address=0, type="uint16")],
            poll_ms=POLL_MS, timeout_ms=300, retries=0))
        self.wait_availability("plc", "offline")
        self.assertTrue(self.wait_bad("plc", "v").get("error"))
        peer.restart()
        self.wait_availability("plc", "online", timeout=8)
        self.wait_good("plc", "v", 7, timeout=8)

    def test_silent_unit_does_not_stop_its_neighbour_on_the_endpoint(self):
        peer = self.start_peer(units=(1, 2))
        peer.set_value(1, "holding", 0, "uint16", 11)
        peer.set_value(2, "holding", 0, "uint16", 22)
        self.start_gateway(
            tcp_device("a", peer, [dict(name="v", table="holding", address=0, type="uint16")],
                       unit_id=1, poll_ms=POLL_MS, timeout_ms=300, retries=0) +
            tcp_device("b", peer, [dict(name="v", table="holding", address=0, type="uint16")],
                       unit_id=2, poll_ms=POLL_MS, timeout_ms=300, retries=0))
        self.wait_availability("a", "online")
        self.wait_availability("b", "online")
        self.wait_good("a", "v", 11)
        self.wait_good("b", "v", 22)
        muted = time.monotonic()
        peer.mute(1)
        self.wait_availability("a", "offline", since=muted)
        p = self.wait_bad("a", "v", since=muted)
        self.assertIn("timeout", p.get("error", "").lower(), p)
        # b keeps being polled: a change shows within a second or so
        since = time.monotonic()
        peer.set_value(2, "holding", 0, "uint16", 23)
        self.wait_good("b", "v", 23, timeout=2.5, since=since)
        self.assertEqual(self.inbox.on("e2e/availability/b", muted), [])
        peer.mute(1, on=False)
        self.wait_availability("a", "online", timeout=10, since=since)
        self.wait_good("a", "v", 11, timeout=10, since=since)


class CommandTest(ModbusTestCase):
    def setUp(self):
        super().setUp()
        self.peer = self.start_peer()
        self.peer.set_bits(1, "coil", 0, [0])
        self.peer.set_value(1, "holding", 10, "int16", 200)
        self.peer.set_value(1, "holding", 11, "int16", 0)
        self.peer.set_value(1, "holding", 20, "float32", 1.0, "CDAB")
        self.peer.set_value(1, "holding", 30, "int16", 42)
        self.start_gateway(tcp_device("plc", self.peer, [
            dict(name="pump", table="coil", address=0, type="bool", writable=True),
            dict(name="setpoint", table="holding", address=10, type="int16", scale=0.1,
                 unit="°C", writable=True),
            dict(name="half", table="holding", address=11, type="int16", scale=0.5,
                 writable=True),
            dict(name="flow", table="holding", address=20, type="float32", order="CDAB",
                 writable=True),
            dict(name="readonly", table="holding", address=30, type="int16"),
        ], poll_ms=POLL_MS))
        self.wait_availability("plc", "online")
        self.wait_good("plc", "pump", False)
        self.wait_good("plc", "setpoint", 20.0)
        self.wait_good("plc", "half", 0)
        self.wait_good("plc", "flow", 1.0)
        self.wait_good("plc", "readonly", 42)

    def assert_ok(self, result):
        self.assertEqual(result, {"ok": True})

    def assert_refused(self, result):
        self.assertIsInstance(result, dict, result)
        self.assertIs(result.get("ok"), False, result)
        self.assertIsInstance(result.get("error"), str, result)
        self.assertTrue(result["error"].strip(), result)

    def test_coil(self):
        since = time.monotonic()
        self.assert_ok(self.command("plc", "pump", "true"))
        self.assertEqual(self.peer.get(1, "coil", 0), [1])
        # the value read back is published
        self.wait_good("plc", "pump", True, since=since)
        self.assert_ok(self.command("plc", "pump", '{"value": false}'))
        self.assertEqual(self.peer.get(1, "coil", 0), [0])
        self.assert_ok(self.command("plc", "pump", "1"))
        self.assertEqual(self.peer.get(1, "coil", 0), [1])
        counts = self.peer.counts(1)
        self.assertGreaterEqual(counts.get(5, 0) + counts.get(15, 0), 3, counts)

    def test_int16_with_scale(self):
        since = time.monotonic()
        self.assert_ok(self.command("plc", "setpoint", "21.5"))
        self.assertEqual(self.peer.get(1, "holding", 10), [215])
        self.wait_good("plc", "setpoint", 21.5, since=since)
        self.assert_ok(self.command("plc", "setpoint", '{"value": -5}'))
        self.assertEqual(self.peer.get(1, "holding", 10), encode("int16", -50))
        # SPEC.md: writes round to the nearest raw value, halves away from zero
        self.assert_ok(self.command("plc", "half", "10.25"))  # raw 20.5
        self.assertEqual(self.peer.get(1, "holding", 11), [21])
        self.assert_ok(self.command("plc", "half", "-10.25"))
        self.assertEqual(self.peer.get(1, "holding", 11), encode("int16", -21))
        self.assert_ok(self.command("plc", "half", "3.6"))  # raw 7.2
        self.assertEqual(self.peer.get(1, "holding", 11), [7])
        counts = self.peer.counts(1)
        self.assertGreaterEqual(counts.get(6, 0) + counts.get(16, 0), 5, counts)

    def test_float32_cdab(self):
        since = time.monotonic()
        self.assert_ok(self.command("plc", "flow", "21.5"))
        self.assertEqual(self.peer.get(1, "holding", 20, 2), encode("float32", 21.5, "CDAB"))
        self.assertEqual(self.peer.get(1, "holding", 20, 2), [0x0000, 0x41AC])
        self.wait_good("plc", "flow", 21.5, since=since)
        self.assert_ok(self.command("plc", "flow", '{"value": -0.125}'))
        self.assertEqual(self.peer.get_value(1, "holding", 20, "float32", "CDAB"), -0.125)
        # a value of two registers is written in one request (function code 16), never as
        # two single-register writes that a poll could see half done
        counts = self.peer.counts(1)
        self.assertEqual(counts.get(6, 0), 0, counts)
        self.assertEqual(counts.get(16, 0), 2, counts)

    def test_bad_commands_never_reach_the_device(self):
        self.peer.reset_counts()
        for point, payload in [
            ("setpoint", "5000"),             # raw 50000: beyond int16
            ("setpoint", "-3276.9"),          # raw -32769
            ("setpoint", "warm"),             # not a number
            ("setpoint", '{"value": "warm"}'),
            ("setpoint", ""),
            ("half", "1e400"),                # not a finite number
            ("flow", "fast"),
            ("pump", "banana"),               # not a bool
            ("pump", "2"),
            ("readonly", "1"),                # not writable
            ("readonly", '{"value": 43}'),
        ]:
            with self.subTest(point=point, payload=payload):
                self.assert_refused(self.command("plc", point, payload))
        self.assertEqual(self.peer.writes(1), 0, self.peer.counts(1))
        self.assertEqual(self.peer.get(1, "coil", 0), [0])
        self.assertEqual(self.peer.get(1, "holding", 10), [200])
        self.assertEqual(self.peer.get(1, "holding", 30), [42])
        self.assertEqual(self.peer.get_value(1, "holding", 20, "float32", "CDAB"), 1.0)
        # the gateway still takes good commands afterwards
        self.assert_ok(self.command("plc", "setpoint", "20.5"))
        self.assertEqual(self.peer.get(1, "holding", 10), [205])


class PublishingRulesTest(ModbusTestCase):
    def setUp(self):
        super().setUp()
        self.peer = self.start_peer()

    def test_deadband(self):
        self.peer.set_value(1, "holding", 0, "float32", 20.0)
        self.peer.set_value(1, "holding", 2, "int16", 1)
        self.peer.set_value(1, "holding", 3, "int16", 5)
        self.start_gateway(tcp_device("plc", self.peer, [
            dict(name="temp", table="holding", address=0, type="float32", deadband=0.5),
            dict(name="count", table="holding", address=2, type="int16"),
            dict(name="steady", table="holding", address=3, type="int16"),
        ], poll_ms=POLL_MS))
        self.wait_good("plc", "temp", 20.0)
        self.wait_good("plc", "count", 1)
        self.wait_good("plc", "steady", 5)

        # below the deadband (from the value last published): nothing
        since = time.monotonic()
        self.peer.set_value(1, "holding", 0, "float32", 20.25)
        time.sleep(4 * POLL_S)
        self.assertEqual(self.inbox.on("e2e/plc/temp", since), [])
        # at least the deadband away from 20.0: published
        self.peer.set_value(1, "holding", 0, "float32", 20.5)
        self.wait_good("plc", "temp", 20.5, since=since)
        # small steps do not add up against the last published value... until they do
        since = time.monotonic()
        self.peer.set_value(1, "holding", 0, "float32", 20.75)
        time.sleep(4 * POLL_S)
        self.assertEqual(self.inbox.on("e2e/plc/temp", since), [])
        self.peer.set_value(1, "holding", 0, "float32", 20.0)  # 0.5 below 20.5
        self.wait_good("plc", "temp", 20.0, since=since)
        # without a deadband every change is published, and an unchanged value is not
        # repeated (heartbeat_s = 0)
        self.peer.set_value(1, "holding", 2, "int16", 2)
        self.wait_good("plc", "count", 2, since=since)
        self.assertEqual(len(self.inbox.on("e2e/plc/steady")), 1)

    def test_heartbeat(self):
        self.peer.set_value(1, "holding", 0, "int16", 7)
        self.start_gateway(tcp_device("plc", self.peer, [
            dict(name="steady", table="holding", address=0, type="int16")],
            poll_ms=POLL_MS), mapping="heartbeat_s = 1")
        self.wait_good("plc", "steady", 7)
        since = time.monotonic()
        time.sleep(3.6)
        messages = [parse_payload(m[2]) for m in self.inbox.on("e2e/plc/steady", since)]
        # at least every second, not every poll (that would be ~14)
        self.assertGreaterEqual(len(messages), 2, messages)
        self.assertLessEqual(len(messages), 5, messages)
        for m in messages:
            self.assertTrue(good(m), m)
            self.assertEqual(m["value"], 7, m)
            self.assert_fresh(m)



class Mqtt5CommandTest(ModbusTestCase):
    """SPEC.md: "for an MQTT 5 command that carries a response topic and correlation data, the
    result goes there instead" (of <point topic>/set/result)."""

    def test_result_goes_to_the_response_topic_with_the_correlation_data(self):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        peer = self.start_peer()
        self.start_gateway(tcp_device("plc", peer, [
            dict(name="sp", table="holding", address=0, type="int16", scale=0.1,
                 writable=True)], poll_ms=200))
        self.wait_good("plc", "sp", 0)
        replies = queue.Queue()
        client = mqtt.Client(client_id="e2e-v5-requester", protocol=mqtt.MQTTv5)
        client.on_message = lambda _c, _u, m: replies.put(m)
        subscribed = queue.Queue()
        client.on_subscribe = lambda *args: subscribed.put(True)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        self.addCleanup(client.loop_stop)
        self.addCleanup(client.disconnect)
        client.subscribe("app/replies/#", qos=1)
        subscribed.get(timeout=5)

        def request(payload, reply_to, correlation):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_to
            props.CorrelationData = correlation
            client.publish(self.topic("plc", "sp") + "/set", payload, qos=1, properties=props)
            m = replies.get(timeout=5)
            return m.topic, parse_payload(m.payload), m.properties.CorrelationData

        since = time.monotonic()
        self.assertEqual(request("21.5", "app/replies/1", b"\x00req-1"),
                         ("app/replies/1", {"ok": True}, b"\x00req-1"))
        self.assertEqual(peer.get(1, "holding", 0), [215])
        topic, result, correlation = request("hot", "app/replies/2", b"req-2")
        self.assertEqual((topic, result["ok"], correlation), ("app/replies/2", False, b"req-2"))
        # the results went to the response topics only, not to .../set/result
        time.sleep(0.3)
        self.assertEqual(self.inbox.on(self.topic("plc", "sp") + "/set/result", since), [])

if __name__ == "__main__":
    harness.main()
