#!/usr/bin/python3
"""coaps:// with DTLS and a pre-shared key end to end (shared/spec/SPEC.md, [[coap]] `url`,
`psk_identity`, `psk_key`), against libcoap's coap-server-openssl -k KEY:

- the right key: /time observed over DTLS, values good, availability online;
- a wrong key: the handshake never completes; points bad with an error naming the DTLS
  handshake and the PSK keys, availability offline.

fieldgate only (skipped on Mosquitto). Peer: coap-server-openssl 4.3.1 (libcoap3-bin)."""

import harness
from coap_peer import CoapTestCase, coap_device

KEY = "fieldgate-e2e-secret"


class DtlsTest(CoapTestCase):
    def test_psk(self):
        server = self.start_server("openssl", key=KEY)
        self.start_gateway(
            coap_device("secure", server, [dict(name="time", path="/time", type="string")],
                        psk_identity="gateway", psk_key=KEY, timeout_ms=2000) +
            coap_device("wrongkey", server, [dict(name="time", path="/time", type="string")],
                        psk_identity="gateway", psk_key="not-the-key", timeout_ms=1000))
        self.wait_availability("secure", "online", timeout=8)
        self.distinct_good_values("secure", "time", 2, timeout=6)
        p = self.wait_bad("wrongkey", "time", timeout=5)
        self.assertIn("DTLS handshake", p["error"])
        self.assertIn("psk_key", p["error"])
        self.wait_availability("wrongkey", "offline", timeout=5)


if __name__ == "__main__":
    harness.main()
