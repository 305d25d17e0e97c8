"""What the original design's troubleshooting section checks by hand, checked before anything changes.

Every check runs (one missing tool does not hide the next problem), and each problem says how
to fix it. Nothing here changes the machine or the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlscale.backends.kubernetes.adapters import Adapters
from mlscale.errors import AdapterError

MINIKUBE_MEMORY_MB = 8192
MINIKUBE_CPUS = 4
START_MINIKUBE = f"minikube start --memory={MINIKUBE_MEMORY_MB} --cpus={MINIKUBE_CPUS}"


@dataclass(frozen=True)
class Problem:
    check: str
    detail: str
    fix: str

    def describe(self) -> str:
        return f"- {self.check}: {self.detail}\n    fix: {self.fix}"


@dataclass(frozen=True)
class PreflightPlan:
    build: bool
    """Images are built here: docker must answer."""
    minikube: bool
    """The cluster is Minikube: its status, size and metrics-server addon are checked."""
    port_forward: bool
    """The dispatcher is reached through kubectl port-forward."""
    containerd: str | None = None
    """The images are imported into the containerd at this socket: ctr and the socket must be there."""


def preflight(adapters: Adapters, plan: PreflightPlan) -> list[Problem]:
    problems: list[Problem] = []
    if plan.build:
        try:
            adapters.docker_ping()
        except AdapterError as exc:
            problems.append(
                Problem(
                    "docker",
                    str(exc),
                    "start Docker (e.g. `sudo systemctl start docker`), "
                    "or pass --skip-build with the images already in the cluster",
                )
            )
    if adapters.which("helm") is None:
        problems.append(
            Problem("helm", "helm 3 is not on PATH", "install helm 3 (see helm.sh/docs/intro/install)")
        )
    if plan.port_forward and adapters.which("kubectl") is None:
        problems.append(
            Problem(
                "kubectl",
                "kubectl is not on PATH (it forwards the dispatcher's port)",
                "install kubectl (see kubernetes.io/docs/tasks/tools), or pass --dispatcher-url",
            )
        )
    if plan.containerd is not None:
        problems += _containerd(adapters, plan.containerd)
    if plan.minikube:
        problems += _minikube(adapters)
    if not any(p.check in ("minikube", "minikube running") for p in problems):
        try:
            adapters.cluster_version()
        except AdapterError as exc:
            problems.append(
                Problem(
                    "kube context",
                    str(exc),
                    "check `kubectl config current-context`, or pass "
                    "--kube-context; for Minikube: " + START_MINIKUBE,
                )
            )
        else:
            if not adapters.metrics_api_ok():
                fix = "minikube addons enable metrics-server" if plan.minikube else "install metrics-server"
                problems.append(
                    Problem("metrics API", "metrics.k8s.io does not answer: the HPA would see no CPU", fix)
                )
    return problems


def _containerd(adapters: Adapters, socket: str) -> list[Problem]:
    if adapters.which("ctr") is None:
        return [
            Problem(
                "ctr",
                "ctr (containerd's client) is not on PATH: it imports the images into the node",
                "install containerd's client, or push to a registry with --registry",
            )
        ]
    try:
        adapters.containerd_version(socket)
    except AdapterError as exc:
        return [
            Problem(
                "containerd",
                str(exc),
                "pass the node's containerd socket (e.g. /run/containerd/containerd.sock; k3s: "
                "/run/k3s/containerd/containerd.sock) and run as a user who may open it",
            )
        ]
    return []


def _minikube(adapters: Adapters) -> list[Problem]:
    if adapters.which("minikube") is None:
        return [
            Problem(
                "minikube",
                "minikube is not on PATH",
                f"install minikube (see minikube.sigs.k8s.io/docs/start), then `{START_MINIKUBE}`",
            )
        ]
    status = adapters.minikube_status()
    if status.get("Host") != "Running" or status.get("APIServer") != "Running":
        return [Problem("minikube running", f"minikube is not running ({status})", START_MINIKUBE)]
    problems = []
    memory, cpus = adapters.minikube_resources()
    if (memory is not None and memory < MINIKUBE_MEMORY_MB) or (cpus is not None and cpus < MINIKUBE_CPUS):
        problems.append(
            Problem(
                "minikube size",
                f"{memory} MB and {cpus} CPUs; mlscale needs {MINIKUBE_MEMORY_MB} MB and "
                f"{MINIKUBE_CPUS} CPUs for 5 replicas",
                f"minikube delete && {START_MINIKUBE}",
            )
        )
    if not adapters.minikube_addons().get("metrics-server", False):
        problems.append(
            Problem(
                "metrics-server addon",
                "disabled: the HPA would see no CPU",
                "minikube addons enable metrics-server",
            )
        )
    return problems
