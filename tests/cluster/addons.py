"""What a user's cluster runs beside mlscale, installed here as upstream ships it: kube-state-metrics
from its own example manifests, KEDA from its release's kustomize configuration (the CRDs, RBAC, the
operator and its metrics API server), both read from the Go modules tests/go builds them from.

Their images are made the way the node's stand-in base image is: a Debian root plus the program
(built by tests/go/build.sh), under the exact names those manifests and the chart's values ask for,
and imported into the node's containerd, so nothing is pulled. Prometheus is the chart's own
(``monitoring.prometheus``); only its image is made here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.cluster.node import BASE_IMAGE, OneNodeCluster
from tests.k8s.testbed import BIN

GO = Path(__file__).resolve().parents[1] / "go"


@dataclass(frozen=True)
class ProgramImage:
    tag: str
    program: str
    """Its file in BIN."""
    entrypoint: tuple[str, ...]
    """The first word is where the program lands in the image, as upstream's image has it."""
    user: str = "65534:65534"


PROMETHEUS = ProgramImage("quay.io/prometheus/prometheus:v3.16.0", "prometheus", ("/bin/prometheus",))
"""Under the name and tag of the chart's monitoring.prometheus.image."""
VICTORIA_LOGS = ProgramImage(
    "victoriametrics/victoria-logs:v1.52.2", "victoria-logs", ("/victoria-logs-prod",)
)
VLAGENT = ProgramImage("victoriametrics/vlagent:v1.52.2", "vlagent", ("/vlagent-prod",), "0:0")
"""The chart's logs option (logs.victoriaLogs, logs.vlagent), at upstream's paths; vlagent reads
the kubelet's root-owned log files."""
KUBE_STATE_METRICS = ProgramImage(
    "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0",
    "kube-state-metrics",
    ("/kube-state-metrics",),
)
KEDA = ProgramImage(
    "ghcr.io/kedacore/keda:2.16.1",
    "keda",
    ("/keda", "--zap-log-level=info", "--zap-encoder=console"),
    "65532:65532",
)
KEDA_METRICS_APISERVER = ProgramImage(
    "ghcr.io/kedacore/keda-metrics-apiserver:2.16.1",
    "keda-adapter",
    ("/keda-adapter", "--secure-port=6443", "--logtostderr=true", "--v=0"),
    "65532:65532",
)
"""KEDA's two images as its Dockerfiles make them (their entrypoints and user), on a Debian root
instead of distroless."""


def module_dir(folder: str, module: str) -> Path:
    """Where the Go module cache holds ``module`` at the version tests/go/<folder>/go.mod pins."""
    done = subprocess.run(
        ["/usr/local/go/bin/go", "list", "-m", "-f", "{{.Dir}}", module],
        cwd=GO / folder, capture_output=True, text=True, timeout=120, check=True,
        env={"PATH": "/usr/local/go/bin:/usr/bin:/bin", "HOME": "/root", "GOTOOLCHAIN": "local",
             "GOFLAGS": "-mod=readonly"},
    )  # fmt: skip
    return Path(done.stdout.strip())


