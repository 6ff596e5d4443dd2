"""Store-and-forward: messages published while the cloud is away reach it, all of them and in
order, when it comes back, also across a kill -9 of fieldgate; the queue's bounds drop the
oldest and say how many."""

import signal
import time

import harness
from bridge_harness import BridgeTestCase, LinkProxy, bridge_toml

N = 200


class BridgeForward(BridgeTestCase):

    def setup_pair(self, persistence, route_qos=1, **keys):
        self.start_cloud(persistent=True)
        url = "mqtt://127.0.0.1:%d" % self.cloud.port
        self.start_gateway(bridge_toml(url, [{"direction": "out", "local": "e2e/#",
                                              "remote_prefix": "up/", "qos": route_qos}],
                                       **keys),
                           persistence=persistence)
        self.wait_connected()

    def cloud_subscriber(self, qos=1):
        """A persistent session on the cloud, subscribed to the forwarded messages."""
        sub = harness.PahoClient(self.cloud.port, "cloud-sub", clean_session=False)
        self.addCleanup(sub.disconnect)
        sub.connect()
        sub.subscribe("up/e2e/seq", qos)
        return sub

    def publish_while_cloud_is_away(self, count, qos_of=lambda i: 1):
        pub = self.local_client("local-pub")
        for i in range(count):
            pub.publish("e2e/seq", str(i), qos=qos_of(i))
        pub.disconnect()

    def expect_all_in_order(self, count, timeout=20):
        sub = harness.PahoClient(self.cloud.port, "cloud-sub", clean_session=False)
        self.addCleanup(sub.disconnect)
        sub.connect()
        got = [int(p) for _t, p in self.receive(sub, count, timeout=timeout)]
        self.assertEqual(got, list(range(count)))
        sub.get_nothing(1.0)  # and nothing twice

    def test_cloud_outage_backlog_arrives_in_order(self):
        # persistence off: the queue is in memory and still bridges an outage
        self.setup_pair(persistence=False)
        self.cloud_subscriber().disconnect()
        self.cloud.stop()
        self.wait_log(r"bridge: cloud: connection to .* lost")
        self.publish_while_cloud_is_away(N)
        self.assertEqual(self.sys_value("queued", expect=str(N)), str(N))
        self.cloud.start(same_port=True)
        self.wait_log(r"bridge: cloud: connected to .*%d queued messages" % N, timeout=15)
        self.expect_all_in_order(N)
        self.assertEqual(self.sys_value("queued", expect="0"), "0")

    def test_kill_9_with_a_backlog_loses_nothing(self):
        self.setup_pair(persistence=True, route_qos=2)
        self.cloud_subscriber(qos=2).disconnect()
        self.cloud.stop()
        self.wait_log(r"bridge: cloud: connection to .* lost")
        # QoS 0, 1 and 2 alike are stored while the link is down.
        self.publish_while_cloud_is_away(N, qos_of=lambda i: i % 3)
        self.gateway.stop(signal.SIGKILL)
        self.cloud.start(same_port=True)
        sub = self.cloud_subscriber(qos=2)
        self.gateway.start(same_port=True)
        self.wait_log(r"bridge: cloud: %d messages queued by the last run" % N)
        got = [int(p) for _t, p in self.receive(sub, N, timeout=20)]
        # Nothing lost, nothing twice; in order per QoS (Mosquitto passes a QoS 2 message on at
        # PUBREL, so across QoS levels the cloud may reorder: MQTT orders per QoS only).
        self.assertEqual(sorted(got), list(range(N)))
        for qos in range(3):
            mine = [i for i in got if i % 3 == qos]
            self.assertEqual(mine, sorted(mine), "QoS %d out of order" % qos)
        sub.get_nothing(1.0)
        # Everything acknowledged is gone from the store: a clean restart sends nothing again.
        harness.wait_for(lambda: self.sys_value("queued") == "0", timeout=5, what="queue empty")
        self.assertEqual(self.gateway.restart(), 0)
        self.wait_connected()
        sub.get_nothing(1.5)

    def test_clean_restart_with_a_backlog_loses_nothing(self):
        self.setup_pair(persistence=True)
        self.cloud_subscriber().disconnect()
        self.cloud.stop()
        self.wait_log(r"bridge: cloud: connection to .* lost")
        self.publish_while_cloud_is_away(50)
        self.assertEqual(self.gateway.stop(), 0)
        self.cloud.start(same_port=True)
        sub = self.cloud_subscriber()
        self.gateway.start(same_port=True)
        got = [int(p) for _t, p in self.receive(sub, 50)]
        self.assertEqual(got, list(range(50)))
        sub.get_nothing(1.0)

    def test_qos2_in_flight_when_the_link_breaks_arrives_exactly_once(self):
        self.start_cloud()
        proxy = LinkProxy(self.cloud.port)
        self.addCleanup(proxy.close)
        self.start_gateway(bridge_toml("mqtt://127.0.0.1:%d" % proxy.port,
                                       [{"direction": "out", "local": "e2e/#", "qos": 2}],
                                       keepalive_s=5))
        self.wait_connected()
        sub = self.cloud_client("cloud-sub")
        sub.subscribe("e2e/seq", 2)
        # The cloud stops answering: the PUBLISHes leave, their PUBRECs do not come.
        self.cloud.proc.send_signal(signal.SIGSTOP)
        try:
            pub = self.local_client("local-pub")
            for i in range(20):
                pub.publish("e2e/seq", str(i), qos=2)
            time.sleep(0.5)
            proxy.cut()  # the uplink fails with 20 messages in flight
        finally:
            self.cloud.proc.send_signal(signal.SIGCONT)
        self.wait_log(r"bridge: cloud: connection to .* lost")
        proxy.restore()
        self.wait_log(r"bridge: cloud: connected to .* \(session resumed\)", timeout=20)
        got = [int(p) for _t, p in self.receive(sub, 20, timeout=15)]
        self.assertEqual(got, list(range(20)))
        sub.get_nothing(1.5)
        self.assertEqual(self.sys_value("queued", expect="0"), "0")

    def test_queue_bounds_drop_the_oldest_and_count_them(self):
        self.setup_pair(persistence=True, queue_max_messages=5)
        self.cloud_subscriber().disconnect()
        self.cloud.stop()
        self.wait_log(r"bridge: cloud: connection to .* lost")
        self.publish_while_cloud_is_away(12)
        self.assertEqual(self.sys_value("dropped", expect="7"), "7")
        self.assertEqual(self.sys_value("queued", expect="5"), "5")
        self.wait_log(r"bridge: cloud: queue full \(queue_max_messages 5, .*: dropped \d+ of the "
                      r"oldest messages")
        self.cloud.start(same_port=True)
        sub = harness.PahoClient(self.cloud.port, "cloud-sub", clean_session=False)
        self.addCleanup(sub.disconnect)
        sub.connect()
        got = [int(p) for _t, p in self.receive(sub, 5)]
        self.assertEqual(got, list(range(7, 12)))
        sub.get_nothing(1.0)
        # The dropped rows left the store too: a restart brings back nothing.
        self.assertEqual(self.gateway.restart(), 0)
        self.wait_connected()
        self.assertNotRegex(self.gateway.log_text(), r"messages queued by the last run")


if __name__ == "__main__":
    harness.main()
