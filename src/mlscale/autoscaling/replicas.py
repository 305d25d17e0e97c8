"""Kubernetes' replica calculator, every metric type, as pure functions.

Follows ``pkg/controller/podautoscaler/replica_calculator.go`` of kubernetes/kubernetes
(``GetResourceReplicas``, ``GetRawResourceReplicas``, ``GetMetricReplicas``,
``GetObjectMetricReplicas``, ``GetObjectPerPodMetricReplicas``, ``GetExternalMetricReplicas``,
``GetExternalPerPodMetricReplicas``, ``groupPods``, ``calculateRequests``) and the ratios of
``metrics/utilization.go``. Pods and metric samples come in as arguments and the clock as
``now``: no I/O. A failure raises ``MetricError`` with Kubernetes' own message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class MetricError(Exception):
    """A metric could not give a replica count (the controller skips it, or stops if all fail)."""


@dataclass(frozen=True)
class Container:
    name: str
    requests: Mapping[str, int] = field(default_factory=dict)
    """Requests by resource, milli-units; a resource that is absent has no request."""
    restartable_init: bool = False
    """An init container with ``restartPolicy: Always`` (a sidecar): its request counts too."""


@dataclass(frozen=True)
class Pod:
    """One pod as the HPA's pod lister sees it (times are seconds on any one clock)."""

    name: str
    containers: tuple[Container, ...]
    phase: Phase = "Running"
    ready: bool | None = True
    """The Ready condition; None when the pod has none yet."""
    ready_since: float = -math.inf
    """When the Ready condition last changed."""
    started_at: float | None = -math.inf
    """``status.startTime``; None before the kubelet has set it."""
    deleted: bool = False
    pod_requests: Mapping[str, int] | None = None
    """Pod-level requests (KEP-2837, PodLevelResources); None when the pod sets none."""


def cpu_pod(name: str, request_milli: int | None, **state: object) -> Pod:
    """A one-container pod with a CPU request (None: a container without one)."""
    requests = {} if request_milli is None else {"cpu": request_milli}
    return Pod(name, (Container("app", requests),), **state)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Sample:
    """One pod's metric value with the window it covers (metricsclient.PodMetric)."""

    value: int
    timestamp: float = 0.0
    window: float = 0.0


Fallback = Callable[[str], int]
"""The value a missing pod is assumed to have on a scale-down."""
Ratio = Callable[[dict[str, Sample]], float]


@dataclass(frozen=True)
class Tolerances:
    """``Tolerances.isWithin``: ``(1 - down) <= ratio <= (1 + up)`` (per direction, 1.33+).
    ``absolute`` is Kubernetes 1.20's ``abs(1 - ratio) <= tolerance``: at 33 % for a 30 % target
    that is 0.10000000000000009 > 0.1 in floating point and scales, where today's keeps the count."""

    scale_down: float = 0.1
    scale_up: float = 0.1
    absolute: bool = False

    def is_within(self, ratio: float) -> bool:
        if self.absolute:
            return abs(1.0 - ratio) <= self.scale_up
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class Proposal:
    replicas: int
    usage: int
    """Utilization % (Resource/ContainerResource Utilization) or the usage in milli-units."""
    raw_average: int | None = None
    """Utilization targets: the mean raw usage per pod, milli-units."""


def ready_pod_count(pods: Sequence[Pod]) -> int:
    """``getReadyPodsCount``: Running pods whose Ready condition is True."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


def calculate_requests(pods: Sequence[Pod], container: str, resource: str) -> dict[str, int]:
    """``calculateRequests``: pod-level requests when set (and no container is named), else the sum
    over the containers and sidecars, or the named container's."""
    requests = {}
    for pod in pods:
        if pod.pod_requests is not None and not container:
            if resource not in pod.pod_requests:
                raise MetricError(f"missing pod-level request for {resource} in Pod {pod.name}")
            requests[pod.name] = pod.pod_requests[resource]
            continue
        total, found = 0, False
        for c in (
            *(c for c in pod.containers if not c.restartable_init),
            *(c for c in pod.containers if c.restartable_init),
        ):
            if container and c.name != container:
                continue
            if resource not in c.requests:
                raise MetricError(f"missing request for {resource} in container {c.name} of Pod {pod.name}")
            total, found = total + c.requests[resource], True
            if container:
                break
        if container and not found:
            raise MetricError(f"container {container} not found in Pod {pod.name}")
        requests[pod.name] = total
    return requests


