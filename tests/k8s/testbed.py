"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver and kube-controller-manager,
the current release built from the Go module proxy by ``tests/go/build.sh`` (see ``KUBERNETES``).

No kubelet and no scheduler run: ``kubelet.FakeKubelet`` binds pods and marks them ready, and
``metrics.FakeMetricsServer`` serves ``metrics.k8s.io``. Every process is stopped by PID.

The service network is on loopback (127.0.100.0/24): no cluster IP ever leads off 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from mlscale.net import free_port as free_port  # one definition, re-exported
from tests.k8s.certs import make_pki

CACHE = Path(os.environ.get("MLSCALE_K8S_CACHE", "/var/cache/mlscale-k8s"))
BIN = CACHE / "programs"
"""Where tests/go/build.sh puts the programs it builds."""
KUBERNETES = "v1.37.2"
"""The release the cluster runs (tests/go/kubernetes/go.mod): the newest minor the Go module proxy
serves. Its kubelet still starts on cgroup v1 (this machine's) when told ``failCgroupV1: false``."""
SERVICE_CIDR = "127.0.100.0/24"
ADMIN_TOKEN = "mlscale-testbed-admin"
CONTROLLER_TOKEN = "mlscale-testbed-controller-manager"


def binaries_present() -> bool:
    return (
        (BIN / "kube-apiserver").exists()
        and (BIN / "kube-controller-manager").exists()
        and (BIN / "etcd").exists()
    )


@dataclass
class Testbed:
    workdir: Path
    hpa_sync_seconds: int = 2
    service_cidr: str = SERVICE_CIDR
    """A real node's pods need a range they can route to (tests/cluster); the fake kubelet's do not."""
    apiserver_args: list[str] = field(default_factory=list)
    address: str = "127.0.0.1"
    """Where the API server listens and what it advertises. A real node's pods reach it at the
    `kubernetes` Service (tests/cluster: the node's bridge address, whose endpoint the API server
    then keeps); on loopback no pod needs it and the Service has no endpoint."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[BinaryIO] = field(default_factory=list)
    api_port: int = 0
    started_in: float = 0.0

    @property
    def api_url(self) -> str:
        return f"https://{self.address}:{self.api_port}"

    @property
    def service_ip(self) -> str:
        """The `kubernetes` Service's address: the first of the range."""
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def _kubeconfig(self, path: Path, user: str, token: str) -> None:
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: testbed\n  cluster:\n    server: {self.api_url}\n"
            f"    certificate-authority: {self.workdir / 'pki' / 'ca.crt'}\n"
            f"users:\n- name: {user}\n  user:\n    token: {token}\n"
            f"contexts:\n- name: testbed\n  context:\n    cluster: testbed\n    user: {user}\n"
            "current-context: testbed\n"
        )

    def launch(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start a program in its own session, logging to workdir/NAME.log; `stop` ends it."""
        log = (self.workdir / f"{name}.log").open("wb")
        self.logs.append(log)
        self.processes[name] = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )

    def start(self) -> Testbed:
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki = self.workdir / "pki"
        make_pki(pki, self.service_ip, self.address)
        (self.workdir / "tokens.csv").write_text(
            f'{ADMIN_TOKEN},admin,admin,"system:masters"\n'
            f'{CONTROLLER_TOKEN},system:kube-controller-manager,controller-manager,"system:masters"\n'
        )
        etcd_port, peer_port, self.api_port = free_port(), free_port(), free_port()
        self.launch(
            "etcd",
            [
                str(BIN / "etcd"),
                "--name",
                "testbed",
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"testbed=http://127.0.0.1:{peer_port}",
            ],
        )
        self._wait(f"http://127.0.0.1:{etcd_port}/health", "etcd", verify=False)
        self.launch(
            "kube-apiserver",
            [
                str(BIN / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--bind-address={self.address}",
                f"--secure-port={self.api_port}",
                f"--advertise-address={self.address}",
                f"--endpoint-reconciler-type={'none' if self.address == '127.0.0.1' else 'lease'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-cluster-ip-range={self.service_cidr}",
                f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki / 'front-proxy.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy.key'}",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                "--allow-privileged=true",
                *self.apiserver_args,
            ],
        )
        self._kubeconfig(self.kubeconfig, "admin", ADMIN_TOKEN)
        self._wait(f"{self.api_url}/readyz", "kube-apiserver")
        controller_config = self.workdir / "controller-manager.kubeconfig"
        self._kubeconfig(controller_config, "controller-manager", CONTROLLER_TOKEN)
        self.launch(
            "kube-controller-manager",
            [
                str(BIN / "kube-controller-manager"),
                f"--kubeconfig={controller_config}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--controllers=*",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--horizontal-pod-autoscaler-sync-period={self.hpa_sync_seconds}s",
                # Every HPA sync's proposal and decision, stamped to the microsecond (controller_log.py).
                "--vmodule=horizontal=4",
                # The window of an HPA without behavior (default 5 min), as test_hpa.py replays it.
                "--horizontal-pod-autoscaler-downscale-stabilization=9s",
                # The ReplicaSet controller makes hundreds of pods at once in the 1,000-pod test;
                # at the default 20 requests/s that alone would take most of a minute.
                "--kube-api-qps=500",
                "--kube-api-burst=1000",
            ],
        )
        self.started_in = time.monotonic() - began
        return self

    def _wait(self, url: str, name: str, verify: bool = True, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ca: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.workdir / "pki" / "ca.crt")) if verify else False
        )
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}: see {self.workdir / (name + '.log')}"
                )
            try:
                if httpx.get(url, headers=headers, verify=ca, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{name} was not ready in {timeout:.0f} s: see {self.workdir / (name + '.log')}")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        for log in self.logs:
            log.close()
