#!/usr/bin/python3
"""CoAP peers for the CoAP end-to-end tests, and the test case that runs fieldgate against them.

CoapServer runs one CoAP server on a free loopback UDP port and can kill, restart, freeze
(SIGSTOP: it stays bound but answers nothing, so no ICMP either) and thaw it:
  - "notls": libcoap's own coap-server-notls (package libcoap3-bin): /time observable (Max-Age
    1, a notification every second), /example_data (GET/PUT), / (not observable), ...
  - "openssl": coap-server-openssl with a PSK (-k KEY); DTLS listens on port + 1
  - "ours": tests/e2e/coap_test_server.cpp (COAP_TEST_SERVER: JSON, /big block-wise, /plain
    without Observe, /store/json and /store/text for PUT, /bench/N)
coap_get() reads a resource with coap-client-notls (to check what a PUT left on the server).
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from modbus_peer import Inbox, ModbusTestCase, bad, good, parse_payload, toml_value  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))


def free_udp_port(pair=False):
    """A free loopback UDP port (with pair=True, one whose successor is free too)."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if not pair:
            s.close()
            return port
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            t.close()
            s.close()


def test_server_binary():
    path = os.environ.get("COAP_TEST_SERVER")
    if path and os.path.exists(path):
        return path
    for candidate in ("build/tests/e2e/coap_test_server",):
        path = os.path.join(HERE, "..", "..", candidate)
        if os.path.exists(path):
            return path
    raise unittest.SkipTest("COAP_TEST_SERVER is not set (run the test through ctest)")


class CoapServer:
    def __init__(self, kind="notls", key=None, args=()):
        self.kind = kind
        self.key = key
        self.args = list(args)
        self.port = free_udp_port(pair=(kind == "openssl"))
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="fieldgate-coap-")
        self.log_path = os.path.join(self.dir, "server.log")

    @property
    def url(self):
        if self.kind == "openssl":
            return "coaps://127.0.0.1:%d" % (self.port + 1)
        return "coap://127.0.0.1:%d" % self.port

    def command(self):
        if self.kind == "ours":
            return [test_server_binary(), "--port", str(self.port)] + self.args
        binary = "coap-server-openssl" if self.kind == "openssl" else "coap-server-notls"
        if shutil.which(binary) is None:
            raise unittest.SkipTest("%s is not installed (package libcoap3-bin)" % binary)
        cmd = [binary, "-A", "127.0.0.1", "-p", str(self.port)]
        if self.key:
            cmd += ["-k", self.key]
        return cmd + self.args

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        # Ready when it answers a GET (ours also prints READY).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("CoAP server exited: %s" % self.log())
            if self.kind == "openssl" or self._answers():
                return self
            time.sleep(0.05)
        raise AssertionError("CoAP server did not answer within 10 s: %s" % self.log())

    def _answers(self):
        try:
            coap_get("coap://127.0.0.1:%d/.well-known/core" % self.port, timeout=2)
            return True
        except Exception:
            return False

    def kill(self):
        """SIGKILL: no last notifications, the port closed (ICMP unreachable)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def freeze(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""


def coap_get(url, timeout=5):
    """The payload of a GET with coap-client-notls (raises on failure)."""
    r = subprocess.run(["coap-client-notls", "-m", "get", "-B", str(timeout), url],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout + 5)
    if r.returncode != 0:
        raise AssertionError("coap-client GET %s failed: %s" % (url, r.stderr.decode()))
    return r.stdout.decode("utf-8", "replace").rstrip("\n")


def coap_device(name, server, points, **keys):
    """One [[coap]] table with its [[coap.point]]s (dicts of point keys) as TOML text."""
    url = keys.pop("url", None) or server.url
    lines = ["[[coap]]", "name = %s" % toml_value(name), "url = %s" % toml_value(url)]
    lines += ["%s = %s" % (k, toml_value(v)) for k, v in keys.items()]
    for point in points:
        lines += ["", "  [[coap.point]]"]
        lines += ["  %s = %s" % (k, toml_value(v)) for k, v in point.items()]
    return "\n".join(lines) + "\n"


class CoapTestCase(ModbusTestCase):
    """ModbusTestCase's gateway helpers (start_gateway, wait_good, wait_bad, command, ...) with
    CoAP servers as peers."""

    def setUp(self):
        if harness.TARGET != "fieldgate":
            raise unittest.SkipTest("fieldgate only: Mosquitto has no CoAP adapter")
        self.peers = []

    def start_server(self, kind="notls", **kw):
        server = CoapServer(kind, **kw)
        self.addCleanup(server.close)
        self.peers.append(server)
        return server.start()

    def gateway_log(self):
        with open(self.broker.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def distinct_good_values(self, device, point, count, timeout, since=0.0):
        """Waits for `count` different good values of a point; returns them."""
        seen = []
        deadline = time.monotonic() + timeout
        while len(seen) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("only %d distinct values of %s/%s: %r"
                                     % (len(seen), device, point, seen))
            p = self.inbox.wait(self.topic(device, point),
                                lambda p: good(p) and p["value"] not in seen, left, since,
                                "a new good value")
            seen.append(p["value"])
        return seen
