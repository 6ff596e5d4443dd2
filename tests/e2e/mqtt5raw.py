"""A small raw-socket MQTT 5.0 client for packet-level broker tests (see mqttraw.py for 3.1.1).

Properties are given and returned as dicts keyed by the names below; "user" is a list of
(name, value) pairs and "subscription_id" a list of integers (both may repeat on the wire).
Builders return bytes so that tests can corrupt them; Client5 parses what comes back into
Packet5 objects with .props and .rc (the reason code) filled.
"""

import struct

import mqttraw
from mqttraw import (CONNACK, CONNECT, DISCONNECT, PINGREQ, PINGRESP,  # noqa: F401
                     PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK,
                     UNSUBSCRIBE, mqtt_str, packet, varint)

AUTH = 15
mqttraw.NAMES.setdefault(15, "AUTH")

# name -> (identifier, kind); kinds: byte, u16, u32, varint, str, bin, pair
PROPERTIES = {
    "payload_format": (0x01, "byte"),
    "message_expiry": (0x02, "u32"),
    "content_type": (0x03, "str"),
    "response_topic": (0x08, "str"),
    "correlation_data": (0x09, "bin"),
    "subscription_id": (0x0B, "varint"),
    "session_expiry": (0x11, "u32"),
    "assigned_client_id": (0x12, "str"),
    "server_keep_alive": (0x13, "u16"),
    "auth_method": (0x15, "str"),
    "auth_data": (0x16, "bin"),
    "request_problem_info": (0x17, "byte"),
    "will_delay": (0x18, "u32"),
    "request_response_info": (0x19, "byte"),
    "response_info": (0x1A, "str"),
    "server_reference": (0x1C, "str"),
    "reason_string": (0x1F, "str"),
    "receive_maximum": (0x21, "u16"),
    "topic_alias_maximum": (0x22, "u16"),
    "topic_alias": (0x23, "u16"),
    "maximum_qos": (0x24, "byte"),
    "retain_available": (0x25, "byte"),
    "user": (0x26, "pair"),
    "maximum_packet_size": (0x27, "u32"),
    "wildcard_available": (0x28, "byte"),
    "subscription_ids_available": (0x29, "byte"),
    "shared_available": (0x2A, "byte"),
}
BY_ID = {ident: (name, kind) for name, (ident, kind) in PROPERTIES.items()}
REPEATABLE = ("user", "subscription_id")


def _value(kind, v):
    if kind == "byte":
        return bytes([v])
    if kind == "u16":
        return struct.pack("!H", v)
    if kind == "u32":
        return struct.pack("!I", v)
    if kind == "varint":
        return varint(v)
    if kind in ("str", "bin"):
        return mqtt_str(v)
    if kind == "pair":
        return mqtt_str(v[0]) + mqtt_str(v[1])
    raise ValueError(kind)


def props(p=None):
    """The property block (length and properties) for dict p."""
    body = b""
    for name, v in (p or {}).items():
        ident, kind = PROPERTIES[name]
        for item in (v if name in REPEATABLE else [v]):
            body += varint(ident) + _value(kind, item)
    return varint(len(body)) + body


def _read_varint(b, pos):
    n, mult = 0, 1
    while True:
        byte = b[pos]
        pos += 1
        n += (byte & 0x7F) * mult
        mult *= 128
        if not byte & 0x80:
            return n, pos


def parse_props(b, pos):
    """(dict, position after the block)."""
    length, pos = _read_varint(b, pos)
    end = pos + length
    out = {}
    while pos < end:
        ident, pos = _read_varint(b, pos)
        name, kind = BY_ID[ident]
        if kind == "byte":
            v, pos = b[pos], pos + 1
        elif kind == "u16":
            v, pos = struct.unpack("!H", b[pos:pos + 2])[0], pos + 2
        elif kind == "u32":
            v, pos = struct.unpack("!I", b[pos:pos + 4])[0], pos + 4
        elif kind == "varint":
            v, pos = _read_varint(b, pos)
        else:
            n = struct.unpack("!H", b[pos:pos + 2])[0]
            v, pos = bytes(b[pos + 2:pos + 2 + n]), pos + 2 + n
            if kind == "str":
                v = v.decode("utf-8")
            elif kind == "pair":
                n2 = struct.unpack("!H", b[pos:pos + 2])[0]
                v2, pos = bytes(b[pos + 2:pos + 2 + n2]).decode(), pos + 2 + n2
                v = (v.decode(), v2)
        if name in REPEATABLE:
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    return out, end


