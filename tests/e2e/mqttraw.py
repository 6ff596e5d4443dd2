"""A small raw-socket MQTT 3.1 / 3.1.1 client for packet-level broker tests.

Builders return bytes (so tests can corrupt them); RawClient sends bytes and parses what comes
back into Packet objects. Every receive has a timeout: nothing here blocks forever.
"""

import select
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
    7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
    12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT",
}

DEFAULT_TIMEOUT = 5.0


# ---------------------------------------------------------------------------------------------
# encoding

def varint(n):
    """Remaining-length encoding (1..4 bytes)."""
    if n < 0 or n > 268435455:
        raise ValueError("remaining length out of range")
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def mqtt_str(s):
    """Length-prefixed string; bytes are taken as-is (to build invalid UTF-8)."""
    b = s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")
    return struct.pack("!H", len(b)) + bytes(b)


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + bytes(body)


def connect(client_id="", clean=True, keepalive=60, proto_name="MQTT", proto_level=4,
            will=None, username=None, password=None, flags=None):
    """CONNECT. will = (topic, payload, qos, retain). proto_name "MQIsdp"/level 3 for MQTT 3.1.
    flags overrides the computed connect-flags byte."""
    f = 0
    payload = mqtt_str(client_id)
    if clean:
        f |= 0x02
    if will is not None:
        wtopic, wpayload, wqos, wretain = will
        f |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        wp = wpayload if isinstance(wpayload, bytes) else wpayload.encode()
        payload += mqtt_str(wtopic) + struct.pack("!H", len(wp)) + wp
    if username is not None:
        f |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        f |= 0x40
        pw = password if isinstance(password, bytes) else password.encode()
        payload += struct.pack("!H", len(pw)) + pw
    if flags is not None:
        f = flags
    body = mqtt_str(proto_name) + bytes([proto_level, f]) + struct.pack("!H", keepalive) + payload
    return packet(CONNECT, 0, body)


def connect31(client_id, **kw):
    return connect(client_id, proto_name="MQIsdp", proto_level=3, **kw)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = mqtt_str(topic)
    if qos > 0:
        body += struct.pack("!H", pid if pid is not None else 1)
    body += payload
    return packet(PUBLISH, flags, body)


def _pid_packet(ptype, pid, flags=0):
    return packet(ptype, flags, struct.pack("!H", pid))


def puback(pid):
    return _pid_packet(PUBACK, pid)


def pubrec(pid):
    return _pid_packet(PUBREC, pid)


def pubrel(pid):
    return _pid_packet(PUBREL, pid, flags=0x02)


def pubcomp(pid):
    return _pid_packet(PUBCOMP, pid)


def subscribe(pid, filters):
    """filters: list of (filter, qos) or plain filter strings (qos 0)."""
    body = struct.pack("!H", pid)
    for f in filters:
        if isinstance(f, (tuple, list)):
            topic, qos = f
        else:
            topic, qos = f, 0
        body += mqtt_str(topic) + bytes([qos])
    return packet(SUBSCRIBE, 0x02, body)


def unsubscribe(pid, filters):
    body = struct.pack("!H", pid)
    for f in filters:
        body += mqtt_str(f)
    return packet(UNSUBSCRIBE, 0x02, body)


def pingreq():
    return bytes([PINGREQ << 4, 0])


def disconnect():
    return bytes([DISCONNECT << 4, 0])


# ---------------------------------------------------------------------------------------------
# parsing

class Packet:
    def __init__(self, first, body):
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = bytes(body)
        self.pid = None
        t = self.type
        if t == CONNACK and len(body) >= 2:
            self.session_present = body[0] & 0x01
            self.rc = body[1]
        elif t == PUBLISH:
            self.dup = bool(self.flags & 0x08)
            self.qos = (self.flags >> 1) & 0x03
            self.retain = bool(self.flags & 0x01)
            tlen = struct.unpack("!H", body[:2])[0]
            self.topic = body[2:2 + tlen].decode("utf-8", "replace")
            pos = 2 + tlen
            if self.qos > 0:
                self.pid = struct.unpack("!H", body[pos:pos + 2])[0]
                pos += 2
            self.payload = body[pos:]
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK) and len(body) >= 2:
            self.pid = struct.unpack("!H", body[:2])[0]
        elif t == SUBACK and len(body) >= 2:
            self.pid = struct.unpack("!H", body[:2])[0]
            self.codes = list(body[2:])

    @property
    def name(self):
        return NAMES.get(self.type, "TYPE%d" % self.type)

    def __repr__(self):
        if self.type == PUBLISH:
            return "<PUBLISH %r q%d r%d d%d pid=%s %r>" % (
                self.topic, self.qos, self.retain, self.dup, self.pid, self.payload[:40])
        if self.type == CONNACK:
            return "<CONNACK sp=%d rc=%d>" % (self.session_present, self.rc)
        return "<%s flags=%x pid=%s body=%r>" % (self.name, self.flags, self.pid, self.body[:20])


class Closed(Exception):
    """The broker closed the connection."""


class Timeout(AssertionError):
    """Nothing (or not the expected thing) arrived in time."""


# ---------------------------------------------------------------------------------------------
# client

