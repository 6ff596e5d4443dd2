#!/usr/bin/python3
"""CoAP payloads end to end against our own libcoap server (coap_test_server.cpp), which
serves JSON where libcoap's stock coap-server cannot (shared/spec/SPEC.md, [[coap.point]]
`format`, `json_pointer`, `type`, `scale`, `offset`, `writable`):

- format = "json" with RFC 6901 json_pointer into nested objects and arrays; every CoAP type
  (bool, int64, uint64, float64, string); scale and offset; a pointer to nothing or to an
  object is a bad reading that says why;
- a 4 KB representation (block-wise transfer, Block2) decoded whole;
- format = "text" on a resource without Observe (polled instead);
- PUT of JSON ({"value": 3.5} for json_pointer /value) and of scaled text, read back; a
  resource without a PUT handler refuses with its response code (4.05 Method Not Allowed).

fieldgate only (skipped on Mosquitto). Peer: coap_test_server on libcoap 4.3.1."""

import json
import time

import harness
from coap_peer import CoapTestCase, coap_device, coap_get


class JsonTest(CoapTestCase):
    def test_json_pointer_types_scale_blockwise(self):
        server = self.start_server("ours")
        j = dict(path="/json", format="json")
        self.start_gateway(coap_device("lab", server, [
            dict(name="temp", json_pointer="/sensor/temp", type="float64", unit="°C", **j),
            dict(name="ok", json_pointer="/sensor/ok", type="bool", **j),
            dict(name="count", json_pointer="/sensor/count", type="int64", **j),
            dict(name="ucount", json_pointer="/sensor/count", type="uint64", **j),
            dict(name="scaled", json_pointer="/sensor/count", type="int64", scale=0.5,
                 offset=-1.0, **j),
            dict(name="name", json_pointer="/name", type="string", **j),
            dict(name="second", json_pointer="/list/1", type="int64", **j),
            dict(name="gone", json_pointer="/sensor/humidity", type="float64", **j),
            dict(name="object", json_pointer="/sensor", type="float64", **j),
            dict(name="big", path="/big", format="json", json_pointer="/value",
                 type="float64"),
            dict(name="plain", path="/plain", format="text", type="int64"),
        ], timeout_ms=1000))
        self.wait_availability("lab", "online")
        expected = {"temp": 21.5, "ok": True, "count": 42, "ucount": 42, "scaled": 20.0,
                    "name": "lab", "second": 2, "big": 1234.5, "plain": 7}
        for point, value in expected.items():
            p = self.wait_good("lab", point)
            self.assertEqual(p["value"], value, point)
            if point != "scaled":  # a double: 20.0 may well be spelled 20
                self.assertIs(type(p["value"]), type(value), "%s: %r" % (point, p))
            self.assert_fresh(p)
        self.assertEqual(self.wait_good("lab", "temp")["unit"], "°C")
        gone = self.wait_bad("lab", "gone")
        self.assertIn("json_pointer /sensor/humidity", gone["error"])
        self.assertIn('no member "humidity"', gone["error"])
        obj = self.wait_bad("lab", "object")
        self.assertIn("selects an object", obj["error"])
        harness.wait_for(lambda: "/plain does not support Observe" in self.gateway_log(),
                         what="the fallback warning")


class JsonWriteTest(CoapTestCase):
    def test_put_json_and_text(self):
        server = self.start_server("ours")
        self.start_gateway(coap_device("lab", server, [
            dict(name="setpoint", path="/store/json", format="json", json_pointer="/value",
                 type="float64", writable=True),
            dict(name="tenths", path="/store/text", format="text", type="int64", scale=0.1,
                 writable=True),
            dict(name="fixed", path="/json", format="json", json_pointer="/name",
                 type="string", writable=True),
        ], timeout_ms=1000))
        self.wait_availability("lab", "online")
        self.wait_good("lab", "setpoint", 0)
        since = time.monotonic()
        self.assertEqual(self.command("lab", "setpoint", "3.5"), {"ok": True})
        self.wait_good("lab", "setpoint", 3.5, timeout=2, since=since)
        self.assertEqual(json.loads(coap_get(server.url + "/store/json")), {"value": 3.5})
        # scaled text: 2.5 with scale 0.1 goes out as 25
        self.assertEqual(self.command("lab", "tenths", '{"value": 2.5}'), {"ok": True})
        self.wait_good("lab", "tenths", 2.5, timeout=2)
        self.assertEqual(coap_get(server.url + "/store/text"), "25")
        # the server has no PUT for /json
        r = self.command("lab", "fixed", "x")
        self.assertEqual(r, {"ok": False, "error": "4.05 Method Not Allowed"})


if __name__ == "__main__":
    harness.main()
