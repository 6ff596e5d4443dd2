"""Helpers for the bridge tests (test_4x_bridge_*.py): a Mosquitto "cloud" broker started by the
test on a free loopback port, and a fieldgate whose [[bridge]] points at it."""

import os
import re
import signal
import subprocess
import time
import unittest

import harness


class Cloud(harness.Broker):
    """Mosquitto as the cloud broker. persistent: it keeps sessions and queued messages across
    its own restarts (persistence in its temp dir), so that a cloud subscriber with a
    persistent session sees everything the bridge sent while the subscriber was away."""

    def __init__(self, persistent=False, **options):
        # Mosquitto's QoS 1/2 delivery stalls past 20 in flight to one subscriber (PEERS.md).
        options.setdefault("max_inflight_messages", 0)
        super().__init__(**options)
        self.target = "mosquitto"
        self.persistent = persistent

    def _mosquitto_config(self):
        path = super()._mosquitto_config()
        if self.persistent:
            with open(path) as f:
                text = f.read()
            text = text.replace("persistence false\n",
                                "persistence true\npersistence_location %s/\n"
                                "queue_qos0_messages true\n" % self.tmpdir)
            with open(path, "w") as f:
                f.write(text)
        return path

    def start(self, same_port=False):
        # The log is appended across restarts: wait for one more "running" line than before.
        self._runs = self.log_text().count(" running")
        return super().start(same_port)

    def _wait_listening(self):
        deadline = time.monotonic() + harness.START_TIMEOUT
        while self.log_text().count(" running") <= self._runs:
            if self.proc.poll() is not None:
                raise AssertionError("mosquitto exited with %d" % self.proc.returncode)
            if time.monotonic() >= deadline:
                raise AssertionError("mosquitto not running after %.0f s" % harness.START_TIMEOUT)
            time.sleep(0.02)

    def reload(self):
        """SIGHUP: Mosquitto re-reads its password and ACL files."""
        self.proc.send_signal(signal.SIGHUP)


class LinkProxy:
    """socat between the bridge and the cloud: cut() kills it and the connections it carries (as
    a failing uplink does); restore() listens again on the same port."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = harness.free_port()
        self.proc = None
        self.restore()

    def restore(self):
        self.proc = subprocess.Popen(
            ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % self.port,
             "TCP:127.0.0.1:%d" % self.target], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness.wait_for(self._listening, timeout=5, what="socat listening")

    def _listening(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def cut(self):
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    close = cut


def bridge_toml(url, routes, name="cloud", **keys):
    """A [[bridge]] table with its routes: routes is a list of dicts of [[bridge.route]] keys."""
    lines = ["[[bridge]]", 'name = "%s"' % name, 'url = "%s"' % url]
    for key, value in keys.items():
        lines.append("%s = %s" % (key, toml_value(value)))
    for route in routes:
        lines += ["", "  [[bridge.route]]"]
        for key, value in route.items():
            lines.append("  %s = %s" % (key, toml_value(value)))
    return "\n".join(lines) + "\n"


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"%s"' % value


class BridgeTestCase(unittest.TestCase):
    """A Mosquitto cloud (self.cloud) and a fieldgate bridged to it (self.gateway). Subclasses
    call self.start(...) in their tests. Logs of both are printed when a test fails."""

    maxDiff = None

    def setUp(self):
        if harness.TARGET != "fieldgate":
            raise unittest.SkipTest("the bridge tests run against fieldgate only")
        self.cloud = None
        self.gateway = None

    def start_cloud(self, **options):
        self.cloud = Cloud(**options)
        self.addCleanup(self.cloud.cleanup)
        self.cloud.start()
        return self.cloud

    def start_gateway(self, bridge, **options):
        """bridge: the [[bridge]] TOML text; options: harness broker options."""
        self.gateway = harness.Broker(extra_config=bridge, **options)
        self.addCleanup(self.gateway.cleanup)
        self.addCleanup(self._stop_gateway, self.gateway)
        self.gateway.start()
        return self.gateway

    def _stop_gateway(self, gateway):
        """A clean stop at the end: exit code 0 (a sanitizer build reports leaks there)."""
        if gateway.proc is None:
            return
        alive = gateway.alive()
        rc = gateway.stop()
        if not alive:
            raise AssertionError("fieldgate died during the test (exit code %r)" % rc)
        if rc != 0:
            raise AssertionError("fieldgate exit code after SIGTERM: %r (expected 0)" % rc)

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        logs = {}
        self._logs = logs
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            import sys
            for name, text in logs.items():
                sys.stderr.write("\n----- %s log (%s) -----\n%s\n----- end -----\n"
                                 % (name, self.id(), text[-15000:]))
        return result

    def doCleanups(self):
        # Keep the logs before the temp dirs go.
        for name in ("gateway", "cloud"):
            b = getattr(self, name, None)
            if b is not None and getattr(self, "_logs", None) is not None:
                self._logs[name] = b.log_text()
        return super().doCleanups()

    # -- clients --
    def client(self, broker, client_id, **kw):
        c = harness.PahoClient(broker.port, client_id, **kw)
        self.addCleanup(c.disconnect)
        flags, rc = c.connect()
        self.assertEqual(rc, 0, "CONNACK rc of %s" % client_id)
        return c

    def cloud_client(self, client_id, **kw):
        return self.client(self.cloud, client_id, **kw)

    def local_client(self, client_id, **kw):
        return self.client(self.gateway, client_id, **kw)

    def wait_log(self, pattern, broker=None, timeout=10.0):
        broker = broker or self.gateway
        return harness.wait_for(lambda: re.search(pattern, broker.log_text()), timeout,
                                what="log line matching %r" % pattern)

    def wait_connected(self, timeout=10.0):
        self.wait_log(r"bridge: cloud: connected to", timeout=timeout)

    def sys_value(self, name, timeout=5.0, expect=None):
        """The retained $SYS/broker/bridge/cloud/<name> value (waits for `expect` if given)."""
        def read():
            c = harness.PahoClient(self.gateway.port, "sys-reader-%d" % time.monotonic_ns())
            try:
                c.connect()
                c.subscribe("$SYS/broker/bridge/cloud/" + name, 0)
                topic, payload, _, _ = c.get(timeout=2)
                return payload.decode()
            finally:
                c.disconnect()
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if expect is None or value == expect or time.monotonic() >= deadline:
                return value
            time.sleep(0.2)

    def receive(self, client, count, timeout=10.0):
        """The next `count` messages of a client as (topic, payload) pairs."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("received %d of %d messages: %r" % (len(got), count,
                                                                        got[-5:]))
            try:
                topic, payload, _qos, _retain = client.messages.get(timeout=left)
            except Exception:
                continue
            got.append((topic, payload.decode()))
        return got


def make_certs(directory):
    """A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, made with
    openssl; returns a dict of their paths."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = {k: os.path.join(directory, k + ".pem")
             for k in ("ca", "ca-key", "server", "server-key", "client", "client-key",
                       "other-ca", "other-ca-key")}
    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=fieldgate test %s" % ca, "-keyout", paths[ca + "-key"], "-out", paths[ca])
    ext = os.path.join(directory, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        csr = os.path.join(directory, who + ".csr")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % who, "-keyout",
            paths[who + "-key"], "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", paths["ca"], "-CAkey", paths["ca-key"],
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", paths[who])
    for p in paths.values():
        os.chmod(p, 0o644)
    return paths
