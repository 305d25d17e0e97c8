"""A one-node Kubernetes on this machine, from Debian's packages and Debian's kubernetes source.

dockerd (runc behind ``runc-clamp``), etcd, kube-apiserver, kube-controller-manager (the real
HPA controller), kube-scheduler, the kubelet with its built-in dockershim (pods run on the same
dockerd that builds the images, as on Minikube's docker driver), kube-proxy in iptables mode, a CNI
bridge with host-local addresses, a DNS server for ``*.svc.cluster.local`` and a metrics.k8s.io
server whose CPU numbers are the kubelet's own (what metrics-server serves).

The network stays on this machine: pods live on the bridge ``mlscale0`` (10.244.0.0/24), Service
addresses (10.96.0.0/24) are routed to that bridge, the FORWARD chain refuses anything from a pod to
an address outside the pod range, and while the cluster runs the OUTPUT chain refuses the cloud
metadata range. ``HostGuard`` undoes every change to the host at ``stop``.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
from kubernetes import client, config

from tests.cluster.dns import ClusterDNS
from tests.cluster.host import KUBELET_TUNABLES, HostGuard, mounts_under, reject_metadata_rule, unmount_under
from tests.k8s.metrics import FakeMetricsServer
from tests.k8s.testbed import BIN, CACHE, Testbed, free_port

POD_CIDR = "10.244.0.0/24"
GATEWAY = "10.244.0.1"
"""The bridge's address: the pods' gateway and nameserver, the node's IP, the host as pods see it."""
SERVICE_CIDR = "10.96.0.0/24"
BRIDGE = "mlscale0"
NODE = "mlscale-node"
RUN = Path("/run/mlscale-cluster")
DOCKER_HOST = f"unix://{RUN}/docker.sock"
DOCKER_DATA = CACHE / "docker"
"""Images and the build cache outlive a run: the base image and the images build once per machine."""
BASE_TARBALL = CACHE / "base" / "python-3.11-slim.tar"
BASE_IMAGE = "python:3.11-slim"
PAUSE_IMAGE = "k8s.gcr.io/pause:3.2"
RUNC_CLAMP = Path(__file__).with_name("runc-clamp")


def binaries_missing() -> list[str]:
    wanted = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "pause"]
    missing = [str(BIN / name) for name in wanted if not (BIN / name).exists()]
    missing += [p for p in ("dockerd", "runc", "iptables", "conntrack") if not _which(p)]
    if not BASE_TARBALL.exists():
        missing.append(str(BASE_TARBALL))
    return missing


def _which(program: str) -> bool:
    return shutil.which(program) is not None


def run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class KubeletUsage:
    """Per-pod CPU in millicores from the kubelet's /stats/summary (cAdvisor's usageNanoCores), read
    at most once a second: what metrics-server reports to the HPA controller."""

    url: str
    fetched: float = 0.0
    usage: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/stats/summary", timeout=5).json()  # type: ignore[no-any-return]

    def __call__(self, pod: Any, elapsed: float) -> float | None:
        with self.lock:
            if time.monotonic() - self.fetched > 1.0:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    self.usage = {
                        (p["podRef"]["namespace"], p["podRef"]["name"]): p["cpu"]["usageNanoCores"] / 1e6
                        for p in self.summary().get("pods", [])
                        if "usageNanoCores" in p.get("cpu", {})
                    }
                    self.fetched = time.monotonic()
            return self.usage.get((pod.metadata.namespace, pod.metadata.name))

    def cpu_seconds(self, namespace: str, name: str) -> float | None:
        """The pod's cumulative CPU time (usageCoreNanoSeconds), for calibration."""
        for pod in self.summary().get("pods", []):
            if (pod["podRef"]["namespace"], pod["podRef"]["name"]) == (namespace, name):
                return float(pod["cpu"]["usageCoreNanoSeconds"]) / 1e9
        return None


