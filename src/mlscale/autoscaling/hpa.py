"""The Kubernetes HorizontalPodAutoscaler's controller logic, as pure functions.

Follows ``pkg/controller/podautoscaler/horizontal.go`` of kubernetes/kubernetes:
``computeReplicasForMetrics`` (every metric, the largest proposal, Kubernetes' handling of invalid
ones), ``reconcileAutoscaler`` (ScalingDisabled at zero, the min/max clamps),
``normalizeDesiredReplicasWithBehaviors`` (stabilization windows, rate policies) and, for an HPA
without ``behavior``, ``normalizeDesiredReplicas``. The per-metric arithmetic is ``replicas.py``.
No clock reads and no I/O: time comes in as ``now`` and the controller's memory (past
recommendations and scale events) comes in as ``HPAState`` and goes out as a new one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mlscale.autoscaling.behavior import HPAState, normalize
from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.metrics import MetricSpec, Observed
from mlscale.autoscaling.replicas import (
    Calculator,
    MetricError,
    Pod,
    Proposal,
    Sample,
    Tolerances,
)

FAILED_REASON = {
    "Resource": "FailedGetResourceMetric",
    "ContainerResource": "FailedGetContainerResourceMetric",
    "Pods": "FailedGetPodsMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
}


def calculator(config: HPAConfig, now: float) -> Calculator:
    """The replica calculator with the controller's flags and the HPA's tolerances."""
    tolerances = Tolerances(
        config.down_tolerance, config.up_tolerance, absolute=config.one_window_stabilization
    )
    return Calculator(now, tolerances, config.scaled(config.cpu_initialization_period_seconds),
                      config.scaled(config.initial_readiness_delay_seconds))  # fmt: skip


def resource_samples(observed: Observed, resource: str, container: str = "") -> dict[str, Sample]:
    """metrics.k8s.io as the metrics client reads it: a pod's sum over its containers (missing if
    any container lacks the resource), or the one named container's value."""
    if observed.resource is None:
        raise MetricError(
            f"unable to get metrics for resource {resource}: "
            "unable to fetch metrics from resource metrics API"
        )
    if not observed.resource:
        raise MetricError(
            f"unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
        )
    samples = {}
    for pod, usage in observed.resource.items():
        values = [
            c.get(resource) for name, c in usage.containers.items() if not container or name == container
        ]
        if values and all(v is not None for v in values):
            samples[pod] = Sample(sum(v for v in values if v is not None), usage.timestamp, usage.window)
    return samples


def propose(spec: MetricSpec, spec_replicas: int, status_replicas: int, pods: Sequence[Pod],
            observed: Observed, calc: Calculator) -> Proposal:  # fmt: skip
    """``computeReplicasForMetric`` for one spec; raises MetricError."""
    target = spec.target
    if spec.type not in FAILED_REASON or target is None:
        raise MetricError(f"unknown metric source type {spec.type!r}")
    if spec.type in ("Resource", "ContainerResource"):
        samples = resource_samples(observed, spec.name, spec.container)
        if target.type == "Utilization" and target.utilization is not None:
            try:
                return calc.resource_replicas(
                    spec_replicas, target.utilization, spec.name, pods, samples, spec.container
                )
            except MetricError as exc:
                raise MetricError(f"failed to get {spec.name} utilization: {exc}") from exc
        assert target.value_milli is not None
        try:
            return calc.plain_replicas(spec_replicas, target.value_milli, pods, samples, spec.name)
        except MetricError as exc:
            raise MetricError(f"failed to get {spec.name} usage: {exc}") from exc
    assert target.value_milli is not None
    if spec.type == "Pods":
        if spec.name not in observed.pods:
            raise MetricError(
                f"unable to get metric {spec.name}: unable to fetch metrics from custom metrics API"
            )
        values = {pod: Sample(v, observed.timestamp) for pod, v in observed.pods[spec.name].items()}
        return calc.plain_replicas(spec_replicas, target.value_milli, pods, values)
    if spec.type == "Object":
        key = (spec.described_object, spec.name)
        if key not in observed.objects:
            raise MetricError(f"unable to get metric {spec.name}: on {spec.described_object}: no such metric")
        if target.type == "Value":
            return calc.object_replicas(spec_replicas, target.value_milli, observed.objects[key], pods)
        return calc.object_per_pod_replicas(status_replicas, target.value_milli, observed.objects[key])
    if spec.name not in observed.external:
        raise MetricError(f"unable to get external metric {spec.name}: no such metric")
    if target.type == "Value":
        return calc.external_replicas(spec_replicas, target.value_milli, observed.external[spec.name], pods)
    return calc.external_per_pod_replicas(status_replicas, target.value_milli, observed.external[spec.name])


@dataclass(frozen=True)
class MetricProposal:
    """What one metric asked for (the HPA status' currentMetrics, with the count it proposed)."""

    metric: str
    replicas: int | None
    """None: the metric failed (``error`` says why)."""
    usage: int | None = None
    """Utilization % for a Utilization target, else the value in milli-units (per pod for AverageValue)."""
    error: str | None = None


@dataclass(frozen=True)
class MetricsProposal:
    """``computeReplicasForMetrics``'s answer: the largest valid proposal, or why there is none."""

    replicas: int | None
    """None: no replica count (all metrics invalid, or some invalid and the rest would scale down)."""
    metric: str
    utilization: int | None
    """The CPU utilization (percent of request) of the first CPU Utilization metric, if it had one."""
    error: str | None = None
    reason: str | None = None
    """The first invalid metric's condition (FailedGetResourceMetric, InvalidMetricSourceType, ...)."""
    proposals: tuple[MetricProposal, ...] = ()


