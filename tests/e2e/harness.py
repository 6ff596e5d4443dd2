"""End-to-end harness: start the broker under test (fieldgate or Mosquitto) on a free loopback
port with a generated config, and give tests raw, paho and mosquitto_pub/sub clients.

Environment:
  FIELDGATE_E2E_TARGET  "fieldgate" (default) or "mosquitto"
  FIELDGATE_BIN         path of the fieldgate binary (target fieldgate)
  MOSQUITTO_BIN         path of mosquitto (default: found on PATH or /usr/sbin/mosquitto)
  FIELDGATE_E2E_KEEP    set to keep the temp dirs (configs, broker logs)
"""

import functools
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import mqttraw  # noqa: E402

try:
    import paho.mqtt.client as paho
except ImportError:  # pragma: no cover - reported by the tests that need it
    paho = None

TARGET = os.environ.get("FIELDGATE_E2E_TARGET", "fieldgate").strip().lower()
if TARGET not in ("fieldgate", "mosquitto"):
    raise SystemExit("FIELDGATE_E2E_TARGET must be 'fieldgate' or 'mosquitto', not %r" % TARGET)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 5.0

# Options a test may set, with the value used when it does not (None: leave to the broker).
DEFAULT_OPTIONS = {
    "sys_interval_s": 1,
    "max_inflight_messages": None,
    "max_queued_messages": None,
    "max_packet_size": None,
    "max_connections": None,
    "max_keepalive_s": None,
    # authentication and authorization (both targets). password_file / acl_file: None (none
    # configured), the file's content as text, or a callable that gets the path of an existing
    # empty file and fills it (e.g. runs mosquitto_passwd -b PATH USER PASS); the files are
    # written to the temp dir as "passwd" and "acl" before every start.
    "allow_anonymous": True,
    "password_file": None,
    "acl_file": None,
    # fieldgate only (the Mosquitto config ignores these): durable state in state_dir
    "persistence": False,
    "durability": None,                   # "process" or "power"
    "persistent_session_expiry_s": None,
    "env": None,                          # extra environment variables for the broker process
    # more listeners beside the plain one (both targets): a list of dicts with "name" and
    # [[broker.listener]] keys: "protocol" ("mqtt" or "websockets"), "tls_cert", "tls_key",
    # "tls_ca", "require_client_cert", "use_identity_as_username". Each gets a free port:
    # self.broker.ports[name] (self.ports in a BrokerTestCase).
    "listeners": None,
    # fieldgate only: TOML text appended to the generated config (e.g. [[bridge]] tables)
    "extra_toml": None,
}