@dataclass
class OneNodeCluster:
    workdir: Path
    hpa_sync_seconds: int = 15
    """Kubernetes' default: the comparison with the local backend is only fair at the same period."""
    guard: HostGuard = field(default_factory=HostGuard)
    timings: dict[str, float] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)
    testbed: Testbed | None = None
    api: client.ApiClient | None = None
    dns: ClusterDNS | None = None
    metrics: FakeMetricsServer | None = None
    usage: KubeletUsage | None = None
    kubelet_port: int = 0
    readonly_port: int = 0
    _docker: docker.DockerClient | None = None

    # --- helpers ---
    def _timed(self, name: str, began: float) -> None:
        self.timings[name] = round(time.monotonic() - began, 1)

    @property
    def kubeconfig(self) -> Path:
        assert self.testbed is not None
        return self.testbed.kubeconfig

    def docker(self) -> docker.DockerClient:
        """One client for the session (each holds a connection pool: closed at ``stop``)."""
        if self._docker is None:
            self._docker = docker.DockerClient(base_url=DOCKER_HOST, version="1.41", timeout=600)
        return self._docker

    @staticmethod
    def _docker_answers() -> bool:
        # A plain connect first: the SDK's failed unix connect leaves its socket open.
        with socket.socket(socket.AF_UNIX) as raw:
            if raw.connect_ex(DOCKER_HOST.removeprefix("unix://")) != 0:
                return False
        with contextlib.closing(
            docker.DockerClient(base_url=DOCKER_HOST, version="1.41", timeout=5)
        ) as probe:
            return bool(probe.ping())

    def _launch(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        assert self.testbed is not None
        self.testbed.launch(name, args, env)
        self.guard.started(name, self.testbed.processes[name].pid)

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = 120, process: str = "") -> None:
        assert self.testbed is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process and self.testbed.processes[process].poll() is not None:
                raise RuntimeError(f"{process} exited: see {self.testbed.workdir / (process + '.log')}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.25)
        log = f": see {self.testbed.workdir / (process + '.log')}" if process else ""
        raise RuntimeError(f"{what} did not happen in {timeout:.0f} s{log}")

    # --- start ---
    def start(self) -> OneNodeCluster:
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.leftovers = self.guard.begin()
        # Before any program starts: nothing here may reach a cloud metadata address.
        run("iptables", "-I", *reject_metadata_rule())
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        run("ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE)  # kube-proxy DNATs what goes there
        self.testbed = Testbed(
            self.workdir / "control-plane",
            hpa_sync_seconds=self.hpa_sync_seconds,
            service_cidr=SERVICE_CIDR,
            # The API server reaches the kubelet (logs, exec, port-forward) at the node's address,
            # not by its name: no lookup of the node's name leaves this machine.
            apiserver_args=["--kubelet-preferred-address-types=InternalIP"],
        )
        self.testbed.workdir.mkdir(parents=True, exist_ok=True)
        self._dockerd()
        self._images()
        step = time.monotonic()
        self.testbed.start()
        for name, process in self.testbed.processes.items():
            self.guard.started(name, process.pid)
        self._timed("control plane", step)
        self.api = config.new_client_from_config(str(self.testbed.kubeconfig))
        self.dns = ClusterDNS(self.api, GATEWAY).start()
        self._scheduler()
        self._kube_proxy()
        self._pod_traffic_rules()
        self._kubelet()
        self.usage = KubeletUsage(f"http://{GATEWAY}:{self.readonly_port}")
        self.metrics = FakeMetricsServer(self.api, self.testbed.workdir / "pki", scenario=self.usage).start()
        self._timed("cluster", began)
        return self

    def _dockerd(self) -> None:
        step = time.monotonic()
        RUN.mkdir(parents=True, exist_ok=True)
        DOCKER_DATA.mkdir(parents=True, exist_ok=True)
        self._launch(
            "dockerd",
            [
                "dockerd",
                f"--host={DOCKER_HOST}",
                f"--data-root={DOCKER_DATA}",
                f"--exec-root={RUN}/docker-exec",
                f"--pidfile={RUN}/docker.pid",
                f"--add-runtime=mlscale-runc={RUNC_CLAMP}",
                "--default-runtime=mlscale-runc",
                "--oom-score-adjust=0",
                "--storage-driver=overlay2",
                "--log-level=warn",
            ],
        )
        self._wait("dockerd answering", self._docker_answers, 60, "dockerd")
        self._timed("dockerd", step)

    def _images(self) -> None:
        """The stand-in base image and the pause image, imported once into dockerd's cached store."""
        step = time.monotonic()
        api = self.docker().api
        names = {tag for image in api.images() for tag in (image.get("RepoTags") or [])}
        if BASE_IMAGE not in names:
            api.import_image(
                src=str(BASE_TARBALL),
                repository=BASE_IMAGE.split(":")[0],
                tag=BASE_IMAGE.split(":")[1],
                changes=[
                    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "ENV LANG=C.UTF-8",
                    'CMD ["python3"]',
                ],
            )
        if PAUSE_IMAGE not in names:
            layer = io.BytesIO()
            with tarfile.open(fileobj=layer, mode="w") as tar:
                tar.add(str(BIN / "pause"), arcname="pause")
            api.import_image_from_data(
                layer.getvalue(),
                repository=PAUSE_IMAGE.rsplit(":", 1)[0],
                tag=PAUSE_IMAGE.rsplit(":", 1)[1],
                changes=['ENTRYPOINT ["/pause"]'],
            )
        self._timed("base images", step)

    def _scheduler(self) -> None:
        assert self.testbed is not None
        self._launch(
            "kube-scheduler",
            [
                str(BIN / "kube-scheduler"),
                f"--kubeconfig={self.testbed.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--port=0",
            ],
        )

    def _kube_proxy(self) -> None:
        assert self.testbed is not None
        healthz = free_port()
        self._launch(
            "kube-proxy",
            [
                str(BIN / "kube-proxy"),
                f"--kubeconfig={self.testbed.kubeconfig}",
                f"--hostname-override={NODE}",
                "--proxy-mode=iptables",
                f"--cluster-cidr={POD_CIDR}",
                "--bind-address=127.0.0.1",
                f"--healthz-bind-address=127.0.0.1:{healthz}",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                f"--nodeport-addresses={GATEWAY}/32",
                # No conntrack sysctls: leave the host's table sizes and timeouts alone.
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                "--oom-score-adj=0",
            ],
        )
        self._wait(
            "kube-proxy healthy",
            lambda: httpx.get(f"http://127.0.0.1:{healthz}/healthz", timeout=2).status_code == 200,
            60,
            "kube-proxy",
        )

    def _pod_traffic_rules(self) -> None:
        """Pods may talk to pods (and, through INPUT, to the host's bridge address); nothing else."""
        run("iptables", "-I", "FORWARD", "1", "-s", POD_CIDR, "!", "-d", POD_CIDR, "-j", "REJECT")
        run("iptables", "-I", "FORWARD", "1", "-s", POD_CIDR, "-d", POD_CIDR, "-j", "ACCEPT")

    def _kubelet(self) -> None:
        assert self.testbed is not None
        assert self.api is not None
        step = time.monotonic()
        root = self.workdir / "kubelet"
        (root / "cni").mkdir(parents=True, exist_ok=True)
        (root / "cni" / "10-mlscale.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "0.4.0",
                    "name": "mlscale",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(root / "ipam"),
                            },
                        }
                    ],
                }
            )
        )
        self.kubelet_port, self.readonly_port, healthz = free_port(), free_port(), free_port()
        settings = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": GATEWAY,
            "port": self.kubelet_port,
            "readOnlyPort": self.readonly_port,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz,
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "clusterDomain": "cluster.local",
            "clusterDNS": [GATEWAY],
            "resolvConf": "",  # pods ask the cluster DNS only, never the host's resolver
            "makeIPTablesUtilChains": False,
            # The images were built on this node and are never pulled: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
            },
            "serializeImagePulls": False,
        }
        config_file = root / "config.yaml"
        config_file.write_text(json.dumps(settings))
        self._launch(
            "kubelet",
            [
                str(BIN / "kubelet"),
                f"--config={config_file}",
                f"--kubeconfig={self.testbed.kubeconfig}",
                f"--hostname-override={NODE}",
                f"--node-ip={GATEWAY}",
                f"--root-dir={root / 'root'}",
                f"--cert-dir={root / 'pki'}",
                "--container-runtime=docker",
                f"--docker-endpoint={DOCKER_HOST}",
                # cAdvisor's own docker client (how the kubelet maps cgroups to pods for its stats)
                # has its own flag, unix:///var/run/docker.sock unless told.
                f"--docker={DOCKER_HOST}",
                f"--docker-root={DOCKER_DATA}",
                f"--pod-infra-container-image={PAUSE_IMAGE}",
                "--network-plugin=cni",
                f"--cni-conf-dir={root / 'cni'}",
                "--cni-bin-dir=/usr/lib/cni",
                f"--cni-cache-dir={root / 'cni-cache'}",
                f"--experimental-dockershim-root-directory={root / 'dockershim'}",
                f"--volume-plugin-dir={root / 'volume-plugins'}",
                "--v=1",
            ],
            # No cloud provider is compiled in (providerless); this keeps the AWS SDK quiet if one were.
            env={"AWS_EC2_METADATA_DISABLED": "true"},
        )
        core = client.CoreV1Api(self.api)
        self._wait("node registration", lambda: bool(core.read_node(NODE)), 60, "kubelet")
        self.guard.restore_sysctls(KUBELET_TUNABLES)

        def node_ready() -> bool:
            node: Any = core.read_node(NODE)
            conditions = node.status.conditions or []
            return any(c.type == "Ready" and c.status == "True" for c in conditions)

        self._wait("node Ready", node_ready, 120, "kubelet")
        self._timed("kubelet to node Ready", step)

    # --- stop ---
    def stop(self) -> list[str]:
        """Stop everything, remove the pods' containers, and put the host back. Returns problems."""
        problems: list[str] = []
        for part in (self.metrics, self.dns):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        if self.api is not None:
            self.api.close()
        if self.testbed is not None:
            kubelet = self.testbed.processes.pop("kubelet", None)
            if kubelet is not None and kubelet.poll() is None:
                kubelet.terminate()
                kubelet.wait(timeout=30)
            with contextlib.suppress(Exception):
                pods = self.docker().containers.list(all=True, filters={"label": "io.kubernetes.pod.name"})
                for container in pods:
                    container.remove(force=True)
            if self._docker is not None:
                self._docker.close()
                self._docker = None
            self.testbed.stop()
        unmount_under([str(self.workdir)])  # the kubelet's volume mounts (tmpfs for secrets)
        problems += [f"still mounted: {m}" for m in mounts_under(str(self.workdir))]
        problems += self.guard.end()
        shutil.rmtree(RUN / "docker-exec", ignore_errors=True)  # dockerd's runtime state, once it is gone
        return problems
