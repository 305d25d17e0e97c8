"""The pods and metric answers of Kubernetes' own HPA test harnesses, rebuilt for the pure port.

``replica_calculator_test.go``: pods ``test-pod-<i>`` with two containers, ``container1`` and
``container2``, each requesting the pod's listed request; ``levels[i][j]`` is container j's usage;
a level list shorter than two leaves the second container without a sample (a missing metric).
``horizontal_test.go``: the same two containers, each requesting half and using half.
Start times "cool" (3 minutes ago) unless "hot" (now); the Ready condition changed at the start;
metric samples taken now over a one-minute window; CPU initialization period 2 minutes, initial
readiness delay 10 s (``defaultTestingCPUInitializationPeriod`` and its sibling).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlscale.autoscaling.config import ScalingPolicy, ScalingRules
from mlscale.autoscaling.metrics import Observed, PodUsage
from mlscale.autoscaling.replicas import Calculator, Container, Pod, Tolerances

NOW = 10_000.0
COOL, HOT = NOW - 180, NOW
T, F = True, False
R, P, X = "Running", "Pending", "Failed"
WINDOW = 60.0
DEPLOYMENT = "Deployment/some-deployment"


def calculator(tolerances: Tolerances | None = None) -> Calculator:
    return Calculator(NOW, tolerances or Tolerances(0.1, 0.1), cpu_initialization_period=120,
                      initial_readiness_delay=10)  # fmt: skip


def go_pods(
    count: int,
    *,
    requests: Sequence[int] = (),
    ready: Sequence[bool] = (),
    start: Sequence[float] = (),
    phase: Sequence[str] = (),
    deleted: Sequence[bool] = (),
    split: bool = False,
) -> list[Pod]:
    """``count`` pods (or as many as ``phase`` lists); ``requests[i]`` milli-CPU per container
    (``split``: halved between the two, horizontal_test.go's way); none past the list."""
    out = []
    for i in range(max(count, len(phase))):
        request = {"cpu": requests[i] // 2 if split else requests[i]} if i < len(requests) else {}
        started = start[i] if i < len(start) else COOL
        out.append(
            Pod(
                f"test-pod-{i}",
                (Container("container1", request), Container("container2", request)),
                phase=phase[i] if i < len(phase) else R,  # type: ignore[arg-type]
                ready=ready[i] if i < len(ready) else True,
                ready_since=started,
                started_at=started,
                deleted=deleted[i] if i < len(deleted) else False,
            )
        )
    return out


def levels(*per_pod: int) -> list[list[int]]:
    """``makePodMetricLevels``: both containers of pod i at ``per_pod[i]``."""
    return [[level, level] for level in per_pod]


def cpu_observed(per_container: Sequence[Sequence[int]], names: Sequence[str] = ()) -> Observed:
    """metrics.k8s.io's answer: pod i (or ``names[i]``) with its containers' CPU."""
    usage = {}
    for i, containers in enumerate(per_container):
        name = names[i] if i < len(names) else f"test-pod-{i}"
        samples = {f"container{j + 1}": {"cpu": value} for j, value in enumerate(containers)}
        if len(containers) < 2:
            samples[""] = {}  # the Go harness leaves an empty container entry: no cpu in it
        usage[name] = PodUsage(samples, NOW, WINDOW)
    return Observed(resource=usage, timestamp=NOW)


def qps_observed(values: Sequence[int]) -> Observed:
    """The custom and external metrics APIs' answers for a metric called qps: values[i] for pod i,
    values[0] for the object, every value as an external series."""
    return Observed(
        resource=None,
        pods={"qps": {f"test-pod-{i}": v for i, v in enumerate(values)}},
        objects={(DEPLOYMENT, "qps"): values[0]} if values else {},
        external={"qps": list(values)},
        timestamp=NOW,
    )


def rules(pods_value: int, pods_period: int, percent: int, percent_period: int, window: int) -> ScalingRules:
    """horizontal_test.go's generateScalingRules (selectPolicy Max)."""
    policies = []
    if pods_value:
        policies.append(ScalingPolicy("Pods", pods_value, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies))