def compute_replicas_for_metrics(
    spec_replicas: int,
    status_replicas: int,
    pods: Sequence[Pod],
    observed: Observed,
    now: float,
    config: HPAConfig,
) -> MetricsProposal:
    calc = calculator(config, now)
    replicas, metric, utilization = 0, "", None
    invalid, first_error, first_reason = 0, None, None
    asked: list[MetricProposal] = []
    for spec in config.metrics:
        try:
            proposal = propose(spec, spec_replicas, status_replicas, pods, observed, calc)
        except MetricError as exc:
            if invalid == 0:
                first_error, first_reason = str(exc), FAILED_REASON.get(spec.type, "InvalidMetricSourceType")
            invalid += 1
            asked.append(MetricProposal(spec.label, None, error=str(exc)))
            continue
        asked.append(MetricProposal(spec.label, proposal.replicas, proposal.usage))
        if (
            utilization is None
            and spec.type == "Resource"
            and spec.name == "cpu"
            and proposal.raw_average is not None
        ):
            utilization = proposal.usage
        if replicas == 0 or proposal.replicas > replicas:
            replicas, metric = proposal.replicas, spec.label
    # Today some invalid metrics also stop a scale-down; Kubernetes 1.20 stopped only when all were
    # invalid (found by its real controller in tests/k8s: CPU not yet ready, the queue at 0, it
    # recorded a recommendation of 0 and the scale-up window held the next sync's 3 back).
    blocks_scale_down = not config.one_window_stabilization and replicas < spec_replicas
    if invalid and (invalid >= len(config.metrics) or blocks_scale_down):
        message = (
            f"invalid metrics ({invalid} invalid out of {len(config.metrics)}), first error is: {first_error}"
        )
        return MetricsProposal(None, "", utilization, message, first_reason, tuple(asked))
    return MetricsProposal(replicas, metric, utilization, proposals=tuple(asked))


@dataclass(frozen=True)
class Decision:
    """One sync of the HPA, as recorded for the timeline and the report."""

    at: float
    current: int
    utilization: int | None
    """Mean CPU utilization (percent of request) of the CPU Utilization metric, when it had one."""
    recommended: int
    """From the metrics alone: the largest proposal."""
    stabilized: int
    desired: int
    """After windows, rate policies and bounds: what the controller scales to."""
    reason: str
    """Kubernetes' words: the condition that bound the count (ScaleUpLimit, ScaleDownStabilized,
    ...), else the rescale reason ("cpu resource utilization (percentage of request) above
    target", "All metrics below target") or ReadyForNewScale; on failure, the condition and error."""
    metric: str = ""
    """The metric whose proposal won (computeReplicasForMetrics), as Kubernetes names it."""
    proposals: tuple[MetricProposal, ...] = ()
    """Every metric's proposal this sync, the winner's among them."""


def _clamped(now: float, current: int, to: int, reason: str) -> Decision:
    return Decision(now, current, None, to, to, to, reason)


def decide(current: int, pods: Sequence[Pod], observed: Observed, now: float, state: HPAState,
           config: HPAConfig, status_replicas: int | None = None) -> tuple[Decision, HPAState]:  # fmt: skip
    """One HPA sync (``reconcileAutoscaler``): the desired replica count and the controller's next
    state, pure. ``current`` is the target's spec.replicas, ``status_replicas`` its status (the
    pods that exist; the per-pod Object and External targets divide by it)."""
    if not state.initialized:
        # ``recordInitialRecommendation``: an HPA's first sync, before any metric, remembers the
        # current count, so the scale-up window holds the first scale-up back (found by the real
        # controller in tests/k8s: it kept 2 replicas one sync longer than we did). Go stamps it
        # before the sync computes its cutoffs, so it is an instant older than ``now``: a 0 s
        # window leaves it out, as Go's does (at ``now`` exactly it counted, and held a scale-down).
        initial = ((math.nextafter(now, -math.inf), current),)
        state = replace(state, initialized=True, recommendations=state.recommendations or initial)
    if current == 0 and config.min_replicas != 0:
        # The target was scaled to zero by hand: autoscaling is off until it is scaled up again.
        return _clamped(now, 0, 0, "ScalingDisabled"), state
    if current > config.max_replicas:
        return _clamped(
            now, current, config.max_replicas, "Current number of replicas above Spec.MaxReplicas"
        ), state
    if current < config.min_replicas:
        return _clamped(
            now, current, config.min_replicas, "Current number of replicas below Spec.MinReplicas"
        ), state
    status = current if status_replicas is None else status_replicas
    proposal = compute_replicas_for_metrics(current, status, pods, observed, now, config)
    if proposal.replicas is None:
        failed = Decision(now, current, proposal.utilization, current, current, current,
                          f"{proposal.reason}: {proposal.error}", proposals=proposal.proposals)  # fmt: skip
        return failed, state
    normalized, state = normalize(current, proposal.replicas, now, state, config)
    if normalized.replicas != normalized.stabilized:
        reason = normalized.reason
    elif normalized.stabilized != proposal.replicas:
        reason = normalized.stabilization
    elif normalized.replicas > current:
        reason = f"{proposal.metric} above target"
    elif normalized.replicas < current:
        reason = "All metrics below target"
    else:
        reason = "ReadyForNewScale"
    decision = Decision(now, current, proposal.utilization, proposal.replicas, normalized.stabilized,
                        normalized.replicas, reason, proposal.metric, proposal.proposals)  # fmt: skip
    return decision, state
