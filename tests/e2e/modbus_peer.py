#!/usr/bin/python3
"""A pymodbus server for the Modbus end-to-end tests, and the helpers the tests drive it with.

As a program (pymodbus 3.0.0rc1, Debian's python3-pymodbus: run it with /usr/bin/python3):

  modbus_peer.py --units 1,2 [--tcp 127.0.0.1:PORT] [--rtu /path/to/pty --baud 19200]
                 --control 127.0.0.1:CPORT

serves one datastore per unit (coils, discrete inputs, holding and input registers, addresses
0..9999, all zero) over Modbus TCP and/or Modbus RTU on a serial device (one end of a socat pty
pair), and prints READY on stdout once everything listens. The control port speaks line-based
JSON, one request line -> one reply line ({"ok": true, ...} or {"ok": false, "error": "..."}):

  {"op": "ping"}
  {"op": "set", "unit": 1, "table": "holding", "address": 0, "values": [1, 2]}
  {"op": "get", "unit": 1, "table": "coil", "address": 0, "count": 8}   -> "values": [0, 1, ...]
  {"op": "illegal", "unit": 1, "table": "holding", "addresses": [5], "on": true}
      a read or write touching one of these addresses gets Modbus exception 2
  {"op": "mute", "unit": 1, "on": true}
      the unit stops answering (no reply at all, over TCP and RTU); its requests still count
  {"op": "counts"}          -> "counts": {"1": {"3": 4, "1": 2}, ...}: requests per unit and
                               function code, each request the server receives counted once
  {"op": "reset_counts"}

As a module (the tests import it): ModbusPeer starts and controls that program, PtyPair makes a
socat pseudo-terminal pair, encode() lays values out in registers as SPEC.md ("Value encoding
in registers") says.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TABLES = ("coil", "discrete", "holding", "input")
BIT_TABLES = ("coil", "discrete")
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
SIZE = 10000  # addresses 0..9999 in every table

# function codes that write (the tests check that refused commands never reach the peer)
WRITE_FUNCTION_CODES = (5, 6, 15, 16, 22, 23)


# ---------------------------------------------------------------------------------------------
# value encoding (SPEC.md, "Value encoding in registers")

_FORMATS = {
    "int16": ">h", "uint16": ">H",
    "int32": ">i", "uint32": ">I", "float32": ">f",
    "int64": ">q", "uint64": ">Q", "float64": ">d",
}


def _lay_out(data, order):
    """Big-endian bytes (A first) -> registers in `order`: the bytes inside each register are
    swapped under BADC and DCBA, the registers come least significant first under CDAB and
    DCBA."""
    if order not in ORDERS:
        raise ValueError("order must be one of %s, not %r" % (", ".join(ORDERS), order))
    regs = []
    for i in range(0, len(data), 2):
        hi, lo = data[i], data[i + 1]
        if order in ("BADC", "DCBA"):
            hi, lo = lo, hi
        regs.append(hi << 8 | lo)
    if order in ("CDAB", "DCBA"):
        regs.reverse()
    return regs


def encode(type_, value, order="ABCD", length=None):
    """The registers (lowest address first) that hold `value` as a point of `type_` and
    `order`: int16, uint16, int32, uint32, int64, uint64, float32, float64, or string (ASCII,
    two bytes a register, `length` registers, padded with NULs). Integers are range-checked by
    struct."""
    if type_ == "string":
        raw = value.encode("ascii")
        if length is None:
            length = (len(raw) + 1) // 2
        if len(raw) > 2 * length:
            raise ValueError("%r does not fit in %d registers" % (value, length))
        return _lay_out(raw.ljust(2 * length, b"\0"), order)
    if type_ not in _FORMATS:
        raise ValueError("unknown type %r" % type_)
    return _lay_out(struct.pack(_FORMATS[type_], value), order)


def decode(type_, registers, order="ABCD"):
    """The inverse of encode() (strings lose trailing NULs)."""
    regs = list(registers)
    if order in ("CDAB", "DCBA"):
        regs.reverse()
    data = bytearray()
    for r in regs:
        hi, lo = r >> 8, r & 0xFF
        if order in ("BADC", "DCBA"):
            hi, lo = lo, hi
        data += bytes((hi, lo))
    if type_ == "string":
        return data.rstrip(b"\0").decode("ascii")
    return struct.unpack(_FORMATS[type_], bytes(data))[0]


# ---------------------------------------------------------------------------------------------
# the server program

def _serve(args):
    import asyncio

    from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                    ModbusSlaveContext)
    from pymodbus.server.async_io import (ModbusConnectedRequestHandler, ModbusSerialServer,
                                          ModbusSingleRequestHandler, ModbusTcpServer)
    from pymodbus.transaction import ModbusRtuFramer

    table_keys = {"coil": "c", "discrete": "d", "holding": "h", "input": "i"}

    class UnitContext(ModbusSlaveContext):
        """One unit's four tables (0-based addresses), plus addresses that answer exception 2."""

        def __init__(self):
            super().__init__(co=ModbusSequentialDataBlock(0, [0] * SIZE),
                             di=ModbusSequentialDataBlock(0, [0] * SIZE),
                             hr=ModbusSequentialDataBlock(0, [0] * SIZE),
                             ir=ModbusSequentialDataBlock(0, [0] * SIZE),
                             zero_mode=True)
            self.illegal = {key: set() for key in "cdhi"}

        def validate(self, fc_as_hex, address, count=1):
            # pymodbus answers exception 2 (illegal data address) when this says False
            bad = self.illegal.get(self.decode(fc_as_hex))
            if bad and any(a in bad for a in range(address, address + count)):
                return False
            return super().validate(fc_as_hex, address, count)

    units = sorted({int(u) for u in args.units.split(",") if u.strip()})
    contexts = {u: UnitContext() for u in units}
    server_context = ModbusServerContext(slaves=contexts, single=False)
    muted = set()
    counts = {}  # unit -> {function code -> requests}

    def execute(handler, base, request, *addr):
        unit, fc = request.unit_id, request.function_code
        per_unit = counts.setdefault(unit, {})
        per_unit[fc] = per_unit.get(fc, 0) + 1
        if unit in muted:
            return  # no reply at all: the client times out
        base.execute(handler, request, *addr)

    class TcpHandler(ModbusConnectedRequestHandler):
        def execute(self, request, *addr):
            execute(self, ModbusConnectedRequestHandler, request, *addr)

    class SerialHandler(ModbusSingleRequestHandler):
        def execute(self, request, *addr):
            execute(self, ModbusSingleRequestHandler, request, *addr)

    def store(req):
        unit = int(req["unit"])
        if unit not in contexts:
            raise ValueError("no unit %d (serving %s)" % (unit, units))
        table = req["table"]
        if table not in table_keys:
            raise ValueError("table must be one of %s" % ", ".join(TABLES))
        return contexts[unit], table_keys[table], table in BIT_TABLES

    def control(req):
        op = req.get("op")
        if op == "ping":
            return {}
        if op == "set":
            ctx, key, bits = store(req)
            values = [int(bool(v)) if bits else int(v) for v in req["values"]]
            address = int(req["address"])
            if address < 0 or address + len(values) > SIZE:
                raise ValueError("addresses %d..%d out of 0..%d" %
                                 (address, address + len(values) - 1, SIZE - 1))
            if not bits and any(v < 0 or v > 0xFFFF for v in values):
                raise ValueError("register values are 0..65535")
            ctx.store[key].setValues(address, values)
            return {}
        if op == "get":
            ctx, key, bits = store(req)
            values = ctx.store[key].getValues(int(req["address"]), int(req.get("count", 1)))
            return {"values": [int(v) for v in values]}
        if op == "illegal":
            ctx, key, _bits = store(req)
            addresses = {int(a) for a in req["addresses"]}
            if req.get("on", True):
                ctx.illegal[key] |= addresses
            else:
                ctx.illegal[key] -= addresses
            return {}
        if op == "mute":
            unit = int(req["unit"])
            if req.get("on", True):
                muted.add(unit)
            else:
                muted.discard(unit)
            return {}
        if op == "counts":
            return {"counts": {str(u): {str(fc): n for fc, n in per.items()}
                               for u, per in counts.items()}}
        if op == "reset_counts":
            counts.clear()
            return {}
        raise ValueError("unknown op %r" % op)

    async def control_connection(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    reply = control(json.loads(line))
                    reply["ok"] = True
                except Exception as e:  # noqa: BLE001 - every failure goes back to the test
                    reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()

    def host_port(text):
        host, _, port = text.rpartition(":")
        return host, int(port)

    async def main():
        tasks = []
        if args.tcp:
            tcp = ModbusTcpServer(server_context, address=host_port(args.tcp),
                                  handler=TcpHandler, allow_reuse_address=True)
            tasks.append(asyncio.create_task(tcp.serve_forever()))
            await asyncio.wait([tcp.serving, tasks[-1]], return_when=asyncio.FIRST_COMPLETED)
            if tasks[-1].done():
                tasks[-1].result()  # raises why it could not listen
        if args.rtu:
            rtu = ModbusSerialServer(server_context, framer=ModbusRtuFramer, port=args.rtu,
                                     baudrate=args.baud, handler=SerialHandler)
            await rtu.start()
            if rtu.transport is None:
                raise SystemExit("modbus_peer: cannot open serial device %s" % args.rtu)
        host, port = host_port(args.control)
        server = await asyncio.start_server(control_connection, host, port, reuse_address=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print("READY", flush=True)
        await stop.wait()
        server.close()

    asyncio.run(main())


def _main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", default="1", help="unit ids, comma-separated (default: 1)")
    p.add_argument("--tcp", help="serve Modbus TCP on HOST:PORT")
    p.add_argument("--rtu", help="serve Modbus RTU on this serial device")
    p.add_argument("--baud", type=int, default=19200)
    p.add_argument("--control", required=True, help="control port HOST:PORT")
    p.add_argument("--verbose", action="store_true", help="pymodbus's debug log on stdout")
    args = p.parse_args()
    if not args.tcp and not args.rtu:
        p.error("give --tcp and/or --rtu")
    import logging
    # pymodbus logs a cancelled handler for every closed connection as an error: noise here
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    _serve(args)


# ---------------------------------------------------------------------------------------------
# helpers for the tests

def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PeerError(AssertionError):
    pass


class ModbusPeer:
    """modbus_peer.py as a child process. start() picks free ports (tcp=True: Modbus TCP on a
    free port, self.port), waits for READY; restart() starts it again on the same ports and
    replays what the test set (values, illegal addresses, mutes)."""

    START_TIMEOUT = 10.0

    def __init__(self, units=(1,), tcp=True, rtu=None, baud=19200):
        self.units = tuple(units)
        self.tcp = tcp
        self.rtu = rtu
        self.baud = baud
        self.port = None
        self.control_port = None
        self.proc = None
        self.output = []  # stdout and stderr lines of every run
        self._history = []  # control requests that change state, replayed by restart()

    # -- lifecycle --
    def start(self, same_ports=False):
        last = None
        for _attempt in range(1 if same_ports else 3):  # a free port can be taken meanwhile
            if not same_ports:
                self.port = _free_port() if self.tcp else None
                self.control_port = _free_port()
            try:
                self._spawn()
                return self
            except PeerError as e:
                last = e
                self.kill()
        raise PeerError("modbus peer did not start: %s" % last)

    def _spawn(self):
        cmd = ["/usr/bin/python3", os.path.abspath(__file__), "--units",
               ",".join(str(u) for u in self.units),
               "--control", "127.0.0.1:%d" % self.control_port]
        if self.tcp:
            cmd += ["--tcp", "127.0.0.1:%d" % self.port]
        if self.rtu:
            cmd += ["--rtu", self.rtu, "--baud", str(self.baud)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        ready = threading.Event()
        proc = self.proc

        def reader():
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.output.append(line)
                if line == "READY":
                    ready.set()
            ready.set()
        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        if not ready.wait(self.START_TIMEOUT) or proc.poll() is not None:
            raise PeerError("no READY within %.0f s (exit code %r):\n%s"
                            % (self.START_TIMEOUT, proc.poll(), self.log()))

    def stop(self, sig=signal.SIGTERM):
        """Stop the peer (SIGKILL: as a crashed device); the ports close with it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)  # the pipe is at its end once the process is gone
        self.proc.stdout.close()
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def restart(self, replay=True):
        """Start again on the same ports; replay: with the values the test set before."""
        self.kill()
        self.start(same_ports=True)
        if replay:
            for req in self._history:
                self._call(req)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return "\n".join(self.output[-200:])

    # -- control --
    def _call(self, req, timeout=5.0):
        try:
            with socket.create_connection(("127.0.0.1", self.control_port),
                                          timeout=timeout) as s:
                s.sendall((json.dumps(req) + "\n").encode())
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as e:
            raise PeerError("modbus peer control %r: %s\n%s" % (req, e, self.log()))
        if not data:
            raise PeerError("modbus peer control %r: no reply" % (req,))
        reply = json.loads(data)
        if not reply.get("ok"):
            raise PeerError("modbus peer control %r: %s" % (req, reply.get("error")))
        return reply

    def _change(self, req):
        reply = self._call(req)
        self._history.append(req)
        return reply

    def set_registers(self, unit, table, address, registers):
        self._change({"op": "set", "unit": unit, "table": table, "address": address,
                      "values": list(registers)})

    def set_bits(self, unit, table, address, bits):
        self._change({"op": "set", "unit": unit, "table": table, "address": address,
                      "values": [1 if b else 0 for b in bits]})

    def set_value(self, unit, table, address, type_, value, order="ABCD", length=None):
        """Put `value` encoded as encode() does into holding or input registers."""
        self.set_registers(unit, table, address, encode(type_, value, order, length))

    def get(self, unit, table, address, count=1):
        """Registers (or bits as 0/1) as the peer holds them."""
        return self._call({"op": "get", "unit": unit, "table": table, "address": address,
                           "count": count})["values"]

    def get_value(self, unit, table, address, type_, order="ABCD", length=None):
        count = length if type_ == "string" else len(encode(type_, 0, "ABCD"))
        return decode(type_, self.get(unit, table, address, count), order)

    def illegal(self, unit, table, addresses, on=True):
        """Reads and writes that touch these addresses get Modbus exception 2."""
        self._change({"op": "illegal", "unit": unit, "table": table,
                      "addresses": list(addresses), "on": on})

    def mute(self, unit, on=True):
        """The unit stops answering (no reply at all), or answers again."""
        self._change({"op": "mute", "unit": unit, "on": on})

    def counts(self, unit=None):
        """Requests received since the last reset: {unit: {function code: n}}, or for one
        unit {function code: n}."""
        raw = self._call({"op": "counts"})["counts"]
        counts = {int(u): {int(fc): n for fc, n in per.items()} for u, per in raw.items()}
        if unit is None:
            return counts
        return counts.get(unit, {})

    def writes(self, unit):
        """Write requests (function codes 5, 6, 15, 16, 22, 23) the unit received."""
        return sum(n for fc, n in self.counts(unit).items() if fc in WRITE_FUNCTION_CODES)

    def reset_counts(self):
        self._call({"op": "reset_counts"})


class PtyPair:
    """socat's pair of pseudo-terminals (raw, no echo): self.gateway_end and self.peer_end are
    symlinks to the two ends."""

    def __init__(self):
        if shutil.which("socat") is None:
            raise PeerError("socat is not installed (apt-get install socat)")
        self.dir = tempfile.mkdtemp(prefix="fieldgate-pty-")
        self.gateway_end = os.path.join(self.dir, "gateway")
        self.peer_end = os.path.join(self.dir, "peer")
        self.proc = subprocess.Popen(
            ["socat", "pty,raw,echo=0,link=%s" % self.gateway_end,
             "pty,raw,echo=0,link=%s" % self.peer_end],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while not (os.path.exists(self.gateway_end) and os.path.exists(self.peer_end)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
                self.close()
                raise PeerError("socat did not make the pty pair: %s" % err)
            time.sleep(0.02)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)



# ---------------------------------------------------------------------------------------------
# the gateway side: configs and a test case that runs fieldgate against the peer

def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string (\uXXXX escapes too)
    raise TypeError("no TOML spelling for %r" % (value,))


def modbus_device(name, points, **keys):
    """One [[modbus]] table with its [[modbus.point]]s (dicts of point keys) as TOML text."""
    lines = ["[[modbus]]", "name = %s" % toml_value(name)]
    lines += ["%s = %s" % (k, toml_value(v)) for k, v in keys.items()]
    for point in points:
        lines += ["", "  [[modbus.point]]"]
        lines += ["  %s = %s" % (k, toml_value(v)) for k, v in point.items()]
    return "\n".join(lines) + "\n"


def tcp_device(name, peer, points, unit_id=1, poll_ms=250, timeout_ms=500, retries=1, **keys):
    return modbus_device(name, points, transport="tcp", host="127.0.0.1", port=peer.port,
                         unit_id=unit_id, poll_ms=poll_ms, timeout_ms=timeout_ms,
                         retries=retries, **keys)


class Inbox:
    """Every message a paho client (harness.PahoClient) receives from now on, in order, each
    with the time.monotonic() of its arrival."""

    def __init__(self, client):
        self.client = client
        self.messages = []  # (monotonic time, topic, payload bytes, retain)
        self.lock = threading.Lock()

        def on_message(_client, _userdata, m):
            with self.lock:
                self.messages.append((time.monotonic(), m.topic, bytes(m.payload),
                                      bool(m.retain)))
        client.client.on_message = on_message

    def on(self, topic, since=0.0):
        """Messages on `topic` that arrived after `since` (a time.monotonic() value)."""
        with self.lock:
            return [m for m in self.messages if m[1] == topic and m[0] > since]

    def wait(self, topic, predicate=lambda payload: True, timeout=5.0, since=0.0, what=None):
        """The payload (JSON-decoded when it is JSON) of the first message on `topic` after
        `since` that satisfies `predicate`; fails after `timeout` showing what did arrive."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            messages = self.on(topic, since)
            for m in messages[seen:]:
                payload = parse_payload(m[2])
                if predicate(payload):
                    return payload
            seen = len(messages)
            if time.monotonic() >= deadline:
                raise AssertionError("no %s on %s within %.1f s; got %r" % (
                    what or "matching message", topic, timeout,
                    [m[2] for m in messages[-10:]]))
            time.sleep(0.02)


def parse_payload(payload):
    text = payload.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def good(payload):
    return isinstance(payload, dict) and payload.get("quality") == "good"


def bad(payload):
    return isinstance(payload, dict) and payload.get("quality") == "bad"


if __name__ != "__main__":
    import unittest

    import harness

    class ModbusTestCase(harness.BrokerTestCase):
        """The gateway is not started in setUp: a test starts its peer (self.start_peer), then
        the gateway with its devices (self.start_gateway), which also checks the config with
        `fieldgate check` and subscribes self.inbox to e2e/#."""

        def setUp(self):
            if harness.TARGET != "fieldgate":
                raise unittest.SkipTest("fieldgate only: Mosquitto has no Modbus adapter")
            self.peers = []

        def start_peer(self, units=(1,), **kw):
            peer = ModbusPeer(units=units, **kw)
            self.addCleanup(peer.kill)
            self.peers.append(peer)
            return peer.start()

        def start_gateway(self, devices, mapping=""):
            """Run fieldgate with `devices` (TOML text, see modbus_device()) and an optional
            [mapping] table; returns the Inbox subscribed to # (every topic but $-topics)."""
            extra = ("[mapping]\n" + mapping + "\n" if mapping else "") + devices
            self.broker = harness.Broker(extra_config=extra)
            self.addCleanup(self._stop_broker)
            self.check_config()
            self.broker.start()
            self.port = self.broker.port
            self.ports = self.broker.ports
            client = self.paho()
            self.inbox = Inbox(client)
            client.subscribe("#", qos=1)  # e2e/..., and the topics that templates make
            return self.inbox

        def check_config(self):
            """`fieldgate check -c` accepts the config the test generates (on another port)."""
            path = self.broker._fieldgate_config(harness.free_port(), "check.toml")
            r = subprocess.run([self.broker._fieldgate_binary(), "check", "-c", path],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=10)
            with open(path) as f:
                config = f.read()
            self.assertEqual(r.returncode, 0, "fieldgate check refused the config:\n%s%s\n%s"
                             % (r.stdout.decode(), r.stderr.decode(), config))

        def run(self, result=None):
            if result is None:
                return super().run(result)
            before = len(result.failures) + len(result.errors)
            super().run(result)
            if len(result.failures) + len(result.errors) > before:
                for peer in getattr(self, "peers", ()):
                    sys.stderr.write("----- modbus peer output -----\n%s\n" % peer.log())
            return result

        # -- waiting for what the gateway publishes --
        def topic(self, device, point):
            return "e2e/%s/%s" % (device, point)

        def wait_good(self, device, point, value=None, timeout=5.0, since=0.0):
            """The first good reading of a point (equal to `value` unless None)."""
            return self.inbox.wait(
                self.topic(device, point),
                lambda p: good(p) and (value is None or p.get("value") == value),
                timeout, since, "good value%s" % ("" if value is None else " %r" % (value,)))

        def wait_bad(self, device, point, timeout=5.0, since=0.0):
            return self.inbox.wait(self.topic(device, point), bad, timeout, since, "bad reading")

        def wait_availability(self, device, state, timeout=5.0, since=0.0):
            return self.inbox.wait("e2e/availability/%s" % device, lambda p: p == state,
                                   timeout, since, repr(state))

        def command(self, device, point, payload, timeout=5.0, topic=None):
            """Publish `payload` to the point's /set topic (the point's topic: `topic`, or
            e2e/{device}/{point}); returns the decoded result."""
            topic = topic or self.topic(device, point)
            since = time.monotonic()
            self.inbox.client.publish(topic + "/set", payload, qos=1)
            return self.inbox.wait(topic + "/set/result", timeout=timeout, since=since,
                                   what="command result")

        def assert_fresh(self, payload, window_s=10.0):
            """ts: milliseconds since the epoch, near now."""
            self.assertIsInstance(payload["ts"], int, payload)
            self.assertLess(abs(payload["ts"] / 1000.0 - time.time()), window_s, payload)


if __name__ == "__main__":
    _main()
