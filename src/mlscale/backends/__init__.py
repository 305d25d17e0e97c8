"""Where replicas live. Commands talk to a ``Backend`` and never ask which one they have.

``open_backend`` is the one place that knows the backends (as Locust's Environment makes its
runners): given ``UpOptions`` it makes the backend they name, configured by them; given nothing, it
opens the one the state file says is up (local when none is).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from mlscale import defaults
from mlscale.backends.base import Backend, SystemStatus
from mlscale.backends.state import read_state
from mlscale.errors import InputError
from mlscale.locations import state_dir

if TYPE_CHECKING:
    from rich.console import Console

    from mlscale.autoscaling.config import HPAConfig
    from mlscale.backends.kubernetes.options import KubernetesOptions
    from mlscale.backends.local.options import LocalOptions

__all__ = ["Backend", "BackendName", "ClusterChoice", "SystemStatus", "UpOptions", "open_backend"]


class BackendName(StrEnum):
    LOCAL = "local"
    KUBERNETES = "kubernetes"


@dataclass(frozen=True)
class ClusterChoice:
    """How the kubernetes backend reaches its cluster and ships its images (ignored by local)."""

    context: str | None = None
    namespace: str = "mlscale"
    minikube: bool = True
    registry: str | None = None
    containerd: str | None = None
    build: bool = True
    load: bool = True
    monitoring: str = "stack"
    """stack (kube-prometheus-stack, Loki, promtail), prometheus (the chart's own) or off."""
    dispatcher_url: str | None = None
    expose: str = "port-forward"


@dataclass(frozen=True)
class UpOptions:
    """What ``mlscale up`` asks for, whichever backend runs it. None: the backend's own default."""

    backend: BackendName = BackendName.LOCAL
    weights: str | None = None
    """imagenet, none, or a weights file (local only) [local: none; kubernetes: imagenet]"""
    cpu_request: str | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_cpu: int | None = None
    time_scale: float = 1.0
    dispatcher_port: int = defaults.DISPATCHER_PORT
    result_url: str | None = None
    values: Path | None = None
    """A values file with the autoscaling section (None: the chart's values.yaml)."""
    policy: str | None = None
    """cpu, queue, kpa or oracle (None: the values file's autoscaling.policy)."""
    max_starting: int | None = 1
    """Local: replicas starting at once (None: no limit)."""
    engine: str | None = None
    """keras, litert or onnx (None: the values file's inference.engine)."""
    cluster: ClusterChoice = field(default_factory=ClusterChoice)

    def __post_init__(self) -> None:
        for name in ("min_replicas", "max_replicas", "target_cpu"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, not {value}")
        if not 0 < self.time_scale <= 1:
            raise InputError(f"--time-scale must be in (0, 1], not {self.time_scale}")
        from mlscale.autoscaling.policies.base import POLICY_NAMES

        if self.policy is not None and self.policy not in POLICY_NAMES:
            raise InputError(f"--policy must be one of {', '.join(POLICY_NAMES)}, not {self.policy!r}")
        from mlscale.backends.base import ENGINE_NAMES

        if self.engine is not None and self.engine not in ENGINE_NAMES:
            raise InputError(f"--engine must be one of {', '.join(ENGINE_NAMES)}, not {self.engine!r}")


def _policy(up: UpOptions, config: HPAConfig) -> str:
    """The policy ``up`` runs: --policy, else the values file's; its settings checked first."""
    from mlscale.autoscaling.config import merged_values
    from mlscale.autoscaling.policies import parse_policy_settings

    settings = parse_policy_settings(merged_values(up.values).get("autoscaling"), config)
    return up.policy or settings.name


def _engine(up: UpOptions) -> str:
    """--engine, else inference.engine of the values as helm merges them."""
    from mlscale.autoscaling.config import merged_values

    return up.engine or str((merged_values(up.values).get("inference") or {}).get("engine") or "keras")


def _check_autoscaling(up: UpOptions) -> HPAConfig:
    """The values file's autoscaling section with the overrides applied: a bad one fails before ``up``."""
    from mlscale.autoscaling.config import load_hpa_config

    return load_hpa_config(
        up.values,
        min_replicas=up.min_replicas,
        max_replicas=up.max_replicas,
        target_cpu_utilization=up.target_cpu,
        time_scale=up.time_scale,
    )


def local_options(up: UpOptions) -> LocalOptions:
    from mlscale.autoscaling.config import merged_values
    from mlscale.backends.local.options import LocalOptions

    config = _check_autoscaling(up)
    policy = _policy(up, config)
    if config.min_replicas == 0:
        raise InputError(
            "the local backend starts from at least one replica: set autoscaling.minReplicas >= 1 "
            "(minReplicas 0 is for a cluster's HPA with an Object or External metric; to scale to "
            "zero locally, use --policy queue, kpa or oracle)"
        )
    # The CPU request a pod would have: the user's values file over the chart's (a file that sets
    # only the engine must not drop the request to a default of mlscale's own).
    inference = merged_values(up.values).get("inference") or {}
    requests = (inference.get("resources") or {}).get("requests") or {}
    return LocalOptions(
        weights=up.weights or "none",
        engine=_engine(up),
        cpu_request=up.cpu_request or str(requests.get("cpu", "500m")),
        dispatcher_port=up.dispatcher_port,
        result_url=up.result_url or defaults.RESULT_URL,
        time_scale=up.time_scale,
        min_replicas=up.min_replicas,
        max_replicas=up.max_replicas,
        target_cpu=up.target_cpu,
        policy=policy,
        max_starting=up.max_starting,
        values_file=up.values,
        state_dir=state_dir(),
        images=_calibration_images(),
    )


def _calibration_images() -> Path | None:
    """``images/`` in the working directory, else the sample images mlscale ships (if any)."""
    from mlscale.locations import local_or_shipped

    folder = local_or_shipped(Path("images"))
    return folder if folder.is_dir() else None


def kubernetes_options(up: UpOptions) -> KubernetesOptions:
    from mlscale.backends.kubernetes.options import KubernetesOptions

    policy = _policy(up, _check_autoscaling(up))
    if policy not in ("cpu", "queue"):
        raise InputError(
            f"--policy {policy} runs on the local backend only: the chart renders cpu as an HPA and "
            "queue as a KEDA ScaledObject (Knative's KPA needs Knative Serving; the oracle is a yardstick)"
        )
    chart_values = {
        "autoscaling.policy": up.policy,
        "autoscaling.minReplicas": up.min_replicas,
        "autoscaling.queue.minReplicaCount": up.min_replicas,  # the floor of either policy
        "autoscaling.maxReplicas": up.max_replicas,
        "autoscaling.targetCPUUtilizationPercentage": up.target_cpu,
        "inference.resources.requests.cpu": up.cpu_request,
    }
    return KubernetesOptions(
        **asdict(up.cluster),  # the same names: context, namespace, minikube, registry, build, ...
        weights=up.weights or "imagenet",
        engine=_engine(up),
        values_files=[up.values] if up.values else [],
        result_url=up.result_url,  # None: the chart's default (the host as Minikube's pods see it)
        set_values={k: str(v) for k, v in chart_values.items() if v is not None},
    )


def open_backend(up: UpOptions | None = None, console: Console | None = None) -> Backend:
    """The backend ``up`` names, configured by it; without ``up``, the one that is up (local if none)."""
    state = read_state() or {}
    try:
        chosen = BackendName(up.backend if up else state.get("backend", BackendName.LOCAL))
    except ValueError as exc:
        raise InputError(f"the state file names an unknown backend: {state.get('backend')!r}") from exc
    if chosen is BackendName.KUBERNETES:
        from mlscale.backends.kubernetes.adapters import RealAdapters
        from mlscale.backends.kubernetes.backend import KubernetesBackend

        options = kubernetes_options(up) if up else None
        context = options.context if options else state.get("context")
        return KubernetesBackend(options, RealAdapters(context), console)
    from mlscale.backends.local.backend import LocalBackend

    return LocalBackend(local_options(up) if up else None, console)