# ---------------------------------------------------------------------------------------------
# builders

def connect(client_id="", clean=True, keepalive=60, properties=None, will=None, username=None,
            password=None):
    """CONNECT at level 5. will = (topic, payload, qos, retain, properties dict)."""
    f = 0x02 if clean else 0
    payload = mqtt_str(client_id)
    if will is not None:
        topic, wpayload, qos, retain, wprops = (tuple(will) + (None,))[:5]
        f |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += props(wprops) + mqtt_str(topic) + mqtt_str(wpayload)
    if username is not None:
        f |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        f |= 0x40
        payload += mqtt_str(password)
    body = mqtt_str("MQTT") + bytes([5, f]) + struct.pack("!H", keepalive) + props(properties)
    return packet(CONNECT, 0, body + payload)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None, properties=None):
    flags = (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = mqtt_str(topic)
    if qos:
        body += struct.pack("!H", pid)
    body += props(properties) + (payload if isinstance(payload, bytes) else payload.encode())
    return packet(PUBLISH, flags, body)


def ack(ptype, pid, rc=0, properties=None):
    body = struct.pack("!H", pid) + bytes([rc]) + props(properties)
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


def subscribe(pid, filters, properties=None):
    """filters: (filter, options byte) pairs; options = qos | nl<<2 | rap<<3 | rh<<4."""
    body = struct.pack("!H", pid) + props(properties)
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return packet(SUBSCRIBE, 0x02, body)


def unsubscribe(pid, filters, properties=None):
    body = struct.pack("!H", pid) + props(properties)
    for f in filters:
        body += mqtt_str(f)
    return packet(UNSUBSCRIBE, 0x02, body)


def disconnect(rc=0, properties=None):
    return packet(DISCONNECT, 0, bytes([rc]) + props(properties))


def auth(rc=0, properties=None):
    return packet(AUTH, 0, bytes([rc]) + props(properties))


def options(qos=0, no_local=False, rap=False, rh=0):
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


# ---------------------------------------------------------------------------------------------
# parsing

class Packet5(mqttraw.Packet):
    def __init__(self, first, body):
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = bytes(body)
        self.pid = None
        self.rc = 0
        self.props = {}
        b, t = self.body, self.type
        if t == CONNACK:
            self.session_present = b[0] & 0x01
            self.rc = b[1]
            self.props, _ = parse_props(b, 2)
        elif t == PUBLISH:
            self.dup = bool(self.flags & 0x08)
            self.qos = (self.flags >> 1) & 0x03
            self.retain = bool(self.flags & 0x01)
            tlen = struct.unpack("!H", b[:2])[0]
            self.topic = b[2:2 + tlen].decode("utf-8", "replace")
            pos = 2 + tlen
            if self.qos > 0:
                self.pid = struct.unpack("!H", b[pos:pos + 2])[0]
                pos += 2
            self.props, pos = parse_props(b, pos)
            self.payload = b[pos:]
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.pid = struct.unpack("!H", b[:2])[0]
            if len(b) > 2:
                self.rc = b[2]
            if len(b) > 3:
                self.props, _ = parse_props(b, 3)
        elif t in (SUBACK, UNSUBACK):
            self.pid = struct.unpack("!H", b[:2])[0]
            self.props, pos = parse_props(b, 2)
            self.codes = list(b[pos:])
        elif t in (DISCONNECT, AUTH):
            if len(b) > 0:
                self.rc = b[0]
            if len(b) > 1:
                self.props, _ = parse_props(b, 1)

    def __repr__(self):
        if self.type == PUBLISH:
            return "<PUBLISH %r q%d r%d d%d pid=%s %r %r>" % (
                self.topic, self.qos, self.retain, self.dup, self.pid, self.payload[:40],
                self.props)
        return "<%s rc=0x%02x pid=%s %r>" % (self.name, self.rc, self.pid, self.props)


class Client5(mqttraw.RawClient):
    """RawClient speaking MQTT 5: connect() sends a level-5 CONNECT; packets are Packet5."""

    def _try_parse(self):
        p = super()._try_parse()
        if p is None:
            return None
        first = (p.type << 4) | p.flags
        return Packet5(first, p.body)

    def connect(self, client_id="", rc=0, timeout=mqttraw.DEFAULT_TIMEOUT, **kw):
        self.send(connect(client_id, **kw))
        ack = self.expect(CONNACK, timeout)
        if ack.rc != rc:
            raise AssertionError("CONNACK reason 0x%02x, expected 0x%02x (%r)" % (ack.rc, rc, ack))
        self.connack = ack
        return ack

    def subscribe(self, filters, timeout=mqttraw.DEFAULT_TIMEOUT, properties=None):
        """filters: (filter, options byte) pairs; returns the SUBACK packet."""
        pid = self.pid()
        self.send(subscribe(pid, filters, properties))
        return self.expect_ack(SUBACK, pid, timeout)

    def unsubscribe(self, filters, timeout=mqttraw.DEFAULT_TIMEOUT):
        pid = self.pid()
        self.send(unsubscribe(pid, filters))
        return self.expect_ack(UNSUBACK, pid, timeout)

    def publish(self, topic, payload=b"", qos=0, retain=False, timeout=mqttraw.DEFAULT_TIMEOUT,
                properties=None):
        """PUBLISH with the publisher's side of its flow; returns the PUBACK / PUBREC (or None
        for QoS 0)."""
        pid = self.pid() if qos else None
        self.send(publish(topic, payload, qos, retain, pid=pid, properties=properties))
        if qos == 1:
            return self.expect_ack(PUBACK, pid, timeout)
        if qos == 2:
            rec = self.expect_ack(PUBREC, pid, timeout)
            if rec.rc < 0x80:
                self.send(ack(PUBREL, pid))
                self.expect_ack(PUBCOMP, pid, timeout)
            return rec
        return None

    def ack(self, p, timeout=mqttraw.DEFAULT_TIMEOUT):
        if p.qos == 1:
            self.send(ack(PUBACK, p.pid))
        elif p.qos == 2:
            self.send(ack(PUBREC, p.pid))
            self.expect_ack(PUBREL, p.pid, timeout)
            self.send(ack(PUBCOMP, p.pid))

    def disconnect(self, rc=0, properties=None):
        try:
            self.send(disconnect(rc, properties))
        except OSError:
            pass
        self.close()

    def expect_disconnect(self, rc, timeout=mqttraw.DEFAULT_TIMEOUT):
        """Wait until the broker closes the connection; asserts that its last packet was a
        DISCONNECT with reason rc, and returns it."""
        got = self.wait_closed(timeout)
        discs = [p for p in got if p.type == DISCONNECT]
        if not discs:
            raise AssertionError("closed without DISCONNECT 0x%02x; received %r" % (rc, got))
        if discs[-1].rc != rc:
            raise AssertionError("DISCONNECT 0x%02x, expected 0x%02x (%r)" % (discs[-1].rc, rc,
                                                                             discs[-1]))
        return discs[-1]


class V5Mixin:
    """For a BrokerTestCase: self.v5() opens a Client5 (closed at cleanup) and connects it."""

    def v5(self, client_id=None, connect=True, rc=0, **kw):
        c = Client5(self.port)
        self.addCleanup(c.close)
        if connect:
            c.connect(self._auto_id() if client_id is None else client_id, rc=rc, **kw)
        return c
