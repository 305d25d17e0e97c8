"""The Kubernetes HorizontalPodAutoscaler algorithm for a CPU utilization target, as pure functions.

Follows ``pkg/controller/podautoscaler/replica_calculator.go`` (``GetResourceReplicas``,
``groupPods``) and ``horizontal.go`` (``stabilizeRecommendationWithBehaviors``,
``convertDesiredReplicasWithBehaviorRate``, the scale-up/down limits) of kubernetes/kubernetes.
No clock reads and no I/O: time comes in as ``now`` and the controller's memory (past
recommendations and scale events) comes in as ``HPAState`` and goes out as a new one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from mlscale.autoscaling.config import HPAConfig, ScalingRules

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]


@dataclass(frozen=True)
class Pod:
    """One replica as the HPA sees it (times are seconds on any one clock)."""

    name: str
    cpu_request_milli: int
    phase: Phase = "Running"
    ready: bool | None = True
    """The Ready condition; None when the pod has none yet."""
    ready_since: float = -math.inf
    """When the Ready condition last changed."""
    started_at: float = -math.inf
    deleted: bool = False
    usage_milli: int | None = None
    """CPU use over the last metric window; None when metrics are missing."""
    metric_at: float = 0.0
    metric_window: float = 15.0


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    utilization: int | None
    """Mean utilization (% of request) of the pods that had metrics; None when none had."""
    reason: str


class NoMetrics(Exception):
    """No pod had a usable metric: the HPA leaves the scale alone (FailedGetResourceMetric)."""


def _group(pods: list[Pod], now: float, config: HPAConfig) -> tuple[int, set[str], set[str], set[str]]:
    """(ready count, unready, missing, ignored): groupPods for the CPU resource."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    init_period = config.scaled(config.cpu_initialization_period_seconds)
    readiness_delay = config.scaled(config.initial_readiness_delay_seconds)
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        if pod.usage_milli is None:
            missing.add(pod.name)
            continue
        if pod.ready is None:
            is_unready = True
        elif pod.started_at + init_period > now:
            # Young pod: its CPU is only trusted once it is ready and a full window has passed since.
            is_unready = not pod.ready or pod.metric_at < pod.ready_since + pod.metric_window
        else:
            # Older pod: unready only if it has never become ready after its initial delay.
            is_unready = not pod.ready and pod.started_at + readiness_delay > pod.ready_since
        if is_unready:
            unready.add(pod.name)
        else:
            ready += 1
    return ready, unready, missing, ignored


def _utilization(usage: dict[str, int], requests: dict[str, int], target: int) -> tuple[float, int]:
    """(usage ratio, utilization %) with Kubernetes' integer percent (GetResourceUtilizationRatio)."""
    total_usage = sum(usage.values())
    total_request = sum(requests[name] for name in usage)
    if total_request == 0:
        raise NoMetrics("no CPU request on the pods with metrics")
    utilization = total_usage * 100 // total_request
    return utilization / target, utilization


def within_tolerance(ratio: float, config: HPAConfig) -> bool:
    """``Tolerances.isWithin``: ``(1 - down) <= ratio <= (1 + up)``, per direction (1.33+). Not
    ``abs(1 - ratio) <= tolerance``: at 33 % for a 30 % target that is 0.10000000000000009 > 0.1 in
    floating point and scales, where Kubernetes keeps the count. Kubernetes 1.20 (the controller
    ``one_window_stabilization`` follows, and the one tests/k8s runs) still tested the absolute form."""
    if config.one_window_stabilization:
        return abs(1.0 - ratio) <= config.tolerance
    return (1.0 - config.down_tolerance) <= ratio <= (1.0 + config.up_tolerance)


def replicas_for_cpu(current: int, pods: list[Pod], now: float, config: HPAConfig) -> Recommendation:
    """The desired replica count for the CPU target (``GetResourceReplicas``), before behavior."""
    target = config.target_cpu_utilization
    ready_count, unready, missing, ignored = _group(pods, now, config)
    usage = {
        p.name: p.usage_milli
        for p in pods
        if p.usage_milli is not None and p.name not in ignored and p.name not in unready
    }
    if not usage:
        raise NoMetrics("no metrics for any ready pod")
    requests = {p.name: p.cpu_request_milli for p in pods if p.name not in ignored}
    ratio, utilization = _utilization(usage, requests, target)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if within_tolerance(ratio, config):
            return Recommendation(current, utilization, "within tolerance")
        return Recommendation(math.ceil(ratio * ready_count), utilization, "cpu utilization")
    if missing:
        for name in missing:
            # Missing metrics: assume the worst for the direction of change (100 % of the
            # request, or the target if higher, on a scale-down; nothing on a scale-up).
            if ratio < 1.0:
                usage[name] = requests[name] * max(100, target) // 100
            elif ratio > 1.0:
                usage[name] = 0
    if scale_up_with_unready:
        for name in unready:
            usage[name] = 0
    new_ratio, _ = _utilization(usage, requests, target)
    if (
        within_tolerance(new_ratio, config)
        or (ratio < 1.0 and new_ratio > 1.0)
        or (ratio > 1.0 and new_ratio < 1.0)
    ):
        return Recommendation(current, utilization, "direction would flip with missing/unready pods")
    replicas = math.ceil(new_ratio * len(usage))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Recommendation(current, utilization, "direction would flip with missing/unready pods")
    return Recommendation(replicas, utilization, "cpu utilization")


