"""The one protocol both backends implement and the status they report (``state`` keeps which is up)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from mlscale.autoscaling.metrics import quantity_value


class EngineName(StrEnum):
    """What runs the Keras model in a replica: Keras itself, or its export to a faster runtime."""

    KERAS = "keras"
    LITERT = "litert"
    ONNX = "onnx"


ENGINE_NAMES = tuple(e.value for e in EngineName)


@dataclass
class ReplicaStatus:
    id: str
    url: str
    ready: bool
    terminating: bool = False
    cpu_milli: float | None = None
    """CPU use over the last metric window, in millicores."""
    cpu_utilization: float | None = None
    """Percent of the CPU request."""
    pid: int | None = None
    restarts: int = 0
    """Times the replica's process was restarted (crashed, or failed its liveness probe)."""
    alive: bool = True
    created_at: float | None = None
    """Epoch seconds the replica was asked for (a scale-up's decision; a pod's creation)."""
    started_at: float | None = None
    """Epoch seconds its process (container) started; None while it waits (Pending)."""
    ready_at: float | None = None
    """Epoch seconds it became ready; None while it is not."""

    @property
    def state(self) -> str:
        """terminating (asked away, finishing what it holds), ready, or starting."""
        return "terminating" if self.terminating else "ready" if self.ready else "starting"


@dataclass
class ProcessHealth:
    """A process of the system as its supervisor sees it (the local backend's dispatcher)."""

    pid: int | None
    alive: bool
    ready: bool
    restarts: int = 0
    last_exit: int | None = None
    last_restart_reason: str | None = None


@dataclass
class Dashboard:
    """A dashboard the backend installed, and how a person gets to it."""

    name: str
    user: str
    password: str
    reach: str
    """The command that makes it reachable, e.g. a kubectl port-forward."""


@dataclass
class ClusterDetails:
    namespace: str
    release: str
    conditions: dict[str, str] = field(default_factory=dict)
    """The HPA's status conditions: AbleToScale, ScalingActive, ScalingLimited -> True/False."""
    dashboard: Dashboard | None = None
    prometheus: str | None = None
    """The command that makes the release's Prometheus reachable (None: no monitoring)."""


@dataclass
class SystemStatus:
    backend: str
    dispatcher_url: str
    replicas: list[ReplicaStatus]
    desired_replicas: int
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    time_scale: float = 1.0
    policy: str = "cpu"
    """What scales the replicas: cpu (the HPA), queue (KEDA), kpa (Knative) or oracle."""
    engine: str = "keras"
    """What runs the model in each replica: keras, litert or onnx."""
    last_decision: dict[str, Any] | None = None
    dispatcher: ProcessHealth | None = None
    """The dispatcher process, where the backend runs it itself (local)."""
    calibration: dict[str, Any] | None = None
    """What one replica serves on this machine, measured at ``up`` (local; see ``local.calibration``)."""
    cluster: ClusterDetails | None = None
    """Where the release lives and what its HPA says (kubernetes)."""
    supervisor_pid: int | None = None
    """The process that owns the system (local)."""

    @property
    def ready_replicas(self) -> int:
        return sum(1 for r in self.replicas if r.state == "ready")

    @property
    def mean_cpu_utilization(self) -> float | None:
        values = [
            r.cpu_utilization for r in self.replicas if r.cpu_utilization is not None and not r.terminating
        ]
        return sum(values) / len(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SystemStatus:
        data = dict(data)
        replicas = [ReplicaStatus(**r) for r in data.pop("replicas")]
        dispatcher = data.pop("dispatcher", None)
        cluster = data.pop("cluster", None)
        if cluster is not None:
            dashboard = cluster.pop("dashboard", None)
            cluster = ClusterDetails(**cluster, dashboard=Dashboard(**dashboard) if dashboard else None)
        return cls(
            replicas=replicas,
            dispatcher=ProcessHealth(**dispatcher) if dispatcher else None,
            cluster=cluster,
            **data,
        )


class Backend(Protocol):
    name: str

    def up(self) -> SystemStatus:
        """Bring the system up and return once the dispatcher and the minimum replicas are ready."""
        ...

    def status(self) -> SystemStatus: ...

    def decisions(self) -> list[dict[str, Any]]:
        """Every autoscaling decision so far: time, metric, recommendation, result, reason."""
        ...

    def down(self, *, delete_cluster: bool = False) -> None:
        """Tear the system down; ``delete_cluster`` also deletes a cluster the backend owns (Minikube)."""
        ...


def cpu_millicores(quantity: str) -> float:
    """A Kubernetes CPU quantity (``2``, ``0.5``, ``500m``, ``250000u``, ``123456789n``) in millicores.

    Both backends speak it: the local one for its replicas' request, the kubernetes one for
    pod requests and the metrics API's usage.
    """
    if re.fullmatch(r"[0-9.]+[numk]?", quantity.strip()) is None:  # CPU takes no other suffix
        raise ValueError(f"{quantity!r} is not a CPU quantity")
    return float(quantity_value(quantity) * 1000)
