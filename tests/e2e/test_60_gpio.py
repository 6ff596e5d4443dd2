#!/usr/bin/python3
"""GPIO end to end (shared/spec/SPEC.md, "[[gpio]]"): this machine has no GPIO chip (and no
gpio-sim or gpio-mockup), so what can run here is the case the spec asks for when a chip is
missing: not a configuration error, `fieldgate check` accepts the config, `run` serves it with
the device offline, its points bad with an error that names the chip and the fix, and commands
answered with that error. The adapter's work on a chip (debounce, outputs, active_low) is tested
through the simulated backend in tests/unit/gpio_test.cpp.

fieldgate only (skipped on Mosquitto). Peers: paho-mqtt 1.6.1."""

import json
import subprocess
import unittest

import harness

GPIO = """
[[gpio]]
name = "panel"
chip = "gpiochip-e2e-missing"

  [[gpio.point]]
  name = "button"
  line = 17
  direction = "in"
  edge = "both"
  debounce_ms = 20
  active_low = true
  bias = "pull-up"

  [[gpio.point]]
  name = "relay"
  line = 27
  direction = "out"
  initial = false
  writable = true
"""


class GpioMissingChipTest(harness.BrokerTestCase):
    broker_options = {"extra_config": GPIO}

    def setUp(self):
        if harness.TARGET != "fieldgate":
            raise unittest.SkipTest("fieldgate only: Mosquitto has no GPIO adapter")
        super().setUp()

    def messages_until(self, client, done, what):
        """Messages (topic -> last payload) until done(seen) holds."""
        seen = {}
        while not done(seen):
            try:
                topic, payload, _qos, _retain = client.get()
            except AssertionError:
                self.fail("no %s; got %r" % (what, seen))
            seen[topic] = payload
        return seen

    def test_check_accepts_the_config(self):
        path = self.broker._fieldgate_config(harness.free_port(), "check.toml")
        r = subprocess.run([self.broker._fieldgate_binary(), "check", "-c", path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())

    def test_missing_chip_is_offline_with_the_reason(self):
        client = self.paho()
        client.subscribe("e2e/#", qos=1)
        seen = self.messages_until(
            client, lambda s: {"e2e/availability/panel", "e2e/panel/button",
                               "e2e/panel/relay"} <= s.keys(),
            "availability and both points")
        self.assertEqual(seen["e2e/availability"], b"online")
        self.assertEqual(seen["e2e/availability/panel"], b"offline")
        for point in ("button", "relay"):
            payload = json.loads(seen["e2e/panel/" + point])
            self.assertEqual(payload["quality"], "bad")
            self.assertIsNone(payload["value"])
            self.assertIn("no GPIO chip 'gpiochip-e2e-missing'", payload["error"])
            self.assertIn("gpiodetect", payload["error"])

        # A command gets the reason as its result.
        client.subscribe("e2e/panel/relay/set/result", qos=1)
        client.publish("e2e/panel/relay/set", "true", qos=1)
        seen = self.messages_until(client, lambda s: "e2e/panel/relay/set/result" in s,
                                   "command result")
        result = json.loads(seen["e2e/panel/relay/set/result"])
        self.assertFalse(result["ok"])
        self.assertIn("no GPIO chip 'gpiochip-e2e-missing'", result["error"])

        # The gateway says why, and keeps running.
        harness.wait_for(lambda: "gpiochip-e2e-missing" in self.broker.log_text(),
                         what="the missing chip in the log")
        self.assert_broker_works()


if __name__ == "__main__":
    harness.main()