# ---------------------------------------------------------------------------------------------
# helpers

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(predicate, timeout=CLIENT_TIMEOUT, interval=0.02, what="condition"):
    """Poll predicate until truthy; returns its value or raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def xfail_on_mosquitto(reason, strict=True):
    """The test asserts the spec; Mosquitto 2.0.11 is known to deviate (reason says how), so on
    that target a failure is an expected failure. strict=False: the deviation does not show
    every time (timing), so a pass on Mosquitto is reported as a skip saying so, not as an
    unexpected success."""
    def deco(fn):
        if TARGET != "mosquitto":
            return fn
        if strict:
            wrapped = unittest.expectedFailure(fn)
        else:
            @functools.wraps(fn)
            def wrapped(self, *a, **kw):
                fn(self, *a, **kw)
                # it passed: report that honestly (a skip with the reason), not as an
                # unexpected success that would fail the run
                raise unittest.SkipTest("passed on mosquitto this time; the known deviation "
                                        "(%s) did not show" % reason)
            wrapped = unittest.expectedFailure(wrapped)
        wrapped.__doc__ = (fn.__doc__ or "").strip() + \
            " [expected failure on mosquitto: %s]" % reason
        return wrapped
    return deco


def broker_options(**opts):
    """Per-test broker configuration (keys of DEFAULT_OPTIONS)."""
    for k in opts:
        if k not in DEFAULT_OPTIONS:
            raise KeyError("unknown broker option %r" % k)

    def deco(fn):
        fn._broker_options = opts
        return fn
    return deco


# ---------------------------------------------------------------------------------------------
# the broker process

class Broker:
    def __init__(self, **options):
        self.options = dict(DEFAULT_OPTIONS)
        self.options.update(options)
        self.target = TARGET
        self.port = None
        self.ports = {}  # name -> port of the extra listeners
        self.proc = None
        self.tmpdir = tempfile.mkdtemp(prefix="fieldgate-e2e-")
        self.log_path = os.path.join(self.tmpdir, "broker.log")
        self.returncode = None

    # -- config --
    AUTH_FILES = (("password_file", "passwd"), ("acl_file", "acl"))

    def _auth_files(self):
        """Write the password and ACL files the options ask for; returns {option: path}."""
        paths = {}
        for key, name in self.AUTH_FILES:
            content = self.options[key]
            if content is None:
                continue
            path = os.path.join(self.tmpdir, name)
            with open(path, "w") as f:
                if not callable(content):
                    f.write(content)
            if callable(content):
                content(path)
            paths[key] = path
        return paths

    def _fieldgate_config(self, port=None, name="fieldgate.toml"):
        o = self.options
        lines = [
            "[gateway]",
            'name = "e2e"',
            'state_dir = "%s"' % self.tmpdir,
            "",
            "[broker]",
            "persistence = %s" % ("true" if o["persistence"] else "false"),
            "allow_anonymous = %s" % ("true" if o["allow_anonymous"] else "false"),
            "sys_interval_s = %d" % o["sys_interval_s"],
        ]
        for key, path in self._auth_files().items():
            lines.append('%s = "%s"' % (key, path))
        if o["durability"] is not None:
            lines.append('durability = "%s"' % o["durability"])
        for key in ("max_inflight_messages", "max_queued_messages", "max_packet_size",
                    "max_connections", "max_keepalive_s", "persistent_session_expiry_s"):
            if o[key] is not None:
                lines.append("%s = %d" % (key, o[key]))
        lines += ["", "[[broker.listener]]", 'bind = "127.0.0.1:%d"' % (port or self.port), ""]
        if port is None:
            for listener in o["listeners"] or ():
                lines += ["[[broker.listener]]",
                          'bind = "127.0.0.1:%d"' % self.ports[listener["name"]]]
                for key, value in listener.items():
                    if key == "name":
                        continue
                    lines.append("%s = %s" % (key, ("true" if value else "false")
                                              if isinstance(value, bool) else '"%s"' % value))
                lines.append("")
        if o["extra_toml"]:
            lines += ["", o["extra_toml"]]
        path = os.path.join(self.tmpdir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines))
        return path

    def _mosquitto_config(self):
        o = self.options
        lines = [
            "per_listener_settings false",
            "allow_anonymous %s" % ("true" if o["allow_anonymous"] else "false"),
            "user root",
            "persistence false",
            "sys_interval %d" % o["sys_interval_s"],
            "log_dest stderr",
            "log_type all",
            "connection_messages true",
        ]
        for key, path in self._auth_files().items():
            lines.append("%s %s" % (key, path))
        if o["max_inflight_messages"] is not None:
            lines.append("max_inflight_messages %d" % o["max_inflight_messages"])
        if o["max_queued_messages"] is not None:
            lines.append("max_queued_messages %d" % o["max_queued_messages"])
        if o["max_packet_size"] is not None:
            lines.append("max_packet_size %d" % o["max_packet_size"])
        if o["max_keepalive_s"] is not None:
            # Mosquitto refuses values below 10 at start-up; tests that set a smaller value
            # accept Mosquitto's way (CONNACK 2 for a v3 client asking for more).
            lines.append("max_keepalive %d" % max(10, o["max_keepalive_s"]))
        lines.append("listener %d 127.0.0.1" % self.port)
        if o["max_connections"] is not None:
            lines.append("max_connections %d" % o["max_connections"])  # per listener
        mosquitto_keys = {"protocol": "protocol", "tls_cert": "certfile", "tls_key": "keyfile",
                          "tls_ca": "cafile", "require_client_cert": "require_certificate",
                          "use_identity_as_username": "use_identity_as_username"}
        for listener in o["listeners"] or ():
            lines.append("listener %d 127.0.0.1" % self.ports[listener["name"]])
            for key, value in listener.items():
                if key != "name":
                    lines.append("%s %s" % (mosquitto_keys[key], ("true" if value else "false")
                                            if isinstance(value, bool) else value))
            if "tls_cert" in listener:
                lines.append("tls_version tlsv1.2")  # TLS 1.2 and later, as fieldgate
        path = os.path.join(self.tmpdir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    @staticmethod
    def _fieldgate_binary():
        binary = os.environ.get("FIELDGATE_BIN")
        if not binary:
            raise unittest.SkipTest("FIELDGATE_BIN is not set (or set "
                                    "FIELDGATE_E2E_TARGET=mosquitto)")
        if not os.access(binary, os.X_OK):
            raise AssertionError("FIELDGATE_BIN=%s is not an executable file" % binary)
        return binary

    def _env(self):
        if not self.options["env"]:
            return None
        env = dict(os.environ)
        env.update({k: str(v) for k, v in self.options["env"].items()})
        return env

    def _command(self):
        if self.target == "fieldgate":
            return [self._fieldgate_binary(), "run", "-c", self._fieldgate_config()]
        binary = os.environ.get("MOSQUITTO_BIN") or shutil.which("mosquitto") \
            or "/usr/sbin/mosquitto"
        return [binary, "-c", self._mosquitto_config()]

    # -- lifecycle --
    def start(self, same_port=False):
        """Start the broker on a free port, or with same_port on the port (and state_dir) of
        its previous run."""
        last_error = None
        for _attempt in range(1 if same_port else 3):  # a free port can be taken meanwhile
            if not (same_port and self.port):
                self.port = free_port()
                self.ports = {listener["name"]: free_port()
                              for listener in self.options["listeners"] or ()}
            cmd = self._command()
            log = open(self.log_path, "ab")
            log.write(("$ %s%s\n" % ("".join("%s=%s " % kv for kv in
                                              (self.options["env"] or {}).items()),
                                      " ".join(cmd))).encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.tmpdir,
                                         env=self._env())
            log.close()
            try:
                self._wait_listening()
                return self
            except AssertionError as e:
                last_error = e
                self._kill()
                self.proc = None
        raise AssertionError("broker did not start: %s\n%s" % (last_error, self.log_text()))

    def _wait_listening(self):
        """Wait until the broker answers a CONNECT (then DISCONNECT). For Mosquitto, wait for
        its "running" log line instead: 2.0.11 frees a max_connections slot twice for every
        closed connection, so a probe would raise the limit of max_connections tests."""
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("broker exited with %d during start-up" % self.proc.returncode)
            if self.target == "mosquitto":
                if " running" in self.log_text():
                    return
                last = "no 'running' line in the log yet"
                if time.monotonic() >= deadline:
                    raise AssertionError("mosquitto not running after %.0f s" % START_TIMEOUT)
                time.sleep(0.02)
                continue
            try:
                c = mqttraw.RawClient(self.port, timeout=1.0)
                try:
                    # keep-alive 1 s: below any max_keepalive_s a test may set. Any CONNACK
                    # (even a refusal) means the broker is up and answering.
                    c.send(mqttraw.connect("e2e-ready-probe", keepalive=1))
                    c.expect(mqttraw.CONNACK, timeout=1.0)
                    c.disconnect()
                    return
                finally:
                    c.close()
            except (OSError, AssertionError, mqttraw.Closed) as e:
                last = e
            if time.monotonic() >= deadline:
                raise AssertionError("port %d not answering CONNECT after %.0f s (%r)"
                                     % (self.port, START_TIMEOUT, last))
            time.sleep(0.02)

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, sig=signal.SIGTERM):
        """Send sig (SIGTERM; SIGKILL for a crash), wait; returns the exit code (None if it had
        to be killed after SIGTERM; -9 after SIGKILL)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                self.returncode = None
                self.proc = None
                return None
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def restart(self, sig=signal.SIGTERM, **options):
        """Stop with sig, change options (keys of DEFAULT_OPTIONS), start again on the same port
        and state_dir; returns the exit code of the stopped run."""
        for k in options:
            if k not in DEFAULT_OPTIONS:
                raise KeyError("unknown broker option %r" % k)
        rc = self.stop(sig)
        self.options.update(options)
        self.start(same_port=True)
        return rc

    def run_to_exit(self, port=None, timeout=START_TIMEOUT):
        """fieldgate only: run a second instance with this broker's config (on another port, same
        state_dir) until it exits by itself; returns (exit code, stdout, stderr), or raises
        AssertionError if it is still running after timeout."""
        port = port or free_port()
        cmd = [self._fieldgate_binary(), "run", "-c",
               self._fieldgate_config(port, "fieldgate-%d.toml" % port)]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=self.tmpdir, env=self._env())
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("%s still running after %.0f s; output %r %r"
                                 % (" ".join(cmd), timeout, out[-2000:], err[-2000:]))
        return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no broker log)"

    def cleanup(self):
        self._kill()
        if os.environ.get("FIELDGATE_E2E_KEEP"):
            return
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# paho client wrapper

