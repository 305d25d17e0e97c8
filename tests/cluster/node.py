"""A one-node Kubernetes on this machine: the current release on containerd, built from the Go
module proxy (``tests/go``), with the real metrics-server and CoreDNS.

etcd, kube-apiserver, kube-controller-manager (the real HPA controller), kube-scheduler,
containerd (CRI; runc from Debian), the kubelet, kube-proxy in iptables mode, a CNI bridge with
host-local addresses, CoreDNS answering ``*.svc.cluster.local`` from the API server, and
metrics-server scraping the kubelet's ``/metrics/resource`` over TLS (the kubelet's serving
certificate verified against the cluster's CA) behind the ``v1beta1.metrics.k8s.io`` APIService.
Control-plane programs, metrics-server and CoreDNS run as processes on the node, as a static-pod
control plane would; pods run in containerd. A separate dockerd builds the images, as a user's
Docker does: ``mlscale up`` imports them into containerd's ``k8s.io`` namespace (or pushes them
to a registry the node pulls from).

The network stays on this machine: pods live on the bridge ``mlscale0`` (10.244.0.0/24), Service
addresses (10.96.0.0/24) are routed to that bridge, the FORWARD chain refuses anything from a pod to
an address outside the pod range, and from before the first program starts until the last one has
stopped, OUTPUT and FORWARD refuse the cloud metadata range (169.254.0.0/16). ``HostGuard`` undoes
every change to the host at ``stop``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.cluster.host import (
    KUBELET_TUNABLES,
    HostGuard,
    metadata_counters,
    metadata_rules,
    mounts_under,
    unmount_under,
)
from tests.k8s.certs import signed
from tests.k8s.metrics import register_on_loopback
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
CONTAINERD_ROOT = CACHE / "containerd"
"""containerd's content store and snapshots outlive a run too (images imported once stay)."""
CONTAINERD_SOCKET = RUN / "containerd.sock"
BASE_TARBALL = CACHE / "base" / "python-3.11-slim.tar"
BASE_IMAGE = "python:3.11-slim"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"
"""The sandbox image kubeadm v1.37 names; built here from the release's own pause.c."""
METRICS_RESOLUTION = 15
"""metrics-server's default scrape period (--metric-resolution)."""


def binaries_missing() -> list[str]:
    wanted = [
        *("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"),
        *("pause", "etcd", "containerd", "containerd-shim-runc-v2", "ctr", "metrics-server", "coredns"),
        *("prometheus", "kube-state-metrics", "keda", "keda-adapter", "victoria-logs", "vlagent"),
    ]
    missing = [str(BIN / name) for name in wanted if not (BIN / name).exists()]
    missing += [p for p in ("dockerd", "runc", "iptables", "conntrack") if not shutil.which(p)]
    if not BASE_TARBALL.exists():
        missing.append(str(BASE_TARBALL))
    return missing


