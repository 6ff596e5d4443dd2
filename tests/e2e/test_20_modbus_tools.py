#!/usr/bin/python3
"""The Modbus tools of the command line (shared/spec/SPEC.md, "Command line"):

`fieldgate simulate modbus --listen HOST:PORT` serves changing demo values over Modbus TCP
(several clients at once, writes to the writable points only, SIGTERM/SIGINT stop it with exit
0); `fieldgate probe modbus tcp://HOST:PORT ...` reads once and prints the registers raw and
decoded as every type and word order, against the simulator and against a pymodbus server
holding known values; errors (connection refused, Modbus exception, usage) exit 2 or 1 with a
clear message.

Peers: pymodbus 3.0.0rc1 (Debian's python3-pymodbus) as client and server. fieldgate only."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
import unittest

import harness

FIELDGATE_ONLY = unittest.skipIf(harness.TARGET == "mosquitto", "fieldgate only")

try:
    from pymodbus.client import ModbusTcpClient
except ImportError as e:  # pragma: no cover - reported by the tests that need it
    ModbusTcpClient = None
    PYMODBUS_ERROR = str(e)

TIMEOUT = 10.0
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


def fieldgate_binary():
    binary = os.environ.get("FIELDGATE_BIN")
    if not binary:
        raise unittest.SkipTest("FIELDGATE_BIN is not set")
    if not os.access(binary, os.X_OK):
        raise AssertionError("FIELDGATE_BIN=%s is not an executable file" % binary)
    return binary


def wait_port(port, proc, what, timeout=TIMEOUT):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited with %s before listening" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s did not listen on port %d within %.0f s" % (what, port, timeout))


class Process:
    """A child process whose stdout and stderr are collected by threads."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = []
        self.err = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._drain, args=(s, b), daemon=True)
                        for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.threads:
            t.start()

    def _drain(self, stream, buffer):
        for line in iter(stream.readline, b""):
            with self.lock:
                buffer.append(line.decode("utf-8", "replace"))

    def stdout(self):
        with self.lock:
            return "".join(self.out)

    def stderr(self):
        with self.lock:
            return "".join(self.err)

    def wait_output(self, pattern, stream="stderr", timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr() if stream == "stderr" else self.stdout()
            if re.search(pattern, text):
                return text
            time.sleep(0.02)
        raise AssertionError("no %r in %s within %.0f s:\n%s" % (
            pattern, stream, timeout, self.stderr() if stream == "stderr" else self.stdout()))

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("did not stop within %.0f s after signal %d" % (timeout, sig))
        for t in self.threads:
            t.join(2)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


def run_probe(*args, timeout=TIMEOUT):
    r = subprocess.run([fieldgate_binary(), "probe", "modbus"] + list(args),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def parse_probe(text):
    """The decoded tables of `probe` output: {start_address: {type: {order: text}}}, and the
    raw lines: {address: (hex, unsigned, signed)}."""
    decoded = {}
    raw = {}
    start = None
    columns = None
    for line in text.splitlines():
        m = re.match(r"^\s+(\d+)\s+(0x[0-9A-F]{4})\s+(\d+)\s+(-?\d+)\b", line)
        if m and start is None:
            raw[int(m.group(1))] = (m.group(2), int(m.group(3)), int(m.group(4)))
            continue
        m = re.match(r"^decoded from address (\d+):$", line)
        if m:
            start = int(m.group(1))
            decoded[start] = {}
            columns = None
            continue
        if start is None:
            continue
        if line.startswith("  type"):
            columns = [line.index(order) for order in ORDERS] + [None]
            continue
        if columns and line.startswith("  ") and line.strip():
            name = line[:columns[0]].strip()
            decoded[start][name] = {
                order: line[columns[i]:columns[i + 1]].strip() if columns[i] < len(line) else ""
                for i, order in enumerate(ORDERS)}
    return decoded, raw


def modbus_client(port):
    if ModbusTcpClient is None:
        raise unittest.SkipTest("pymodbus is not usable: " + PYMODBUS_ERROR)
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=3)
    if not client.connect():
        raise AssertionError("pymodbus could not connect to 127.0.0.1:%d" % port)
    return client


@FIELDGATE_ONLY
class SimulatorTest(unittest.TestCase):
    def setUp(self):
        self.port = harness.free_port()
        self.sim = Process([fieldgate_binary(), "simulate", "modbus", "--listen",
                            "127.0.0.1:%d" % self.port])
        self.addCleanup(self._stop)
        wait_port(self.port, self.sim.proc, "fieldgate simulate modbus")

    def _stop(self):
        if self.sim.proc.poll() is None:
            self.sim.stop(signal.SIGKILL)

    def probe(self, *args):
        code, out, err = run_probe("tcp://127.0.0.1:%d" % self.port, *args)
        self.assertEqual(code, 0, "probe failed:\n" + out + err)
        return out

    def test_prints_what_it_serves(self):
        out = self.sim.wait_output(r"stops it", stream="stdout")
        self.assertIn("127.0.0.1:%d" % self.port, out)
        self.assertRegex(out, r"holding\s+0-1\s+float32\s+ABCD\s+temperature")
        self.assertRegex(out, r"holding\s+2\s+int16\s+setpoint\s+writable")
        self.assertRegex(out, r"coil\s+0\s+bool\s+pump\s+writable")
        self.assertRegex(out, r"input\s+0-1\s+uint32\s+CDAB\s+energy")

    def test_probe_reads_the_temperature(self):
        out = self.probe("--unit", "1", "--table", "holding", "--address", "0", "--count", "3")
        self.assertIn("holding registers 0..2", out)
        decoded, raw = parse_probe(out)
        self.assertEqual(sorted(raw), [0, 1, 2])
        self.assertEqual(raw[0][0], "0x41AC")  # 20..21.99 as float32: 0x41A0..0x41AF
        temperature = float(decoded[0]["float32"]["ABCD"])
        self.assertGreaterEqual(temperature, 19.9)
        self.assertLessEqual(temperature, 23.1)
        # The setpoint starts at 215 (21.5 with scale 0.1).
        self.assertEqual(raw[2][1], 215)
        self.assertEqual(decoded[2]["int16"]["ABCD"], "215")

    def test_probe_reads_the_energy_counter(self):
        out = self.probe("--table", "input", "--address", "0", "--count", "2")
        first = int(parse_probe(out)[0][0]["uint32"]["CDAB"])
        self.assertGreaterEqual(first, 100000)
        time.sleep(1.3)
        out = self.probe("--table=input", "--address=0", "--count=2")
        second = int(parse_probe(out)[0][0]["uint32"]["CDAB"])
        self.assertGreater(second, first)
        self.assertLess(second - first, 100)

    def test_probe_reads_the_name_and_bits(self):
        out = self.probe("--address", "20", "--count", "8")
        self.assertEqual(parse_probe(out)[0][20]["string"]["ABCD"], '"fieldgate-sim"')
        out = self.probe("--table", "coil", "--address", "0", "--count", "1")
        self.assertRegex(out, r"\n\s+0\s+0 \(false\)")

    def test_pymodbus_writes_the_setpoint_and_reads_it_back(self):
        client = modbus_client(self.port)
        self.addCleanup(client.close)
        r = client.read_holding_registers(2, 1, slave=1)
        self.assertFalse(r.isError(), r)
        self.assertEqual(r.registers, [215])
        r = client.write_register(2, 230, slave=1)
        self.assertFalse(r.isError(), r)
        r = client.read_holding_registers(2, 1, slave=1)
        self.assertEqual(r.registers, [230])
        self.sim.wait_output(r"write: holding 2 \(setpoint\) = 230")
        # Negative values: int16 two's complement.
        r = client.write_register(2, 0xFFCE, slave=1)  # -50 = -5.0 degrees
        self.assertFalse(r.isError(), r)
        self.assertEqual(client.read_holding_registers(2, 1, slave=1).registers, [0xFFCE])
        self.sim.wait_output(r"setpoint\) = -50")
        # The probe sees the write too.
        decoded, _ = parse_probe(self.probe("--address", "2"))
        self.assertEqual(decoded[2]["int16"]["ABCD"], "-50")
        # The pump coil is writable too and shows in the status bit field (bit 0).
        r = client.write_coil(0, True, slave=1)
        self.assertFalse(r.isError(), r)
        self.assertTrue(client.read_coils(0, 1, slave=1).bits[0])
        self.sim.wait_output(r"write: coil 0 \(pump\) = on")
        status = client.read_holding_registers(10, 1, slave=1).registers[0]
        self.assertEqual(status & 1, 1)

    def test_read_only_registers_refuse_writes(self):
        client = modbus_client(self.port)
        self.addCleanup(client.close)
        r = client.write_register(0, 1, slave=1)
        self.assertTrue(r.isError(), r)
        self.assertEqual(getattr(r, "exception_code", None), 2)
        self.sim.wait_output(r"refused a write to holding 0")
        # The temperature is unchanged (still a float around 21.5).
        regs = client.read_holding_registers(0, 2, slave=1).registers
        self.assertEqual(regs[0] & 0xFFF0, 0x41A0)

    def test_several_clients_at_once(self):
        clients = [modbus_client(self.port) for _ in range(3)]
        for c in clients:
            self.addCleanup(c.close)
        for _ in range(3):
            for c in clients:
                r = c.read_input_registers(0, 2, slave=1)
                self.assertFalse(r.isError(), r)
        # A probe is served while they stay connected.
        self.probe("--address", "0", "--count", "2")

    def test_unknown_address_is_exception_2(self):
        code, out, err = run_probe("tcp://127.0.0.1:%d" % self.port, "--address", "1000",
                                   "--count", "4")
        self.assertEqual(code, 2, out + err)
        self.assertIn("Modbus exception 2 (illegal data address)", err)
        self.assertIn("holding registers 1000..1003", err)

    def test_sigterm_and_sigint_stop_cleanly(self):
        client = modbus_client(self.port)
        self.addCleanup(client.close)
        self.assertEqual(self.sim.stop(signal.SIGTERM), 0, self.sim.stderr())
        self.assertIn("stopped (SIGTERM)", self.sim.stdout())
        # Again with SIGINT, on the same port (the listening socket was closed).
        self.sim = Process([fieldgate_binary(), "simulate", "modbus", "--listen",
                            "127.0.0.1:%d" % self.port])
        wait_port(self.port, self.sim.proc, "fieldgate simulate modbus (again)")
        self.assertEqual(self.sim.stop(signal.SIGINT), 0, self.sim.stderr())
        self.assertIn("stopped (SIGINT)", self.sim.stdout())

    def test_port_in_use_exits_2(self):
        r = subprocess.run([fieldgate_binary(), "simulate", "modbus", "--listen",
                            "127.0.0.1:%d" % self.port], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"cannot listen on 127.0.0.1:%d" % self.port, r.stderr)


@FIELDGATE_ONLY
class SimulatorLoadRegistersTest(unittest.TestCase):
    """`--registers N`: a block of N holding registers at 1000.. for load tests, beside the
    unchanged demo registers, and the count of served requests printed at the stop."""

    def start(self, *extra):
        port = harness.free_port()
        sim = Process([fieldgate_binary(), "simulate", "modbus", "--listen",
                       "127.0.0.1:%d" % port] + list(extra))
        self.addCleanup(lambda: sim.proc.poll() is None and sim.stop(signal.SIGKILL))
        wait_port(port, sim.proc, "fieldgate simulate modbus")
        return sim, port

    def test_block_is_readable_and_writable_and_requests_are_counted(self):
        sim, port = self.start("--registers", "50")
        out = sim.wait_output(r"stops it", stream="stdout")
        self.assertRegex(out, r"holding\s+1000-1049\s+uint16\s+load\s+50 registers")
        client = modbus_client(port)
        self.addCleanup(client.close)
        requests = 0

        def call(method, *args):
            nonlocal requests
            requests += 1
            return getattr(client, method)(*args, slave=1)

        r = call("read_holding_registers", 1000, 50)
        self.assertFalse(r.isError(), r)
        self.assertEqual(r.registers, [0] * 50)
        self.assertFalse(call("write_register", 1010, 1234).isError())
        self.assertFalse(call("write_registers", 1048, [0xFFFF, 7]).isError())
        r = call("read_holding_registers", 1008, 4)
        self.assertEqual(r.registers, [0, 0, 1234, 0])
        self.assertEqual(call("read_holding_registers", 1048, 2).registers, [0xFFFF, 7])
        # Past the block's end, and between the demo registers and the block: exception 2.
        for method, args in [("read_holding_registers", (1049, 2)),
                             ("write_register", (1050, 1)),
                             ("read_holding_registers", (500, 1))]:
            r = call(method, *args)
            self.assertTrue(r.isError(), (method, args, r))
            self.assertEqual(getattr(r, "exception_code", None), 2, (method, args))
        # The demo registers are as without the option: the setpoint, the name.
        self.assertEqual(call("read_holding_registers", 2, 1).registers, [215])
        self.assertEqual(call("read_input_registers", 0, 2).registers[1], 1)  # 100000 + 7t
        self.assertEqual(sim.stop(signal.SIGTERM), 0, sim.stderr())
        self.assertIn("stopped (SIGTERM); served %d requests" % requests, sim.stdout())
        # Writes to the block are not logged one by one; the refused one is.
        self.assertNotIn("write:", sim.stderr())
        self.assertIn("refused a write to holding 1050", sim.stderr())

    def test_largest_block_ends_at_65535(self):
        sim, port = self.start("--registers=64536")
        client = modbus_client(port)
        self.addCleanup(client.close)
        self.assertFalse(client.write_register(65535, 9, slave=1).isError())
        self.assertEqual(client.read_holding_registers(65411, 125, slave=1).registers[-1], 9)
        self.assertEqual(sim.stop(signal.SIGINT), 0, sim.stderr())
        self.assertIn("stopped (SIGINT); served 2 requests", sim.stdout())

    def test_without_the_option_nothing_is_served_at_1000(self):
        sim, port = self.start()
        self.assertNotIn("load", sim.wait_output(r"stops it", stream="stdout"))
        client = modbus_client(port)
        self.addCleanup(client.close)
        r = client.write_register(1000, 1, slave=1)
        self.assertEqual(getattr(r, "exception_code", None), 2, r)
        self.assertEqual(sim.stop(signal.SIGTERM), 0, sim.stderr())
        self.assertIn("served 1 requests", sim.stdout())

    def test_bad_registers_option(self):
        for args, text in [(["--registers", "64537"], "bad --registers '64537': expected 0..64536"),
                           (["--registers=ten"], "bad --registers 'ten'"),
                           (["--registers"], "option --registers needs a number"),
                           (["--frobnicate"], "unknown option '--frobnicate'"),
                           (["extra"], "unexpected argument 'extra'")]:
            r = subprocess.run([fieldgate_binary(), "simulate", "modbus"] + args,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 1, args)
            err = r.stderr.decode()
            self.assertIn(text, err, args)
            self.assertIn("usage: fieldgate simulate modbus", err)
        r = subprocess.run([fieldgate_binary(), "simulate", "modbus", "--help"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--registers N", r.stdout)


# A pymodbus server with known values (register values as SPEC.md lays them out).
PYMODBUS_SERVER = textwrap.dedent("""\
    import sys
    from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                    ModbusSlaveContext)
    from pymodbus.server import StartTcpServer
    holding = [
        0x41AC, 0x0000,                  # 0-1   float32 ABCD 21.5
        0xFFFE, 0xFFFF,                  # 2-3   int32 CDAB -2
        0x8000, 0x0000, 0x0000, 0x0000,  # 4-7   int64 ABCD min
        0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF,  # 8-11  uint64 max
        0x6548, 0x6C6C, 0x006F, 0x0000,  # 12-15 string BADC "Hello"
        0x0000, 0x0000, 0x8000, 0x4035,  # 16-19 float64 CDAB 21.5
        0x00D7,                          # 20    int16 215
        0xEB7E, 0x1682, 0x0BEF, 0xDDEE,  # 21-24 int64 DCBA -1234567890123456789
    ]
    inputs = [0x86A0, 0x0001]            # uint32 CDAB 100000
    slave = ModbusSlaveContext(hr=ModbusSequentialDataBlock(0, holding),
                               ir=ModbusSequentialDataBlock(0, inputs),
                               co=ModbusSequentialDataBlock(0, [1, 0, 1, 1]),
                               di=ModbusSequentialDataBlock(0, [0, 1]),
                               zero_mode=True)
    StartTcpServer(context=ModbusServerContext(slaves=slave, single=True),
                   address=("127.0.0.1", int(sys.argv[1])))
    """)


@FIELDGATE_ONLY
class ProbePymodbusServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if ModbusTcpClient is None:
            raise unittest.SkipTest("pymodbus is not usable: " + PYMODBUS_ERROR)
        cls.port = harness.free_port()
        cls.server = Process([sys.executable, "-c", PYMODBUS_SERVER, str(cls.port)])
        try:
            wait_port(cls.port, cls.server.proc, "pymodbus server")
        except AssertionError:
            cls.server.stop(signal.SIGKILL)
            raise AssertionError("pymodbus server did not start:\n" + cls.server.stderr())

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(signal.SIGKILL)

    def probe(self, *args):
        code, out, err = run_probe("tcp://127.0.0.1:%d" % self.port, *args)
        self.assertEqual(code, 0, "probe failed:\n" + out + err)
        return out

    def test_every_type_and_order(self):
        out = self.probe("--address", "0", "--count", "25")
        decoded, raw = parse_probe(out)
        self.assertEqual(raw[0], ("0x41AC", 16812, 16812))
        self.assertEqual(raw[2], ("0xFFFE", 65534, -2))
        self.assertEqual(len(raw), 25)
        self.assertEqual(decoded[0]["float32"]["ABCD"], "21.5")
        self.assertEqual(decoded[2]["int32"]["CDAB"], "-2")
        self.assertEqual(decoded[2]["uint32"]["CDAB"], "4294967294")
        self.assertEqual(decoded[4]["int64"]["ABCD"], "-9223372036854775808")
        self.assertEqual(decoded[4]["uint64"]["ABCD"], "9223372036854775808")
        self.assertEqual(decoded[8]["uint64"]["ABCD"], "18446744073709551615")
        self.assertEqual(decoded[8]["int64"]["DCBA"], "-1")
        self.assertEqual(decoded[12]["string"]["BADC"], '"Hello"')
        self.assertEqual(decoded[16]["float64"]["CDAB"], "21.5")
        self.assertEqual(decoded[20]["int16"]["ABCD"], "215")
        self.assertEqual(decoded[20]["uint16"]["BADC"], str(0xD700))
        self.assertEqual(decoded[21]["int64"]["DCBA"], "-1234567890123456789")
        # Types that need more registers than are left are not shown.
        self.assertNotIn("float64", decoded[22])
        self.assertNotIn("float32", decoded[24])

    def test_input_registers_coils_and_discrete_inputs(self):
        decoded, _ = parse_probe(self.probe("--table", "input", "--count", "2"))
        self.assertEqual(decoded[0]["uint32"]["CDAB"], "100000")
        out = self.probe("--table", "coil", "--count", "4")
        self.assertRegex(out, r"\n\s+0\s+1 \(true\)\n\s+1\s+0 \(false\)\n\s+2\s+1 \(true\)\n"
                              r"\s+3\s+1 \(true\)")
        out = self.probe("--table", "discrete", "--address", "1", "--count", "1")
        self.assertIn("discrete inputs 1..1", out)
        self.assertRegex(out, r"\n\s+1\s+1 \(true\)")

    def test_exception_from_the_device(self):
        code, out, err = run_probe("tcp://127.0.0.1:%d" % self.port, "--address", "20",
                                   "--count", "10")
        self.assertEqual(code, 2, out + err)
        self.assertIn("Modbus exception 2 (illegal data address)", err)


@FIELDGATE_ONLY
class ProbeErrorsTest(unittest.TestCase):
    def test_closed_port(self):
        port = harness.free_port()
        code, out, err = run_probe("tcp://127.0.0.1:%d" % port, "--address", "0")
        self.assertEqual(code, 2, out + err)
        self.assertIn("cannot connect to tcp://127.0.0.1:%d: connection refused" % port, err)
        self.assertEqual(out, "")

    def test_silent_device_times_out(self):
        import socket
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections complete in the backlog; nothing ever answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        code, out, err = run_probe("tcp://127.0.0.1:%d" % port, "--timeout-ms", "300")
        self.assertEqual(code, 2, out + err)
        self.assertIn("failed: timeout", err)
        self.assertIn("check --unit", err)
        self.assertLess(time.monotonic() - started, 5)

    def test_usage_errors(self):
        for args, text in [
            ([], "no endpoint given"),
            (["udp://1.2.3.4"], "unknown endpoint"),
            (["tcp://127.0.0.1:0"], "bad TCP endpoint"),
            (["tcp://127.0.0.1:502", "--table", "registers"], "bad --table"),
            (["tcp://127.0.0.1:502", "--count", "126"], "at most 125"),
            (["tcp://127.0.0.1:502", "--table", "coil", "--count", "2001"], "at most 2000"),
            (["tcp://127.0.0.1:502", "--address", "65535", "--count", "2"], "runs past"),
            (["tcp://127.0.0.1:502", "--unit", "256"], "bad --unit"),
            (["tcp://127.0.0.1:502", "--frobnicate", "1"], "unknown option"),
            (["rtu:/dev/ttyUSB0?parity=X"], "parity must be N, E or O"),
        ]:
            code, out, err = run_probe(*args)
            self.assertEqual(code, 1, (args, out, err))
            self.assertIn(text, err, args)
            self.assertIn("usage: fieldgate probe modbus", err)

    def test_help(self):
        code, out, _ = run_probe("--help")
        self.assertEqual(code, 0)
        self.assertIn("usage: fieldgate probe modbus", out)

    def test_other_protocols_not_supported_yet(self):
        r = subprocess.run([fieldgate_binary(), "probe", "coap", "coap://127.0.0.1"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"not supported yet", r.stderr)


if __name__ == "__main__":
    unittest.main()