# ---- behavior: stabilization windows and rate policies (horizontal.go) -----------------------


@dataclass(frozen=True)
class ScaleEvent:
    at: float
    change: int


@dataclass(frozen=True)
class HPAState:
    """What the controller remembers between syncs."""

    recommendations: tuple[tuple[float, int], ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class Normalized:
    replicas: int
    stabilized: int
    reason: str
    """The rate/bounds condition: DesiredWithinRange, ScaleUpLimit, TooManyReplicas, ..."""
    stabilization: str
    """ScaleUpStabilized or ScaleDownStabilized."""


def _remember(state: HPAState, now: float, desired: int, old_index: int | None) -> HPAState:
    """Record this sync's recommendation: in the last slot no window needs any more, else appended."""
    log = list(state.recommendations)
    if old_index is not None:
        log[old_index] = (now, desired)
    else:
        log.append((now, desired))
    return replace(state, recommendations=tuple(log))


def stabilize(
    current: int, desired: int, now: float, state: HPAState, config: HPAConfig
) -> tuple[int, str, HPAState]:
    """``stabilizeRecommendationWithBehaviors``: the recommendation bounded by the windows' extremes.

    With ``config.one_window_stabilization``, Kubernetes 1.20's version: one window only, the
    scale-up one (lowest recent recommendation) when desired >= current, else the scale-down one
    (highest). It can move against the recommendation: desired == current with a lower
    recommendation inside the scale-up window scales *down*. The real 1.20 controller does so
    (tests/k8s/test_hpa.py, "oscillation around the target").
    """
    up_cutoff = now - config.scaled(config.scale_up.stabilization_window_seconds)
    down_cutoff = now - config.scaled(config.scale_down.stabilization_window_seconds)
    up, down = desired, desired
    old_index = None
    for index, (at, recommended) in enumerate(state.recommendations):
        if at > up_cutoff:
            up = min(recommended, up)
        if at > down_cutoff:
            down = max(recommended, down)
        if at < up_cutoff and at < down_cutoff:
            old_index = index
    if config.one_window_stabilization:
        recommendation, reason = (
            (up, "ScaleUpStabilized") if desired >= current else (down, "ScaleDownStabilized")
        )
    else:
        # Both windows bound the count; the reason names the recommendation's direction, as
        # Kubernetes does (a held-back scale-up is ScaleUpStabilized, whichever bound held it).
        recommendation = min(max(current, up), down)
        reason = "ScaleUpStabilized" if desired >= current else "ScaleDownStabilized"
    return recommendation, reason, _remember(state, now, desired, old_index)


def _changed_within(period: float, events: tuple[ScaleEvent, ...], now: float) -> int:
    return sum(event.change for event in events if event.at > now - period)


def _period_start(current: int, period: float, state: HPAState, now: float) -> int:
    """The replica count at the start of a policy's period: today's count minus the changes since."""
    return (
        current
        - _changed_within(period, state.scale_up_events, now)
        + _changed_within(period, state.scale_down_events, now)
    )


def scale_up_limit(current: int, state: HPAState, rules: ScalingRules, now: float, config: HPAConfig) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = min if rules.select_policy == "Min" else max
    result: int | None = None
    for policy in rules.policies:
        start = _period_start(current, config.scaled(policy.period_seconds), state, now)
        if policy.type == "Pods":
            proposed = start + policy.value
        else:
            proposed = math.ceil(start * (1 + policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def scale_down_limit(
    current: int, state: HPAState, rules: ScalingRules, now: float, config: HPAConfig
) -> int:
    if rules.select_policy == "Disabled":
        return current
    # The least-restrictive limit on the way down is the smallest count.
    pick = max if rules.select_policy == "Min" else min
    result: int | None = None
    for policy in rules.policies:
        start = _period_start(current, config.scaled(policy.period_seconds), state, now)
        proposed = start - policy.value if policy.type == "Pods" else int(start * (1 - policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def limit_rate(current: int, desired: int, now: float, state: HPAState, config: HPAConfig) -> tuple[int, str]:
    """``convertDesiredReplicasWithBehaviorRate``: the rate policies and min/max replicas."""
    if desired > current:
        limit = max(current, scale_up_limit(current, state, config.scale_up, now, config))
        allowed, reason = (
            (limit, "ScaleUpLimit")
            if config.max_replicas > limit
            else (config.max_replicas, "TooManyReplicas")
        )
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(current, scale_down_limit(current, state, config.scale_down, now, config))
        allowed, reason = (
            (limit, "ScaleDownLimit")
            if config.min_replicas < limit
            else (config.min_replicas, "TooFewReplicas")
        )
        if desired < allowed:
            return allowed, reason
    return desired, "DesiredWithinRange"


def normalize(
    current: int, desired: int, now: float, state: HPAState, config: HPAConfig
) -> tuple[Normalized, HPAState]:
    """``normalizeDesiredReplicasWithBehaviors``: stabilize, then apply rate limits and bounds.
    An HPA without ``behavior`` takes ``normalizeDesiredReplicas`` instead."""
    if not config.behavior:
        return normalize_without_behavior(current, desired, now, state, config)
    stabilized, reason, state = stabilize(current, desired, now, state, config)
    replicas, limit_reason = limit_rate(current, stabilized, now, state, config)
    return Normalized(replicas, stabilized, limit_reason, reason), state


def record_scale(state: HPAState, before: int, after: int, now: float, config: HPAConfig) -> HPAState:
    """``storeScaleEvent``: remember a rescale for the rate policies; drop events no policy needs.
    Without ``behavior`` there are no rate policies, and Kubernetes records nothing."""
    if not config.behavior:
        return state

    def keep(events: tuple[ScaleEvent, ...], rules: ScalingRules) -> tuple[ScaleEvent, ...]:
        longest = max((config.scaled(p.period_seconds) for p in rules.policies), default=0.0)
        return tuple(e for e in events if e.at > now - longest)

    if after > before:
        events = (*keep(state.scale_up_events, config.scale_up), ScaleEvent(now, after - before))
        return replace(state, scale_up_events=events)
    if after < before:
        events = (*keep(state.scale_down_events, config.scale_down), ScaleEvent(now, before - after))
        return replace(state, scale_down_events=events)
    return state


# ---- the path without behavior (horizontal.go normalizeDesiredReplicas) ---------------------

SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0


def stabilize_downscale(desired: int, now: float, state: HPAState, config: HPAConfig) -> tuple[int, HPAState]:
    """``stabilizeRecommendation``: the highest recommendation within the downscale window."""
    cutoff = now - config.scaled(config.downscale_stabilization_seconds)
    highest, old_index = desired, None
    for index, (at, recommended) in enumerate(state.recommendations):
        if at < cutoff:
            old_index = index
        elif recommended > highest:
            highest = recommended
    return highest, _remember(state, now, desired, old_index)


def convert_with_rules(current: int, desired: int, min_replicas: int, max_replicas: int) -> tuple[int, str]:
    """``convertDesiredReplicasWithRules``: the bounds, and a scale-up of at most max(2 x current, 4)."""
    scale_up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > scale_up_limit:
        most, condition = scale_up_limit, "ScaleUpLimit"
    else:
        most, condition = max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    if desired > most:
        return most, condition
    return desired, "DesiredWithinRange"


def normalize_without_behavior(
    current: int, desired: int, now: float, state: HPAState, config: HPAConfig
) -> tuple[Normalized, HPAState]:
    stabilized, state = stabilize_downscale(desired, now, state, config)
    stabilization = "ScaleDownStabilized" if stabilized != desired else "ReadyForNewScale"
    replicas, reason = convert_with_rules(current, stabilized, config.min_replicas, config.max_replicas)
    return Normalized(replicas, stabilized, reason, stabilization), state


@dataclass(frozen=True)
class Decision:
    """One sync of the HPA, as recorded for the timeline and the report."""

    at: float
    current: int
    utilization: int | None
    recommended: int
    """From the metric alone."""
    stabilized: int
    desired: int
    """After windows, rate policies and bounds: what the controller scales to."""
    reason: str


def decide(
    current: int, pods: list[Pod], now: float, state: HPAState, config: HPAConfig
) -> tuple[Decision, HPAState]:
    """One HPA sync: the desired replica count and the controller's next state (pure)."""
    if not state.recommendations:
        # ``recordInitialRecommendation``: an HPA's first sync, before any metric, remembers the
        # current count, so the scale-up window holds the first scale-up back (found by the real
        # controller in tests/k8s: it kept 2 replicas one sync longer than we did).
        state = replace(state, recommendations=((now, current),))
    if current == 0 and config.min_replicas != 0:
        # The target was scaled to zero by hand: autoscaling is off until it is scaled up again.
        return Decision(now, 0, None, 0, 0, 0, "ScalingDisabled"), state
    if current > config.max_replicas:
        return Decision(now, current, None, config.max_replicas, config.max_replicas, config.max_replicas,
                        "Current number of replicas above Spec.MaxReplicas"), state  # fmt: skip
    if current < config.min_replicas:
        return Decision(now, current, None, config.min_replicas, config.min_replicas, config.min_replicas,
                        "Current number of replicas below Spec.MinReplicas"), state  # fmt: skip
    try:
        recommendation = replicas_for_cpu(current, pods, now, config)
    except NoMetrics as exc:
        return Decision(
            now, current, None, current, current, current, f"FailedGetResourceMetric: {exc}"
        ), state
    normalized, state = normalize(current, recommendation.replicas, now, state, config)
    if normalized.replicas != normalized.stabilized:
        reason = normalized.reason
    elif normalized.stabilized != recommendation.replicas:
        reason = normalized.stabilization
    else:
        reason = recommendation.reason
    decision = Decision(
        now,
        current,
        recommendation.utilization,
        recommendation.replicas,
        normalized.stabilized,
        normalized.replicas,
        reason,
    )
    return decision, state