def ship_image(cluster: OneNodeCluster, image: ProgramImage) -> float:
    """Build the image in dockerd (its layer cache keeps an unchanged program's) and import it into
    the node's containerd: seconds taken."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / image.program).hardlink_to(BIN / image.program)
        (Path(context) / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\nCOPY {image.program} {image.entrypoint[0]}\nUSER {image.user}\n"
            f"ENTRYPOINT {json.dumps(list(image.entrypoint))}\nCMD []\n"
        )
        cluster.docker().images.build(path=context, tag=image.tag, rm=True)
    cluster.load_image(image.tag)
    return time.monotonic() - began


def kubectl_apply(cluster: OneNodeCluster, *args: str) -> str:
    # server-side: KEDA's CRDs are larger than the client-side apply annotation may be
    return cluster.kubectl("apply", "--server-side", "--force-conflicts", *args, timeout=300)


def wait_rolled_out(cluster: OneNodeCluster, namespace: str, *deployments: str) -> None:
    for name in deployments:
        cluster.kubectl(
            "-n", namespace, "rollout", "status", f"deployment/{name}", "--timeout=300s", timeout=330
        )


def install_kube_state_metrics(cluster: OneNodeCluster) -> None:
    """Its standard example (kube-system, a ClusterRole over every resource it reports)."""
    ship_image(cluster, KUBE_STATE_METRICS)
    example = module_dir("kube-state-metrics", "k8s.io/kube-state-metrics/v2") / "examples" / "standard"
    kubectl_apply(cluster, "-k", str(example))
    wait_rolled_out(cluster, "kube-system", "kube-state-metrics")


KEDA_OVERLAY = {
    "apiVersion": "kustomize.config.k8s.io/v1beta1",
    "kind": "Kustomization",
    # KEDA's own configuration without the admission webhooks (an optional third deployment)
    "resources": ["config/minimal"],
    # what KEDA's release step does: the images at the release's tag
    "images": [
        {"name": "ghcr.io/kedacore/keda", "newTag": "2.16.1"},
        {"name": "ghcr.io/kedacore/keda-metrics-apiserver", "newTag": "2.16.1"},
    ],
    # the images are in the node's containerd: a user who preloads them sets the same
    "patches": [
        {
            "target": {"kind": "Deployment"},
            "patch": json.dumps(
                [
                    {
                        "op": "replace",
                        "path": "/spec/template/spec/containers/0/imagePullPolicy",
                        "value": "IfNotPresent",
                    }
                ]
            ),
        }
    ],
}


def install_keda(cluster: OneNodeCluster, workdir: Path) -> None:
    """KEDA 2.16.1 in namespace ``keda``, until its external metrics API is Available."""
    for image in (KEDA, KEDA_METRICS_APISERVER):
        ship_image(cluster, image)
    module = module_dir("keda", "github.com/kedacore/keda/v2")
    overlay = workdir / "keda-overlay"
    # kustomize takes resources below the overlay only: a copy of the release's configuration
    shutil.copytree(module / "config", overlay / "config")
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(KEDA_OVERLAY, sort_keys=False))
    kubectl_apply(cluster, "-k", str(overlay))
    wait_rolled_out(cluster, "keda", "keda-operator", "keda-metrics-apiserver")
    wait_available(cluster, "v1beta1.external.metrics.k8s.io")


def wait_available(cluster: OneNodeCluster, apiservice: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = json.loads(cluster.kubectl("get", "apiservice", apiservice, "-o", "json"))
        conditions = {c["type"]: c for c in found.get("status", {}).get("conditions", [])}
        if conditions.get("Available", {}).get("status") == "True":
            return
        assert time.monotonic() < deadline, f"{apiservice} not Available: {conditions}"
        time.sleep(2)


class Prometheus:
    """The release's Prometheus, through its Service's cluster IP (kube-proxy runs on this host)."""

    def __init__(self, cluster: OneNodeCluster, namespace: str, service: str) -> None:
        ip = cluster.kubectl("-n", namespace, "get", "svc", service, "-o", "jsonpath={.spec.clusterIP}")
        self.url = f"http://{ip.strip()}:9090"

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(self.url + path, params=params, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's vector (at ``at``, epoch seconds, or now)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self.get("/api/v1/query", **params)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/targets", state="active")["activeTargets"])


class Logs:
    """The release's VictoriaLogs, through its Service's cluster IP."""

    def __init__(self, cluster: OneNodeCluster, namespace: str, service: str) -> None:
        ip = cluster.kubectl("-n", namespace, "get", "svc", service, "-o", "jsonpath={.spec.clusterIP}")
        self.url = f"http://{ip.strip()}:9428"

    def query(self, logsql: str) -> list[dict[str, Any]]:
        """A LogsQL query's rows (the API answers one JSON object a line)."""
        answer = httpx.get(self.url + "/select/logsql/query", params={"query": logsql}, timeout=30)
        answer.raise_for_status()
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]