class RawClient:
    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        self.next_pid = 1
        self.pending = []   # packets set aside while waiting for a specific one

    # -- bytes --
    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def abort(self):
        """Close abruptly (RST), without DISCONNECT."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def _fill(self, deadline):
        """Read more bytes into the buffer; False on timeout; raises Closed on EOF/reset."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], remaining)
        if not r:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            raise Closed()
        self.buf += data
        return True

    def _try_parse(self):
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ValueError("broker sent a bad remaining length")
        if len(self.buf) < i + length:
            return None
        p = Packet(self.buf[0], self.buf[i:i + length])
        del self.buf[:i + length]
        return p

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """The next packet; raises Timeout or Closed."""
        if self.pending:
            return self.pending.pop(0)
        return self._recv_wire(timeout)

    def _recv_wire(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            p = self._try_parse()
            if p is not None:
                return p
            if not self._fill(deadline):
                raise Timeout("no packet within %.1f s" % timeout)

    def expect(self, ptype, timeout=DEFAULT_TIMEOUT):
        """The next packet, which must be of type ptype."""
        try:
            p = self.recv(timeout)
        except Closed:
            raise AssertionError("connection closed while waiting for %s" % NAMES[ptype])
        if p.type != ptype:
            raise AssertionError("expected %s, got %r" % (NAMES[ptype], p))
        return p

    def expect_ack(self, ptype, pid, timeout=DEFAULT_TIMEOUT):
        """Wait for the ptype packet with packet id pid; PUBLISHes that arrive meanwhile (e.g.
        our own message coming back) are set aside for recv(). Anything else fails."""
        deadline = time.monotonic() + timeout
        for i, p in enumerate(self.pending):
            if p.type == ptype and p.pid == pid:
                return self.pending.pop(i)
        while True:
            try:
                p = self._recv_wire(max(0.0, deadline - time.monotonic()))
            except Closed:
                raise AssertionError("connection closed while waiting for %s %d"
                                     % (NAMES[ptype], pid))
            except Timeout:
                raise Timeout("no %s for packet id %d within %.1f s" % (NAMES[ptype], pid,
                                                                        timeout))
            if p.type == ptype and p.pid == pid:
                return p
            if p.type == PUBLISH:
                self.pending.append(p)
                continue
            raise AssertionError("expected %s %d, got %r" % (NAMES[ptype], pid, p))

    def expect_nothing(self, timeout=0.5):
        """Assert that no packet arrives within timeout (the connection may stay open)."""
        try:
            p = self.recv(timeout)
        except Timeout:
            return
        raise AssertionError("unexpected packet %r" % p)

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Wait until the broker closes the connection; returns packets received before that.
        Raises Timeout if it is still open after timeout."""
        got = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                p = self._try_parse()
                if p is not None:
                    got.append(p)
                    continue
                if not self._fill(deadline):
                    raise Timeout("connection still open after %.1f s (received %r)"
                                  % (timeout, got))
        except Closed:
            return got

    def is_open(self, timeout=0.2):
        """True if the connection is still open (no EOF within timeout); packets are kept."""
        try:
            self._fill(time.monotonic() + timeout)
            return True
        except Closed:
            return False

    # -- MQTT conveniences --
    def pid(self):
        p = self.next_pid
        self.next_pid = self.next_pid % 65535 + 1
        return p

    def connect(self, client_id="", rc=0, timeout=DEFAULT_TIMEOUT, **kw):
        """Send CONNECT (kw as for connect()), expect CONNACK with rc; returns it."""
        self.send(connect(client_id, **kw))
        ack = self.expect(CONNACK, timeout)
        if ack.rc != rc:
            raise AssertionError("CONNACK rc %d, expected %d" % (ack.rc, rc))
        return ack

    def subscribe(self, filters, timeout=DEFAULT_TIMEOUT):
        """SUBSCRIBE and wait for the SUBACK; returns the granted codes."""
        pid = self.pid()
        self.send(subscribe(pid, filters))
        return self.expect_ack(SUBACK, pid, timeout).codes

    def unsubscribe(self, filters, timeout=DEFAULT_TIMEOUT):
        pid = self.pid()
        self.send(unsubscribe(pid, filters))
        self.expect_ack(UNSUBACK, pid, timeout)

    def publish(self, topic, payload=b"", qos=0, retain=False, timeout=DEFAULT_TIMEOUT):
        """PUBLISH with the complete QoS flow from the publisher's side."""
        pid = self.pid() if qos else None
        self.send(publish(topic, payload, qos, retain, pid=pid))
        if qos == 1:
            self.expect_ack(PUBACK, pid, timeout)
        elif qos == 2:
            self.expect_ack(PUBREC, pid, timeout)
            self.send(pubrel(pid))
            self.expect_ack(PUBCOMP, pid, timeout)
        return pid

    def recv_publish(self, timeout=DEFAULT_TIMEOUT, ack=True):
        """Next PUBLISH; with ack, completes the receiver side of its QoS flow."""
        p = self.expect(PUBLISH, timeout)
        if ack:
            self.ack(p, timeout)
        return p

    def ack(self, p, timeout=DEFAULT_TIMEOUT):
        if p.qos == 1:
            self.send(puback(p.pid))
        elif p.qos == 2:
            self.send(pubrec(p.pid))
            rel = self.expect_ack(PUBREL, p.pid, timeout)
            assert rel.flags == 0x02, "PUBREL flags %x" % rel.flags
            self.send(pubcomp(p.pid))

    def ping(self, timeout=DEFAULT_TIMEOUT):
        self.send(pingreq())
        self.expect_ack(PINGRESP, None, timeout)

    def disconnect(self):
        try:
            self.send(disconnect())
        except OSError:
            pass
        self.close()
