"""The HPA's memory and how it bounds a recommendation: stabilization windows, rate policies and
the min/max bounds (``horizontal.go``: ``stabilizeRecommendationWithBehaviors``,
``convertDesiredReplicasWithBehaviorRate``, ``storeScaleEvent``), and the older path Kubernetes
takes for an HPA without ``behavior`` (``normalizeDesiredReplicas``: only a downscale window, a
scale-up cap of max(2 x current, 4), no scale events). Pure: time comes in as ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from mlscale.autoscaling.config import HPAConfig, ScalingRules


@dataclass(frozen=True)
class ScaleEvent:
    at: float
    change: int
    outdated: bool = False
    """Older than every rate policy's period (Go's ``markScaleEventsOutdated``): kept in the list,
    counted by no period, and its slot reused by the next event."""


@dataclass(frozen=True)
class HPAState:
    """What the controller remembers between syncs."""

    recommendations: tuple[tuple[float, int], ...] = ()
    initialized: bool = False
    """False before the first sync (Go's nil recommendation log, which that sync fills with the
    current count); True with an empty log is Go's empty, non-nil one."""
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
    up_cutoff = now - config.scaled(config.window_seconds(config.scale_up))
    down_cutoff = now - config.scaled(config.window_seconds(config.scale_down))
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


def store_event(
    events: tuple[ScaleEvent, ...], change: int, now: float, rules: ScalingRules, config: HPAConfig
) -> tuple[ScaleEvent, ...]:
    """Go's ``storeScaleEvent`` on one direction's list: mark the events older than the longest
    policy period outdated (``markScaleEventsOutdated``), then put the new one in the last
    outdated slot, or append it. The list keeps Go's order and length, slot by slot."""
    longest = max((config.scaled(p.period_seconds) for p in rules.policies), default=0.0)
    marked = [replace(e, outdated=True) if e.at < now - longest else e for e in events]
    reusable = [index for index, event in enumerate(marked) if event.outdated]
    event = ScaleEvent(now, change)
    if reusable:
        marked[reusable[-1]] = event
    else:
        marked.append(event)
    return tuple(marked)


def record_scale(state: HPAState, before: int, after: int, now: float, config: HPAConfig) -> HPAState:
    """``storeScaleEvent``: remember a rescale for the rate policies. Without ``behavior`` there
    are no rate policies, and Kubernetes records nothing."""
    if not config.behavior:
        return state
    if after > before:
        events = store_event(state.scale_up_events, after - before, now, config.scale_up, config)
        return replace(state, scale_up_events=events)
    if after < before:
        events = store_event(state.scale_down_events, before - after, now, config.scale_down, config)
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


def convert_with_rules(current: int, desired: int, min_replicas: int, max_replicas: int,
                       factor: float = SCALE_UP_LIMIT_FACTOR) -> tuple[int, str]:  # fmt: skip
    """``convertDesiredReplicasWithRules``: the bounds, and a scale-up of at most max(2 x current, 4).
    ``factor`` is Go's package variable ``scaleUpLimitFactor`` (its own tests set it to 8)."""
    scale_up_limit = int(max(factor * current, SCALE_UP_LIMIT_MINIMUM))
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
    replicas, reason = convert_with_rules(current, stabilized, config.min_replicas, config.max_replicas,
                                          config.scale_up_limit_factor)  # fmt: skip
    return Normalized(replicas, stabilized, reason, stabilization), state