def utilization_ratio(
    metrics: Mapping[str, Sample], requests: Mapping[str, int], target: int
) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, utilization %, mean raw value), integer percent.
    Samples of pods without a request (not in the pod list) are extraneous and skipped."""
    known = [(metrics[name].value, requests[name]) for name in metrics if name in requests]
    total_request = sum(r for _, r in known)
    if total_request == 0:
        raise MetricError("no metrics returned matched known pods")
    total_usage = sum(v for v, _ in known)
    utilization = total_usage * 100 // total_request
    return utilization / target, utilization, total_usage // len(known)


def usage_ratio(metrics: Mapping[str, Sample], target: int) -> tuple[float, int]:
    """``GetMetricUsageRatio``: the truncated mean over every sample, against the target."""
    usage = sum(s.value for s in metrics.values()) // len(metrics)
    return usage / target, usage


@dataclass(frozen=True)
class Calculator:
    """``ReplicaCalculator`` with its flags, at one moment."""

    now: float
    tolerances: Tolerances = Tolerances()
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0

    def group(
        self, pods: Sequence[Pod], metrics: Mapping[str, Sample], resource: str
    ) -> tuple[int, set[str], set[str], set[str]]:
        """``groupPods``: (ready count, unready, missing, ignored). Readiness only matters for CPU."""
        ready, unready, missing, ignored = 0, set(), set(), set()
        for pod in pods:
            if pod.deleted or pod.phase == "Failed":
                ignored.add(pod.name)
            elif pod.phase == "Pending":
                unready.add(pod.name)
            elif pod.name not in metrics:
                missing.add(pod.name)
            elif resource == "cpu" and self._cpu_unready(pod, metrics[pod.name]):
                unready.add(pod.name)
            else:
                ready += 1
        return ready, unready, missing, ignored

    def _cpu_unready(self, pod: Pod, sample: Sample) -> bool:
        if pod.ready is None or pod.started_at is None:
            return True
        if pod.started_at + self.cpu_initialization_period > self.now:
            # Young pod: its CPU is only trusted once it is ready and a full window has passed since.
            return not pod.ready or sample.timestamp < pod.ready_since + sample.window
        # Older pod: unready only if it has never become ready after its initial delay.
        return not pod.ready and pod.started_at + self.initial_readiness_delay > pod.ready_since

    def _usable(
        self, pods: Sequence[Pod], metrics: Mapping[str, Sample], resource: str
    ) -> tuple[int, set[str], set[str], dict[str, Sample]]:
        if not pods:
            raise MetricError("no pods returned by selector while calculating replica count")
        ready, unready, missing, ignored = self.group(pods, metrics, resource)
        usable = {n: s for n, s in metrics.items() if n not in ignored and n not in unready}
        if not usable:
            raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
        return ready, unready, missing, usable

    def resource_replicas(self, current: int, target: int, resource: str, pods: Sequence[Pod],
                          metrics: Mapping[str, Sample], container: str = "") -> Proposal:  # fmt: skip
        """``GetResourceReplicas``: a Utilization target (percent of the request)."""
        ready, unready, missing, usable = self._usable(pods, metrics, resource)
        requests = calculate_requests(pods, container, resource)
        ratio, utilization, raw = utilization_ratio(usable, requests, target)
        fallback = requests_fallback(requests, max(100, target))
        replicas = self._with_missing(current, ratio, ready, unready, missing, usable, fallback,
                                      lambda m: utilization_ratio(m, requests, target)[0])  # fmt: skip
        return Proposal(replicas, utilization, raw)

    def plain_replicas(self, current: int, target: int, pods: Sequence[Pod], metrics: Mapping[str, Sample],
                       resource: str = "") -> Proposal:  # fmt: skip
        """``calcPlainMetricReplicas``: GetRawResourceReplicas (AverageValue) and GetMetricReplicas (Pods)."""
        ready, unready, missing, usable = self._usable(pods, metrics, resource)
        ratio, usage = usage_ratio(usable, target)
        replicas = self._with_missing(current, ratio, ready, unready, missing, usable, lambda _: target,
                                      lambda m: usage_ratio(m, target)[0])  # fmt: skip
        return Proposal(replicas, usage)

    def _with_missing(self, current: int, ratio: float, ready: int, unready: set[str], missing: set[str],
                      usable: dict[str, Sample], fallback: Fallback, recompute: Ratio) -> int:  # fmt: skip
        """The shared tail: no gaps, or fill the gaps for the direction of change and re-check."""
        scale_up_with_unready = bool(unready) and ratio > 1.0
        if not scale_up_with_unready and not missing:
            return current if self.tolerances.is_within(ratio) else math.ceil(ratio * ready)
        filled = dict(usable)
        for name in missing:
            if ratio < 1.0:  # scale-down: missing pods at 100 % of request (or the target, if higher)
                filled[name] = Sample(fallback(name))
            elif ratio > 1.0:  # scale-up: missing pods use nothing
                filled[name] = Sample(0)
        if scale_up_with_unready:
            filled.update({name: Sample(0) for name in unready})
        new_ratio = recompute(filled)
        if self.tolerances.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
            return current  # too small a change, or the gaps would flip the direction
        replicas = math.ceil(new_ratio * len(filled))
        if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
            return current
        return replicas

    def usage_ratio_replicas(self, current: int, ratio: float, pods: Sequence[Pod]) -> int:
        """``getUsageRatioReplicaCount``: from zero, ceil(ratio) with no tolerance (scale to/from 0)."""
        if current == 0:
            return math.ceil(ratio)
        if self.tolerances.is_within(ratio):
            return current
        return min(MAX_INT32, math.ceil(ratio * ready_pod_count(pods)))

    def object_replicas(self, current: int, target: int, usage: int, pods: Sequence[Pod]) -> Proposal:
        """``GetObjectMetricReplicas``: a Value target on one object's metric."""
        return Proposal(self.usage_ratio_replicas(current, usage / target, pods), usage)

    def object_per_pod_replicas(self, status_replicas: int, target_average: int, usage: int) -> Proposal:
        """``GetObjectPerPodMetricReplicas``: an AverageValue target on one object's metric."""
        replicas = status_replicas
        if not self.tolerances.is_within(_per_pod_ratio(usage, target_average, replicas)):
            replicas = math.ceil(usage / target_average)
        return Proposal(replicas, math.ceil(usage / status_replicas) if status_replicas else usage)

    def external_replicas(
        self, current: int, target: int, values: Sequence[int], pods: Sequence[Pod]
    ) -> Proposal:
        """``GetExternalMetricReplicas``: a Value target on the sum of the matched series."""
        usage = min(MAX_INT64, sum(values))
        return Proposal(self.usage_ratio_replicas(current, usage / target, pods), usage)

    def external_per_pod_replicas(
        self, status_replicas: int, target_per_pod: int, values: Sequence[int]
    ) -> Proposal:
        """``GetExternalPerPodMetricReplicas``: an AverageValue target (KEDA's shape)."""
        usage = min(MAX_INT64, sum(values))
        replicas = status_replicas
        if not self.tolerances.is_within(_per_pod_ratio(usage, target_per_pod, replicas)):
            replicas = min(MAX_INT32, math.ceil(usage / target_per_pod))
        per_pod = MAX_INT64 if usage >= MAX_INT64 else math.ceil(usage / max(1, status_replicas))
        return Proposal(replicas, per_pod)


def _per_pod_ratio(usage: int, target: int, replicas: int) -> float:
    """usage / (target x replicas); Go's float division gives +Inf with no replicas."""
    return usage / (target * replicas) if replicas else (math.inf if usage else math.nan)


def requests_fallback(requests: Mapping[str, int], percent: int) -> Fallback:
    return lambda name: requests[name] * percent // 100
