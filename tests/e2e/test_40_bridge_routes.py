"""The bridge's routes against a real Mosquitto playing the cloud: out and in with prefixes,
commands from the cloud and their results, loop prevention, the availability topic and the
bridge's $SYS status."""

import signal
import time

import harness
from bridge_harness import BridgeTestCase, bridge_toml


class BridgeRoutes(BridgeTestCase):

    def start_pair(self, routes, **keys):
        self.start_cloud()
        url = "mqtt://127.0.0.1:%d" % self.cloud.port
        self.start_gateway(bridge_toml(url, routes, **keys))
        self.wait_connected()

    def test_out_route_prepends_the_remote_prefix(self):
        self.start_pair([{"direction": "out", "local": "e2e/#", "remote_prefix": "sites/p7/",
                          "qos": 1}])
        sub = self.cloud_client("cloud-sub")
        sub.subscribe("sites/p7/e2e/boiler/#", 1)
        sub.subscribe("other/#", 1)
        pub = self.local_client("local-pub")
        for i in range(5):
            pub.publish("e2e/boiler/t%d" % i, "v%d" % i, qos=1)
        pub.publish("other/x", "not routed", qos=1)
        got = self.receive(sub, 5)
        self.assertEqual(got, [("sites/p7/e2e/boiler/t%d" % i, "v%d" % i) for i in range(5)])
        sub.get_nothing(0.5)

    def test_in_route_replaces_the_prefix(self):
        self.start_pair([{"direction": "in", "local": "cmd/#", "local_prefix": "cmd/",
                          "remote_prefix": "down/e2e/", "qos": 1}])
        local = self.local_client("local-sub")
        local.subscribe("#", 1)
        cloud = self.cloud_client("cloud-pub")
        # The bridge subscribed upstream when it connected: give the SUBACK a moment.
        harness.wait_for(lambda: self._sent_and_seen(cloud, local, "down/e2e/a/b", "x"),
                         timeout=5, interval=0.1, what="the in route delivering")
        cloud.publish("down/e2e/a/c", "1", qos=1)
        cloud.publish("down/other/a", "2", qos=1)
        topic, payload, qos, _ = local.get()
        while topic.startswith("$SYS") or (topic, payload) == ("cmd/a/b", b"x"):
            topic, payload, qos, _ = local.get()
        self.assertEqual((topic, payload), ("cmd/a/c", b"1"))
        self.assertEqual(qos, 1)

    def _sent_and_seen(self, cloud, local, topic, payload):
        cloud.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                t, p, _, _ = local.messages.get(timeout=0.1)
            except Exception:
                continue
            if (t, p) == ("cmd/a/b", payload.encode()):
                return True
        return False

    def test_a_command_from_the_cloud_reaches_the_device_side_and_its_result_goes_up(self):
        self.start_pair([
            {"direction": "out", "local": "e2e/#", "remote_prefix": "sites/p7/", "qos": 1},
            {"direction": "in", "local": "e2e/+/+/set", "remote_prefix": "sites/p7/", "qos": 1},
        ])
        device = self.local_client("device")
        device.subscribe("e2e/+/+/set", 1)
        cloud = self.cloud_client("cloud-cmd")

        def probe_arrives():  # the bridge subscribes upstream once connected: wait for it
            cloud.publish("sites/p7/e2e/probe/x/set", "0", qos=1)
            try:
                return device.get(timeout=0.3)[0] == "e2e/probe/x/set"
            except AssertionError:
                return False
        harness.wait_for(probe_arrives, timeout=5, interval=0, what="the in route working")
        time.sleep(0.3)
        while not device.messages.empty():
            device.messages.get()
        results = self.cloud_client("cloud-results")
        results.subscribe("sites/p7/e2e/boiler/#", 1)
        cloud.publish("sites/p7/e2e/boiler/pump/set", "true", qos=1)
        topic, payload, _, _ = device.get()
        self.assertEqual((topic, payload), ("e2e/boiler/pump/set", b"true"))
        device.publish("e2e/boiler/pump/set/result", '{"ok": true}', qos=1)
        seen = []
        while ("sites/p7/e2e/boiler/pump/set/result", '{"ok": true}') not in seen:
            topic, payload, _, _ = results.get()
            seen.append((topic, payload.decode()))
        results.get_nothing(0.5)
        # The command came in over the bridge: the out route did not send it back up (the
        # cloud subscriber saw the cloud's own publish only).
        self.assertEqual(seen, [("sites/p7/e2e/boiler/pump/set", "true"),
                                ("sites/p7/e2e/boiler/pump/set/result", '{"ok": true}')])
        device.get_nothing(0.2)

    def test_loop_prevention_on_a_both_route(self):
        self.start_pair([{"direction": "both", "local": "loop/#", "qos": 1}])
        watcher = self.cloud_client("cloud-watcher")
        watcher.subscribe("loop/#", 1)
        local = self.local_client("local-sub")
        local.subscribe("loop/#", 1)
        cloud = self.cloud_client("cloud-pub")
        time.sleep(0.5)  # the bridge's upstream SUBACK
        cloud.publish("loop/from-cloud", "once", qos=1)
        self.assertEqual(local.get()[:2], ("loop/from-cloud", b"once"))
        self.assertEqual(watcher.get()[:2], ("loop/from-cloud", b"once"))
        # Not sent back up by the bridge: the cloud sees it once, the gateway once.
        watcher.get_nothing(1.0)
        local.get_nothing(0.2)

    def test_availability_online_then_offline_by_the_will_and_on_stop(self):
        self.start_cloud()
        watcher = self.cloud_client("availability-watcher")
        watcher.subscribe("up/e2e/availability", 1)
        url = "mqtt://127.0.0.1:%d" % self.cloud.port
        self.start_gateway(bridge_toml(url, [{"direction": "out", "local": "e2e/#",
                                               "remote_prefix": "up/"}], keepalive_s=5))
        self.assertEqual(watcher.get()[:2], ("up/e2e/availability", b"online"))
        # kill -9: no DISCONNECT, so the cloud publishes the will.
        self.gateway.stop(signal.SIGKILL)
        topic, payload, _, retain = watcher.get(timeout=10)
        self.assertEqual((topic, payload), ("up/e2e/availability", b"offline"))
        self.gateway.start(same_port=True)
        self.assertEqual(watcher.get()[:2], ("up/e2e/availability", b"online"))
        # A clean stop says offline itself (a DISCONNECT discards the will).
        self.assertEqual(self.gateway.stop(), 0)
        self.assertEqual(watcher.get()[:2], ("up/e2e/availability", b"offline"))
        # Retained: a late subscriber sees the last word.
        late = self.cloud_client("late")
        late.subscribe("up/e2e/availability", 1)
        topic, payload, _, retain = late.get()
        self.assertEqual((payload, retain), (b"offline", True))

    def test_a_host_that_does_not_resolve_is_logged_as_such_and_retried(self):
        self.start_gateway(bridge_toml("mqtt://fieldgate-e2e.invalid:1883",
                                       [{"direction": "out", "local": "e2e/#", "qos": 1}]))
        self.wait_log(r"bridge: cloud: cannot connect to mqtt://fieldgate-e2e\.invalid:1883: "
                      r"cannot resolve host 'fieldgate-e2e\.invalid'", timeout=15)
        self.assertEqual(self.sys_value("state"), "disconnected")
        # Meanwhile the gateway works and queues what the route takes.
        pub = self.local_client("local-pub")
        pub.publish("e2e/t", "kept", qos=1)
        self.assertEqual(self.sys_value("queued", expect="1"), "1")

    def test_status_in_sys_and_in_the_log(self):
        self.start_pair([{"direction": "out", "local": "e2e/#", "qos": 1}])
        self.assertEqual(self.sys_value("state", expect="connected"), "connected")
        self.assertEqual(self.sys_value("queued", expect="0"), "0")
        self.assertEqual(self.sys_value("dropped"), "0")
        self.cloud.stop()
        self.assertEqual(self.sys_value("state", expect="disconnected"), "disconnected")
        self.wait_log(r"bridge: cloud: connection to mqtt://127\.0\.0\.1:\d+ lost")
        pub = self.local_client("local-pub")
        for i in range(3):
            pub.publish("e2e/t", str(i), qos=1)
        self.assertEqual(self.sys_value("queued", expect="3"), "3")


if __name__ == "__main__":
    harness.main()