def run(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def containerd_config(root: Path, state: Path, socket_path: Path, cni_conf: Path, hosts: Path) -> str:
    """containerd 2.x's configuration (version 3) for the node: CRI with runc (cgroupfs, as the
    kubelet is told), CNI from Debian's plugins, the sandbox image built here. Pods' negative
    oom_score_adj (-998 for sandboxes, -997 for Guaranteed pods) is raised to containerd's own (0):
    lowering a score needs CAP_SYS_RESOURCE, which root on these VMs lacks."""
    return f"""version = 3
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "{socket_path}"

[ttrpc]
  address = "{socket_path}.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{hosts}"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{shutil.which("runc") or "/usr/sbin/runc"}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{cni_conf}"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def corefile(kubeconfig: Path, health_port: int, ready_port: int) -> str:
    """CoreDNS as kubeadm configures it, less `forward`: names outside the cluster are not answered,
    so no pod's query leaves this machine."""
    return f""".:53 {{
    bind {GATEWAY}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} testbed
        pods insecure
        ttl 5
    }}
    cache 5
}}
"""


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
    kubelet_port: int = 0
    metadata_probes: int = 0
    """Packets a test sent to the metadata range on purpose (to see the guard refuse them)."""
    metadata_refused: dict[str, int] = field(default_factory=dict)
    """The guard's counters per chain, read at ``stop`` once every program had stopped."""
    _docker: docker.DockerClient | None = None

    # --- helpers ---
    def _timed(self, name: str, began: float) -> None:
        self.timings[name] = round(time.monotonic() - began, 1)

    @property
    def pod_logs(self) -> Path:
        """The kubelet's podLogsDir (/var/log/containers links into it), in the run's directory."""
        return self.workdir / "kubelet" / "pod-logs"

    @property
    def kubeconfig(self) -> Path:
        assert self.testbed is not None
        return self.testbed.kubeconfig

    @property
    def pki(self) -> Path:
        assert self.testbed is not None
        return self.testbed.workdir / "pki"

    def docker(self) -> docker.DockerClient:
        """One client for the session (each holds a connection pool: closed at ``stop``)."""
        if self._docker is None:
            self._docker = docker.DockerClient(base_url=DOCKER_HOST, version="1.41", timeout=600)
        return self._docker

    def ctr(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> str:
        """containerd's own client, in the namespace CRI keeps the pods' images in."""
        done = subprocess.run(
            [str(BIN / "ctr"), "--address", str(CONTAINERD_SOCKET), "--namespace", "k8s.io", *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode()

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        return run(str(BIN / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args, timeout=timeout)

    @staticmethod
    def _socket_answers(path: Path) -> bool:
        with socket.socket(socket.AF_UNIX) as raw:
            return raw.connect_ex(str(path)) == 0

    def _docker_answers(self) -> bool:
        # A plain connect first: the SDK's failed unix connect leaves its socket open.
        if not self._socket_answers(Path(DOCKER_HOST.removeprefix("unix://"))):
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
        # Before any program starts: nothing here (pods and image builds included) may reach a
        # cloud metadata address. The rules stay until everything has stopped (``stop``).
        for rule in metadata_rules():
            run("iptables", "-I", *rule)
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        run("ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE)  # kube-proxy DNATs what goes there
        self.testbed = Testbed(
            self.workdir / "control-plane",
            hpa_sync_seconds=self.hpa_sync_seconds,
            service_cidr=SERVICE_CIDR,
            address=GATEWAY,  # in-cluster clients (kube-state-metrics, KEDA, Prometheus) reach it
            # The API server reaches the kubelet (logs, exec, port-forward) at the node's address,
            # not by its name: no lookup of the node's name leaves this machine.
            apiserver_args=["--kubelet-preferred-address-types=InternalIP"],
        )
        self.testbed.workdir.mkdir(parents=True, exist_ok=True)
        self._dockerd()
        self._containerd()
        step = time.monotonic()
        self.testbed.start()
        for name, process in self.testbed.processes.items():
            self.guard.started(name, process.pid)
        self._timed("control plane", step)
        self.api = config.new_client_from_config(str(self.testbed.kubeconfig))
        self._images()
        self._scheduler()
        self._pod_traffic_rules()
        self._kubelet()
        self._kube_proxy()  # after the node registered: it reads the node's address from it
        self._coredns()
        self._metrics_server()
        self._timed("cluster", began)
        return self

    def _dockerd(self) -> None:
        """The builder: `mlscale up` builds its images here, as on a user's machine."""
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
                "--oom-score-adjust=0",
                "--storage-driver=overlay2",
                "--log-level=warn",
            ],
        )
        self._wait("dockerd answering", self._docker_answers, 60, "dockerd")
        self._timed("dockerd", step)

    def _containerd(self) -> None:
        assert self.testbed is not None
        step = time.monotonic()
        root = self.workdir / "containerd"
        (root / "cni").mkdir(parents=True, exist_ok=True)
        # No registry but those a test names: a pull from any other (Docker Hub for an image that
        # is missing, say) goes to a closed port on loopback and fails here, not on the internet.
        (root / "certs.d" / "_default").mkdir(parents=True, exist_ok=True)
        (root / "certs.d" / "_default" / "hosts.toml").write_text('server = "http://127.0.0.1:9"\n')
        (root / "cni" / "10-mlscale.conflist").write_text(json.dumps(self._cni_config()))
        config_file = root / "config.toml"
        config_file.write_text(
            containerd_config(
                CONTAINERD_ROOT, RUN / "containerd", CONTAINERD_SOCKET, root / "cni", root / "certs.d"
            )
        )
        self._launch(
            "containerd",
            [str(BIN / "containerd"), f"--config={config_file}"],
            # The shim is found on PATH, next to containerd.
            env={"PATH": f"{BIN}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"},
        )
        self._wait("containerd answering", lambda: bool(self.ctr("version")), 60, "containerd")
        self._timed("containerd", step)

    def _cni_config(self) -> dict[str, Any]:
        return {
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
                        "dataDir": str(self.workdir / "containerd" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }

    def trust_registry(self, host: str) -> None:
        """Let the node pull from a plain-HTTP registry at ``host`` (what a user with a local
        registry writes into containerd's hosts directory)."""
        hosts = self.workdir / "containerd" / "certs.d" / host
        hosts.mkdir(parents=True, exist_ok=True)
        (hosts / "hosts.toml").write_text(
            f'server = "http://{host}"\n\n[host."http://{host}"]\n  capabilities = ["pull", "resolve"]\n'
        )

    def image_names(self) -> set[str]:
        """The images containerd holds for the kubelet."""
        return {line.split()[0] for line in self.ctr("images", "list").splitlines()[1:] if line.strip()}

    def load_image(self, tag: str) -> None:
        """A dockerd image into containerd's k8s.io namespace: what `kind load docker-image` does."""
        archive = b"".join(self.docker().images.get(tag).save(named=tag))
        self.ctr("images", "import", "--no-unpack=false", "-", stdin=archive)

    def _images(self) -> None:
        """The stand-in base image in dockerd (for builds) and the pause image in containerd, both
        made once per machine and kept in their cached stores."""
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
                changes=['ENTRYPOINT ["/pause"]', "USER 65535:65535"],
            )
        if PAUSE_IMAGE not in self.image_names():
            self.load_image(PAUSE_IMAGE)
        self._timed("base images", step)

    def _scheduler(self) -> None:
        assert self.testbed is not None
        self._launch(
            "kube-scheduler",
            [
                str(BIN / "kube-scheduler"),
                f"--kubeconfig={self.testbed.kubeconfig}",
                f"--authentication-kubeconfig={self.testbed.kubeconfig}",
                f"--authorization-kubeconfig={self.testbed.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
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
        """Pods may talk to pods (and, through INPUT, to the host's bridge address); nothing else.
        Appended, so that the metadata guard at the top of FORWARD still sees, and counts, what a
        pod sends to 169.254.0.0/16."""
        run("iptables", "-A", "FORWARD", "-s", POD_CIDR, "-d", POD_CIDR, "-j", "ACCEPT")
        run("iptables", "-A", "FORWARD", "-s", POD_CIDR, "!", "-d", POD_CIDR, "-j", "REJECT")

    def _kubelet(self) -> None:
        assert self.testbed is not None
        assert self.api is not None
        step = time.monotonic()
        root = self.workdir / "kubelet"
        root.mkdir(parents=True, exist_ok=True)
        # The kubelet's serving certificate, from the cluster's CA: metrics-server verifies it.
        signed(self.pki, "kubelet", f"/CN={NODE}", f"IP:{GATEWAY},DNS:{NODE}")
        self.kubelet_port, healthz = free_port(), free_port()
        settings = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # Kubernetes keeps cgroup v1 in maintenance mode; since v1.35 the kubelet refuses to start
            # on it unless told (this machine's cgroups are v1; users' are mostly v2).
            "failCgroupV1": False,
            "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
            "address": GATEWAY,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "tlsCertFile": str(self.pki / "kubelet.crt"),
            "tlsPrivateKeyFile": str(self.pki / "kubelet.key"),
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz,
            # Clients prove who they are with a certificate or token the API server vouches for,
            # and the API server decides what they may do: metrics-server's RBAC is what it is
            # on any cluster.
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "clusterDomain": "cluster.local",
            "clusterDNS": [GATEWAY],
            "resolvConf": "",  # pods ask the cluster DNS only, never the host's resolver
            "makeIPTablesUtilChains": False,
            "podLogsDir": str(self.pod_logs),
            "volumePluginDir": str(root / "volume-plugins"),
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

    def _coredns(self) -> None:
        assert self.testbed is not None
        step = time.monotonic()
        health, ready = free_port(), free_port()
        config_file = self.testbed.workdir / "Corefile"
        config_file.write_text(corefile(self.kubeconfig, health, ready))
        self._launch("coredns", [str(BIN / "coredns"), "-conf", str(config_file)])
        self._wait(
            "CoreDNS ready",
            lambda: httpx.get(f"http://127.0.0.1:{ready}/ready", timeout=2).status_code == 200,
            60,
            "coredns",
        )
        self._timed("coredns", step)

    def _metrics_server(self) -> None:
        """metrics-server v0.8.0 as its own manifest runs it, less the pod: its serving certificate
        from the cluster's CA (for ``metrics-server.kube-system.svc``, which the aggregator checks),
        the kubelet's verified against that CA, the node reached at its InternalIP."""
        assert self.testbed is not None
        assert self.api is not None
        step = time.monotonic()
        signed(self.pki, "metrics-server", "/CN=metrics-server",
               "DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system,IP:127.0.0.1")  # fmt: skip
        port = free_port()
        self._launch(
            "metrics-server",
            [
                str(BIN / "metrics-server"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={self.pki / 'metrics-server.crt'}",
                f"--tls-private-key-file={self.pki / 'metrics-server.key'}",
                f"--kubelet-certificate-authority={self.pki / 'ca.crt'}",
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-use-node-status-port",
                f"--metric-resolution={METRICS_RESOLUTION}s",
            ],
        )
        register_on_loopback(self.api, ("metrics.k8s.io",), port, ca_bundle=_b64(self.pki / "ca.crt"))

        def node_metrics() -> bool:
            with contextlib.suppress(ApiException):
                listed = client.CustomObjectsApi(self.api).list_cluster_custom_object(
                    "metrics.k8s.io", "v1beta1", "nodes"
                )
                return bool(listed["items"])
            return False

        self._wait("metrics-server serving node metrics", node_metrics, 120, "metrics-server")
        self._timed("metrics-server", step)

    # --- stop ---
    def stop(self) -> list[str]:
        """Stop everything, remove the pods' containers, and put the host back. Returns problems."""
        problems: list[str] = []
        if self.api is not None:
            self.api.close()
        if self.testbed is not None:
            for name in ("metrics-server", "coredns"):
                self._terminate(name)
            self._terminate("kubelet")
            with contextlib.suppress(Exception):
                self._remove_pods()
            if self._docker is not None:
                self._docker.close()
                self._docker = None
            self.testbed.stop()
        self.metadata_refused = metadata_counters()
        unmount_under([str(self.workdir), str(RUN)])  # volume mounts (tmpfs for secrets), sandboxes
        problems += [f"still mounted: {m}" for m in mounts_under(str(self.workdir))]
        problems += self.guard.end()
        shutil.rmtree(RUN / "docker-exec", ignore_errors=True)  # dockerd's runtime state, once it is gone
        shutil.rmtree(RUN / "containerd", ignore_errors=True)  # containerd's, likewise
        return problems

    def _terminate(self, name: str) -> None:
        assert self.testbed is not None
        process = self.testbed.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _remove_pods(self) -> None:
        """Every pod sandbox containerd still runs, stopped and removed (their shims exit with them)."""
        if "containerd" not in (self.testbed.processes if self.testbed else {}):
            return
        for line in self.ctr("tasks", "list").splitlines()[1:]:
            task = line.split()[0] if line.strip() else ""
            if task:
                with contextlib.suppress(RuntimeError):
                    self.ctr("tasks", "kill", "--signal", "SIGKILL", task)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            "RUNNING" in line for line in self.ctr("tasks", "list").splitlines()
        ):
            time.sleep(0.2)
        for line in self.ctr("containers", "list", "--quiet").splitlines():
            if line.strip():
                with contextlib.suppress(RuntimeError):
                    self.ctr("tasks", "delete", "--force", line.strip())
                with contextlib.suppress(RuntimeError):
                    self.ctr("containers", "delete", line.strip())


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()
