#!/usr/bin/python3
"""TLS and WebSocket listeners.

TLS: certificates made with the openssl CLI at test time (a CA, a server certificate for
127.0.0.1/localhost, client certificates for alice and bob, one from another CA, an expired
one); server-only TLS with mosquitto_pub/sub and paho, client certificates required (a client
without one, or with one from another CA, is refused), use_identity_as_username with the ACL
applied to the certificate's CN, TLS 1.1 refused (1.2 and 1.3 accepted), a client that opens a
connection and sends nothing (or half a handshake) timed out while others keep working, and
start-up errors for unusable certificate files (fieldgate exits 1 naming the file).

WebSocket: paho with transport="websockets" on any HTTP path, plain and over TLS, packets
split across frames and several packets in one frame (raw frames), ping/pong, a bad handshake
answered 400, an unmasked frame closing the connection.

Mosquitto 2.0.11 as Debian builds it serves WebSockets but not WebSockets over TLS: those tests
are skipped on that target."""

import base64
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

import harness
import mqttraw as m
from harness import BrokerTestCase, broker_options, xfail_on_mosquitto

FIELDGATE_ONLY = unittest.skipIf(harness.TARGET == "mosquitto", "fieldgate only")
NO_WSS_ON_MOSQUITTO = unittest.skipIf(
    harness.TARGET == "mosquitto",
    "Debian's mosquitto 2.0.11 cannot open a WebSocket listener with TLS")

# The certificates' directory: named at import (the test classes name files in it), filled once
# for the module by setUpModule.
CERTS = tempfile.mkdtemp(prefix="fieldgate-e2e-certs-")


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), cwd=CERTS, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
            "-subj", "/CN=fieldgate test " + name)


