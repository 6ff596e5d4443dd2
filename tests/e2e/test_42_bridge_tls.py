"""The bridge over TLS with a client certificate and a user name and password (from
password_env) on the cloud side; a cloud that refuses the credentials and accepts them once
reconfigured; a certificate the bridge cannot trust."""

import os
import subprocess
import tempfile
import shutil

import harness
from bridge_harness import BridgeTestCase, bridge_toml, make_certs


def passwd(user, password):
    def fill(path):
        subprocess.run(["mosquitto_passwd", "-b", path, user, password], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return fill


class BridgeTls(BridgeTestCase):

    def setUp(self):
        super().setUp()
        self.certdir = tempfile.mkdtemp(prefix="fieldgate-e2e-certs-")
        self.addCleanup(shutil.rmtree, self.certdir, True)
        self.certs = make_certs(self.certdir)

    def tls_cloud(self):
        c = self.certs
        return self.start_cloud(
            allow_anonymous=False, password_file=passwd("bridge", "s3cret"),
            listeners=[{"name": "tls", "tls_cert": c["server"], "tls_key": c["server-key"],
                        "tls_ca": c["ca"], "require_client_cert": True}])

    def cloud_user(self, client_id):
        return self.cloud_client(client_id, username="bridge", password="s3cret")

    def test_out_and_in_over_tls_with_certificate_and_password(self):
        self.tls_cloud()
        c = self.certs
        url = "mqtts://127.0.0.1:%d" % self.cloud.ports["tls"]
        self.start_gateway(
            bridge_toml(url, [{"direction": "out", "local": "e2e/#", "remote_prefix": "up/",
                               "qos": 1},
                              {"direction": "in", "local": "e2e/+/set", "remote_prefix": "up/",
                               "qos": 1}],
                        username="bridge", password_env="E2E_CLOUD_PASSWORD", tls_ca=c["ca"],
                        tls_cert=c["client"], tls_key=c["client-key"]),
            env={"E2E_CLOUD_PASSWORD": "s3cret"})
        self.wait_connected()
        up = self.cloud_user("cloud-sub")
        up.subscribe("up/e2e/data", 1)
        local = self.local_client("local")
        local.subscribe("e2e/+/set", 1)
        local.publish("e2e/data", "over tls", qos=1)
        self.assertEqual(up.get()[:2], ("up/e2e/data", b"over tls"))
        cloud = self.cloud_user("cloud-cmd")

        def command_arrives():
            cloud.publish("up/e2e/valve/set", "1", qos=1)
            try:
                return local.get(timeout=0.3)[:2] == ("e2e/valve/set", b"1")
            except AssertionError:
                return False
        harness.wait_for(command_arrives, timeout=5, interval=0, what="the command over TLS")

    def test_an_untrusted_server_certificate_is_logged_and_retried(self):
        self.tls_cloud()
        c = self.certs
        url = "mqtts://127.0.0.1:%d" % self.cloud.ports["tls"]
        self.start_gateway(
            bridge_toml(url, [{"direction": "out", "local": "e2e/#"}], username="bridge",
                        password="s3cret", tls_ca=c["other-ca"], tls_cert=c["client"],
                        tls_key=c["client-key"]))
        self.wait_log(r"bridge: cloud: cannot connect to mqtts://127\.0\.0\.1:\d+: TLS handshake "
                      r"failed: .*certificate verify failed")
        self.assertEqual(self.sys_value("state"), "disconnected")

    def test_refused_credentials_then_accepted_after_the_cloud_is_reconfigured(self):
        self.start_cloud(allow_anonymous=False, password_file=passwd("bridge", "old"))
        url = "mqtt://127.0.0.1:%d" % self.cloud.port
        self.start_gateway(bridge_toml(url, [{"direction": "out", "local": "e2e/#",
                                              "qos": 1}],
                                       username="bridge", password="new"))
        refusal = r"bridge: cloud: cannot connect to .*: the cloud broker refused the " \
                  r"connection: bad user name or password \(CONNACK 4\)|not authorized \(CONNACK 5\)"
        self.wait_log(refusal)
        # It keeps trying (back-off), and says so once per episode, not once per attempt.
        harness.wait_for(lambda: self.cloud.log_text().count("disconnected, not authorised") >= 3,
                         timeout=15, what="three attempts")
        import re
        self.assertEqual(len(re.findall(refusal, self.gateway.log_text())), 1)
        local = self.local_client("local")
        local.publish("e2e/queued", "while refused", qos=1)
        # The cloud learns the new password: no restart of fieldgate needed.
        passwd("bridge", "new")(os.path.join(self.cloud.tmpdir, "passwd"))
        self.cloud.reload()
        self.wait_connected(timeout=40)
        sub = self.cloud_client("cloud-sub", username="bridge", password="new")
        sub.subscribe("e2e/after", 1)
        local.publish("e2e/after", "connected", qos=1)
        self.assertEqual(sub.get()[:2], ("e2e/after", b"connected"))
        # What was queued while refused has gone up too.
        self.assertEqual(self.sys_value("queued", expect="0"), "0")


if __name__ == "__main__":
    harness.main()