class PahoClient:
    """A paho client on its own network thread; received messages land in a queue."""

    def __init__(self, port, client_id="", protocol="311", clean_session=True, keepalive=30,
                 will=None, userdata=None, transport="tcp", tls=None, ws_path=None,
                 username=None, password=None):
        """transport: "tcp" or "websockets" (ws_path: the HTTP path); tls: None or the keyword
        arguments of paho's tls_set (ca_certs, certfile, keyfile, ...)."""
        if paho is None:
            raise unittest.SkipTest("paho-mqtt not available: run with /usr/bin/python3")
        proto = {"311": paho.MQTTv311, "31": paho.MQTTv31}[protocol]
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.disconnected = threading.Event()
        self.subacks = queue.Queue()
        self.acked = queue.Queue()
        self.client = paho.Client(client_id=client_id, clean_session=clean_session,
                                  protocol=proto, transport=transport)
        if tls is not None:
            self.client.tls_set(**tls)
        if ws_path is not None:
            self.client.ws_set_options(path=ws_path)
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain)
        self.client.on_connect = lambda c, u, flags, rc: self.connack.put((flags, rc))
        self.client.on_message = lambda c, u, m: self.messages.put(
            (m.topic, bytes(m.payload), m.qos, bool(m.retain)))
        self.client.on_disconnect = lambda c, u, rc: self.disconnected.set()
        self.client.on_subscribe = lambda c, u, mid, granted: self.subacks.put(granted)
        self.client.on_publish = lambda c, u, mid: self.acked.put(mid)
        self.port = port
        self.keepalive = keepalive

    def connect(self, timeout=CLIENT_TIMEOUT):
        """Connect and wait for the CONNACK; returns (flags, rc)."""
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive)
        self.client.loop_start()
        try:
            return self.connack.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho: no CONNACK within %.1f s" % timeout)

    def subscribe(self, topic, qos=0, timeout=CLIENT_TIMEOUT):
        rc, _mid = self.client.subscribe(topic, qos)
        assert rc == 0, "paho subscribe rc %d" % rc
        try:
            return self.subacks.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho: no SUBACK within %.1f s" % timeout)

    def publish(self, topic, payload, qos=0, retain=False, timeout=CLIENT_TIMEOUT):
        info = self.client.publish(topic, payload, qos, retain)
        info.wait_for_publish(timeout)
        assert info.is_published(), "paho: publish to %s not completed" % topic

    def get(self, timeout=CLIENT_TIMEOUT):
        """Next message as (topic, payload, qos, retain)."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho: no message within %.1f s" % timeout)

    def get_nothing(self, timeout=0.5):
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("paho: unexpected message %r" % (m,))

    def disconnect(self):
        try:
            self.client.disconnect()
        except Exception:
            pass
        self.disconnected.wait(2)
        self.client.loop_stop()


# ---------------------------------------------------------------------------------------------
# the base test case

class BrokerTestCase(unittest.TestCase):
    """Each test gets a fresh broker (self.broker, self.port); clients opened through the
    helpers are closed before the broker is stopped. The broker's log is printed when a test
    fails or errors."""

    maxDiff = None
    broker_options = {}       # class-wide options; @broker_options(...) adds per-test ones
    check_exit_code = True    # SIGTERM at the end must give exit code 0

    def setUp(self):
        opts = dict(self.broker_options)
        opts.update(getattr(getattr(self, self._testMethodName), "_broker_options", {}))
        self.broker = Broker(**opts)
        self.addCleanup(self._stop_broker)
        self.broker.start()
        self.port = self.broker.port
        self.ports = self.broker.ports

    def _stop_broker(self):
        try:
            if self.broker.proc is not None and self.check_exit_code:
                alive = self.broker.alive()
                rc = self.broker.stop()
                if not alive:
                    raise AssertionError("broker died during the test (exit code %r)" % rc)
                if rc != 0:
                    raise AssertionError("broker exit code after SIGTERM: %r (expected 0)" % rc)
            else:
                self.broker.stop()
        finally:
            self._log_copy = self.broker.log_text()
            self.broker.cleanup()

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        self._log_copy = None
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            log = self._log_copy if self._log_copy is not None else (
                self.broker.log_text() if getattr(self, "broker", None) else "(no broker)")
            tail = log[-20000:]
            sys.stderr.write("\n----- broker log (%s, %s) -----\n%s\n----- end of broker log "
                             "-----\n" % (TARGET, self.id(), tail))
            sys.stderr.flush()
        return result

    # -- clients --
    def raw(self, client_id=None, connect=True, **kw):
        """A raw-socket client; with connect, CONNECTs as client_id (default: the test name)
        and expects rc 0. kw go to mqttraw.connect()."""
        c = mqttraw.RawClient(self.port)
        self.addCleanup(c.close)
        if connect:
            if client_id is None:
                client_id = self._auto_id()
            c.connect(client_id, **kw)
        return c

    def paho(self, client_id=None, connect=True, port=None, **kw):
        """A paho client (on self.port unless port is given); kw go to PahoClient."""
        if client_id is None:
            client_id = self._auto_id()
        c = PahoClient(port or self.port, client_id, **kw)
        self.addCleanup(c.disconnect)
        if connect:
            flags, rc = c.connect()
            self.assertEqual(rc, 0, "paho CONNACK rc")
        return c

    _ids = 0

    def _auto_id(self):
        BrokerTestCase._ids += 1
        return "e2e-%d-%s" % (BrokerTestCase._ids, self._testMethodName[:40])

    def mosquitto_sub(self, *args, count=1, timeout=CLIENT_TIMEOUT):
        """Start mosquitto_sub -C count (with -d) and wait until its SUBACK arrived; returns a
        handle for self.finish(). Message lines are in the output alongside debug lines."""
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-d", "-h", "127.0.0.1", "-p", str(self.port), "-C", str(count),
               "-W", str(max(1, int(timeout)))] + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        self.addCleanup(self._reap, p)
        p.lines = []
        p.subscribed = threading.Event()

        def reader():
            for raw in p.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                p.lines.append(line)
                if "received SUBACK" in line:
                    p.subscribed.set()
            p.subscribed.set()  # exited (e.g. -C reached on queued messages before SUBACK)
        p.reader = threading.Thread(target=reader, daemon=True)
        p.reader.start()
        if not p.subscribed.wait(CLIENT_TIMEOUT):
            raise AssertionError("mosquitto_sub got no SUBACK: %r" % p.lines)
        return p

    def mosquitto_pub(self, *args, timeout=CLIENT_TIMEOUT):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port)] + list(args)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        self.assertEqual(r.returncode, 0, "mosquitto_pub failed: %s" % r.stderr.decode())
        return r

    def finish(self, proc, timeout=CLIENT_TIMEOUT + 2):
        """Wait for a mosquitto_sub from self.mosquitto_sub(); returns (rc, output, stderr)."""
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("%s did not finish; output %r" % (proc.args[0], proc.lines))
        proc.reader.join(2)
        err = proc.stderr.read().decode("utf-8", "replace")
        return proc.returncode, "\n".join(proc.lines), err

    @staticmethod
    def _reap(p):
        if p.poll() is None:
            p.kill()
        try:
            p.communicate(timeout=2)
        except Exception:
            pass

    # -- common assertions --
    def assert_broker_works(self, msg="broker still works"):
        """A fresh pair of clients can subscribe, publish and receive at QoS 1."""
        sub = self.raw()
        sub.subscribe([("health/check", 1)])
        pub = self.raw()
        pub.publish("health/check", b"ok", qos=1)
        p = sub.recv_publish()
        self.assertEqual((p.topic, p.payload), ("health/check", b"ok"), msg)
        pub.disconnect()
        sub.disconnect()


def main():
    unittest.main(verbosity=int(os.environ.get("FIELDGATE_E2E_VERBOSITY", "1")))