def make_cert(name, cn, ca="ca", days="2", server=False):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
    args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", days]
    if server:
        with open(os.path.join(CERTS, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        args += ["-extfile", "san.ext"]
    openssl(*args)


def setUpModule():
    make_ca("ca")
    make_ca("otherca")
    make_cert("server", "localhost", server=True)
    make_cert("alice", "alice")
    make_cert("bob", "bob")
    make_cert("mallory", "alice", ca="otherca")  # the right CN from the wrong CA
    make_cert("expired", "localhost", days="-1", server=True)
    for name in os.listdir(CERTS):
        if name.endswith(".key"):
            os.chmod(os.path.join(CERTS, name), 0o600)


def tearDownModule():
    if not os.environ.get("FIELDGATE_E2E_KEEP"):
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


def tls_listener(name="tls", **extra):
    d = {"name": name, "tls_cert": cert("server.crt"), "tls_key": cert("server.key")}
    d.update(extra)
    return d


def mutual_listener(name="mtls", **extra):
    return tls_listener(name, tls_ca=cert("ca.crt"), require_client_cert=True, **extra)


def paho_tls(certname=None):
    d = {"ca_certs": cert("ca.crt")}
    if certname:
        d["certfile"] = cert(certname + ".crt")
        d["keyfile"] = cert(certname + ".key")
    return d


def client_context(minimum=None, maximum=None, certname=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert("ca.crt"))
    if minimum or maximum:
        # Security level 0: OpenSSL 3 refuses TLS 1.0/1.1 on the client side otherwise, and the
        # point is to see the server refuse them.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    if certname:
        ctx.load_cert_chain(cert(certname + ".crt"), cert(certname + ".key"))
    return ctx


def tls_connect(port, **kw):
    """A raw TLS socket to port (handshake done), or ssl.SSLError / OSError."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return client_context(**kw).wrap_socket(sock, server_hostname="localhost")
    except Exception:
        sock.close()
        raise


def mqtt_over(sock, client_id):
    """CONNECT on an already connected (TLS) socket; returns the CONNACK return code."""
    sock.sendall(m.connect(client_id, keepalive=30))
    data = b""
    deadline = time.monotonic() + 5
    while len(data) < 4 and time.monotonic() < deadline:
        chunk = sock.recv(4 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) < 4 or data[0] != 0x20:
        raise AssertionError("no CONNACK: %r" % data)
    return data[3]


def closed_by_peer(sock, timeout):
    """Whether the peer closes sock within timeout (reads and discards anything it sends)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except (socket.timeout, TimeoutError):
        return False
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True
    return False


# ---------------------------------------------------------------------------------------------
# TLS

class TlsTest(BrokerTestCase):
    broker_options = {"listeners": [tls_listener(), mutual_listener()]}

    def mosquitto_args(self, port, certname=None):
        args = ["-p", str(port), "--cafile", cert("ca.crt")]
        if certname:
            args += ["--cert", cert(certname + ".crt"), "--key", cert(certname + ".key")]
        return args

    def test_server_only_tls_with_mosquitto_clients(self):
        """mosquitto_sub and mosquitto_pub verify the server against the CA; messages cross
        between the TLS and the plain listener both ways."""
        tls = self.ports["tls"]
        sub = self.mosquitto_sub(*self.mosquitto_args(tls), "-t", "tls/#", "-q", "1", "-v",
                                 count=2)
        plain = self.paho()
        plain.subscribe("tls/#", 1)
        self.mosquitto_pub(*self.mosquitto_args(tls), "-t", "tls/a", "-m", "over-tls", "-q", "1")
        self.assertEqual(plain.get()[:2], ("tls/a", b"over-tls"))
        plain.publish("tls/b", b"from-plain", qos=1)
        rc, out, err = self.finish(sub)
        self.assertEqual(rc, 0, err)
        self.assertIn("tls/a over-tls", out)
        self.assertIn("tls/b from-plain", out)

    def test_paho_tls_qos_and_large_messages(self):
        """QoS 0, 1 and 2 and a 300 kB message (many TLS records) round trip over TLS."""
        tls = self.ports["tls"]
        sub = self.paho(port=tls, tls=paho_tls())
        sub.subscribe("big/#", 2)
        pub = self.paho(port=tls, tls=paho_tls())
        big = bytes(range(256)) * 1200
        for qos in (0, 1, 2):
            pub.publish("big/%d" % qos, big, qos=qos)
            topic, payload, got_qos, _ = sub.get()
            self.assertEqual((topic, len(payload), got_qos), ("big/%d" % qos, len(big), qos))
            self.assertEqual(payload, big)
        for i in range(200):  # many small ones: several packets per TLS record and per read
            pub.publish("big/small", b"%d" % i, qos=0)
        got = [sub.get()[1] for _ in range(200)]
        self.assertEqual(got, [b"%d" % i for i in range(200)])

    def test_tls_versions(self):
        """TLS 1.2 and 1.3 are accepted, TLS 1.1 and 1.0 refused in the handshake."""
        tls = self.ports["tls"]
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                              (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            s = tls_connect(tls, minimum=version, maximum=version)
            try:
                self.assertEqual(s.version(), name)
                self.assertEqual(mqtt_over(s, "tls-version-%s" % name), 0)
            finally:
                s.close()
        for version in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            with self.assertRaises((ssl.SSLError, ConnectionResetError), msg=str(version)):
                tls_connect(tls, minimum=version, maximum=version).close()
        # mosquitto_pub's --tls-version is a minimum: tlsv1.2 works
        self.mosquitto_pub(*self.mosquitto_args(tls), "--tls-version", "tlsv1.2", "-t", "v",
                           "-m", "1")

    def test_client_certificate_required(self):
        """On a listener with require_client_cert a client with a certificate signed by tls_ca
        connects; one without a certificate, or with one from another CA, is refused."""
        mtls = self.ports["mtls"]
        self.mosquitto_pub(*self.mosquitto_args(mtls, "alice"), "-t", "m", "-m", "with-cert")
        for certname in (None, "mallory"):
            r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-t", "m", "-m", "x"] +
                               self.mosquitto_args(mtls, certname), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=10)
            self.assertNotEqual(r.returncode, 0, "mosquitto_pub with %s was let in" % certname)
            with self.assertRaises((ssl.SSLError, ConnectionResetError, AssertionError,
                                    BrokenPipeError)):
                s = tls_connect(mtls, certname=certname)
                try:
                    # TLS 1.3: the server's verdict on the certificate comes after the client's
                    # handshake is done, so it shows on the first exchange.
                    mqtt_over(s, "no-cert")
                finally:
                    s.close()
        self.assert_broker_works()

    @xfail_on_mosquitto("Mosquitto 2.0.11 keeps a connection that never completes its TLS "
                        "handshake (no handshake timeout)")
    def test_silent_client_is_dropped_and_stalls_no_one(self):
        """A client that opens a TCP connection to the TLS port and sends nothing, and one that
        sends half a ClientHello, stall no one; both are dropped after the handshake timeout
        (the connect timeout, 10 s)."""
        tls = self.ports["tls"]
        silent = socket.create_connection(("127.0.0.1", tls), timeout=5)
        self.addCleanup(silent.close)
        half = socket.create_connection(("127.0.0.1", tls), timeout=5)
        self.addCleanup(half.close)
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
        started = time.monotonic()
        # Others keep working meanwhile, over TLS and plain.
        sub = self.paho(port=tls, tls=paho_tls())
        sub.subscribe("alive", 1)
        pub = self.paho(port=tls, tls=paho_tls())
        pub.publish("alive", b"yes", qos=1)
        self.assertEqual(sub.get()[:2], ("alive", b"yes"))
        self.assertLess(time.monotonic() - started, 3)
        self.assert_broker_works()
        self.assertTrue(closed_by_peer(silent, 14 - (time.monotonic() - started)),
                        "silent connection not dropped")
        self.assertTrue(closed_by_peer(half, 2), "half-handshake connection not dropped")
        self.assertGreater(time.monotonic() - started, 8)
        pub.publish("alive", b"still", qos=1)
        self.assertEqual(sub.get()[:2], ("alive", b"still"))


USER_ACL = """user alice
topic readwrite alice/#

user bob
topic read alice/#
topic readwrite bob/#
"""


class IdentityTest(BrokerTestCase):
    """use_identity_as_username: the CN is the user name; the CONNECT's user name and password
    are ignored (and no password file is asked), the ACL applies to the CN."""
    broker_options = {"listeners": [mutual_listener(use_identity_as_username=True)],
                      "allow_anonymous": False, "acl_file": USER_ACL,
                      "password_file": "someone:$7$101$c2FsdHNhbHRzYWx0$" + "A" * 86 + "==\n"}

    def test_identity_is_the_user_name_for_the_acl(self):
        mtls = self.ports["mtls"]
        bob = self.paho(port=mtls, tls=paho_tls("bob"))
        bob.subscribe("#", 1)  # readable in part: alice/# and bob/#
        # alice's CONNECT claims another user with a wrong password: ignored.
        alice = self.paho(port=mtls, tls=paho_tls("alice"), username="bob",
                          password="not-the-password")
        alice.publish("bob/x", b"not for alice to write", qos=1)  # bob/# is bob's
        alice.publish("alice/y", b"alice writes here", qos=1)
        self.assertEqual(bob.get()[:2], ("alice/y", b"alice writes here"))
        bob.get_nothing(0.5)
        # bob's CN lets him write bob/#, which alice may not read
        alice.subscribe("bob/#", 1)
        bob.publish("bob/z", b"bob's", qos=1)
        self.assertEqual(bob.get()[:2], ("bob/z", b"bob's"))
        alice.get_nothing(0.5)

    def test_plain_listener_still_needs_a_password(self):
        c = m.RawClient(self.port)
        self.addCleanup(c.close)
        c.send(m.connect("no-cert", username="alice", password=b"x"))
        self.assertNotEqual(c.expect(m.CONNACK).rc, 0)


# ---------------------------------------------------------------------------------------------
# WebSocket

def ws_handshake(port, path="/mqtt", protocol="mqtt", extra=b""):
    """A raw WebSocket connection: returns (socket, response head, bytes after it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           % (path, port, key))
    if protocol:
        req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
    s.sendall(req.encode() + b"\r\n" + extra)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    accept = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    if b" 101 " in head.split(b"\r\n")[0]:
        assert ("sec-websocket-accept: " + accept).lower().encode() in head.lower(), head
    return s, head, rest


def ws_frame(payload, opcode=2, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        header = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        header = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_read_frame(s, buf):
    """One server frame from s (buf: bytes already read); returns (opcode, payload, rest)."""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise m.Closed("connection closed")
            buf += chunk
    need(2)
    opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
    assert not buf[1] & 0x80, "server frames are not masked"
    off = 2
    if n == 126:
        need(4)
        n, off = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        need(10)
        n, off = struct.unpack("!Q", buf[2:10])[0], 10
    need(off + n)
    return opcode, buf[off:off + n], buf[off + n:]


class WebSocketTest(BrokerTestCase):
    broker_options = {"listeners": [{"name": "ws", "protocol": "websockets"}] + (
        [] if harness.TARGET == "mosquitto" else [tls_listener("wss", protocol="websockets")])}

    def round_trip(self, **client):
        sub = self.paho(**client)
        sub.subscribe("ws/#", 2)
        pub = self.paho(**client)
        tcp = self.paho()
        tcp.subscribe("ws/#", 1)
        big = os.urandom(200000)
        for qos in (0, 1, 2):
            pub.publish("ws/%d" % qos, b"q%d" % qos, qos=qos)
            self.assertEqual(sub.get()[:3], ("ws/%d" % qos, b"q%d" % qos, qos))
            self.assertEqual(tcp.get()[:2], ("ws/%d" % qos, b"q%d" % qos))
        pub.publish("ws/big", big, qos=1)
        self.assertEqual(sub.get()[:2], ("ws/big", big))
        self.assertEqual(tcp.get()[:2], ("ws/big", big))
        tcp.publish("ws/from-tcp", b"hello browser", qos=1)
        self.assertEqual(sub.get()[:2], ("ws/from-tcp", b"hello browser"))

    def test_paho_websockets(self):
        """paho over WebSocket on any path: QoS 0, 1, 2, a 200 kB message, to and from TCP."""
        self.round_trip(port=self.ports["ws"], transport="websockets", ws_path="/any/path")

    @NO_WSS_ON_MOSQUITTO
    def test_paho_websockets_over_tls(self):
        self.round_trip(port=self.ports["wss"], transport="websockets", ws_path="/mqtt",
                        tls=paho_tls())

    def test_raw_frames_split_and_joined(self):
        """MQTT packets may cross frame boundaries and share frames; a fragmented message and a
        ping in between are handled; the server answers in binary frames."""
        connect = m.connect("ws-raw", keepalive=30)
        s, head, rest = ws_handshake(self.ports["ws"], path="/")
        self.addCleanup(s.close)
        self.assertIn(b" 101 ", head.split(b"\r\n")[0])
        self.assertIn(b"sec-websocket-protocol: mqtt", head.lower())
        # CONNECT in two frames, the second also carrying SUBSCRIBE in two fragments, with a
        # ping between the fragments.
        subscribe = m.subscribe(1, [("raw/t", 0)])
        s.sendall(ws_frame(connect[:5]))
        s.sendall(ws_frame(connect[5:] + subscribe[:3], fin=False))
        s.sendall(ws_frame(b"ping!", opcode=9))
        s.sendall(ws_frame(subscribe[3:], opcode=0))
        got, buf, mqtt_bytes = [], rest, b""
        while len(mqtt_bytes) < 9 or (10, b"ping!") not in got:
            opcode, payload, buf = ws_read_frame(s, buf)
            self.assertIn(opcode, (2, 10))
            got.append((opcode, payload))
            if opcode == 2:
                mqtt_bytes += payload
        self.assertEqual(mqtt_bytes[:4], b"\x20\x02\x00\x00")  # CONNACK 0
        self.assertEqual(mqtt_bytes[4:9], b"\x90\x03\x00\x01\x00")      # SUBACK
        # Two PUBLISHes in one frame, then a close.
        pub = m.publish("raw/t", b"one") + m.publish("raw/t", b"two")
        s.sendall(ws_frame(pub))
        received = b""
        while received.count(b"raw/t") < 2:
            opcode, payload, buf = ws_read_frame(s, buf)
            self.assertEqual(opcode, 2)
            received += payload
        self.assertIn(b"one", received)
        self.assertIn(b"two", received)
        s.sendall(ws_frame(struct.pack("!H", 1000), opcode=8))
        opcode, payload, buf = ws_read_frame(s, buf)
        self.assertEqual(opcode, 8)
        self.assertTrue(closed_by_peer(s, 3))

    @FIELDGATE_ONLY
    def test_bad_handshake_and_unmasked_frame(self):
        """A request that is not a WebSocket upgrade gets 400; an unmasked frame from a client
        closes the connection with 1002; the broker keeps working."""
        s = socket.create_connection(("127.0.0.1", self.ports["ws"]), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 400 "))
        self.assertTrue(closed_by_peer(s, 3))

        s, head, rest = ws_handshake(self.ports["ws"], protocol=None)
        self.addCleanup(s.close)
        self.assertIn(b" 101 ", head)
        s.sendall(ws_frame(m.connect("unmasked"), mask=False))
        opcode, payload, _ = ws_read_frame(s, rest)
        self.assertEqual((opcode, payload[:2]), (8, b"\x03\xea"))  # close, 1002
        self.assertTrue(closed_by_peer(s, 3))
        self.assert_broker_works()


# ---------------------------------------------------------------------------------------------
# start-up errors

@FIELDGATE_ONLY
class StartupErrorTest(unittest.TestCase):
    def run_with(self, cert_file, key_file, command="run"):
        tmp = tempfile.mkdtemp(prefix="fieldgate-e2e-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "fieldgate.toml")
        with open(path, "w") as f:
            f.write('[gateway]\nstate_dir = "%s"\n[broker]\npersistence = false\n'
                    '[[broker.listener]]\nbind = "127.0.0.1:%d"\ntls_cert = "%s"\n'
                    'tls_key = "%s"\n' % (tmp, harness.free_port(), cert_file, key_file))
        binary = os.environ.get("FIELDGATE_BIN")
        if not binary:
            raise unittest.SkipTest("FIELDGATE_BIN is not set")
        r = subprocess.run([binary, command, "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=10)
        return r.returncode, r.stderr.decode("utf-8", "replace")

    def test_unusable_certificates_exit_1_naming_the_file(self):
        cases = [
            (cert("expired.crt"), cert("expired.key"), cert("expired.crt"), "expired"),
            (cert("server.crt"), cert("alice.key"), cert("alice.key"), "does not match"),
            (cert("ca.srl"), cert("server.key"), cert("ca.srl"), "not a PEM certificate"),
            (cert("server.crt"), cert("server.csr"), cert("server.csr"), "not a PEM private key"),
            (cert("server.crt"), cert("missing.key"), cert("missing.key"), ""),
        ]
        # `check` finds what `run` would refuse.
        for command in ("run", "check"):
            for cert_file, key_file, named, says in cases:
                rc, err = self.run_with(cert_file, key_file, command)
                self.assertEqual(rc, 1, "%s: %s" % (command, err))
                self.assertIn(named, err)
                self.assertIn(says, err)


if __name__ == "__main__":
    harness.main()
