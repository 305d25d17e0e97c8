"""Knative's pod autoscaler (KPA) decider, as a pure function: one ``Scale`` of
knative/serving ``pkg/autoscaler/scaling/autoscaler.go``.

Desired pods from the observed concurrency (or requests per second) averaged over a stable
window (60 s) and a panic window (6 s), each divided by the per-pod target; both bounded by the
maximum scale-up and scale-down rates. Panic mode begins when the panic window's proposal is at
least ``panic_threshold`` times the ready pods, lasts until a whole stable window has passed
without that, and never scales down while it lasts. A scale-down delay holds the highest
recent decision. Besides the pod count it returns Knative's excess burst capacity and activator
count. The windowed averages come in as arguments: the metric collector is the caller's.
No clock reads and no I/O: time comes in as ``now``, the decider's memory as ``KPAState``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

MIN_ACTIVATORS = 2
TICK_SECONDS = 2.0
"""Knative's tick: the scale-down delay keeps one maximum per tick (max.TimeWindow's granularity)."""


@dataclass(frozen=True)
class KPAConfig:
    """Knative's ``DeciderSpec``; the defaults are Knative's config-autoscaler defaults."""

    target_value: float
    """Per-pod target: container concurrency x target utilization (or requests/s for rps)."""
    total_value: float
    """Per-pod capacity: the target before utilization (container concurrency)."""
    target_burst_capacity: float = 200.0
    """Spare capacity to keep for bursts; 0: none; -1: unlimited (the activator stays in the path)."""
    activator_capacity: float = 100.0
    panic_threshold: float = 2.0
    """Panic when the panic window asks for this many times the ready pods (200 %)."""
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    stable_window: float = 60.0
    scale_down_delay: float = 0.0
    reachable: bool = True
    """The revision receives traffic; an unreachable one may drop at once (no scale-down rate)."""


@dataclass(frozen=True)
class KPAState:
    panic_since: float | None = None
    """When panic mode last saw the threshold crossed; None: stable mode."""
    max_panic_pods: int = 0
    delay: tuple[tuple[int, int], ...] = ()
    """The scale-down delay's window: (tick, highest desired count in that tick)."""


@dataclass(frozen=True)
class ScaleResult:
    desired: int
    excess_burst_capacity: int
    num_activators: int
    valid: bool


INVALID = ScaleResult(0, 0, MIN_ACTIVATORS, False)


def start(ready_pods: int | None, now: float) -> KPAState:
    """``newAutoscaler``: a decider that starts above one pod starts in panic mode, so it keeps the
    current scale until it has data (it lost its history on restart). No count reads as 0."""
    count = ready_pods or 0
    return KPAState(now if count > 1 else None, count)


def _bounded(value: float, target: float, low: float, high: float) -> int:
    return int(min(max(math.ceil(value / target), low), high))


def _delayed(desired: int, now: float, state: KPAState, window: float) -> tuple[int, KPAState]:
    """The highest decision of the last ``window`` seconds, kept one per tick."""
    tick = math.floor(now / TICK_SECONDS)
    kept = [(t, n) for t, n in state.delay if t * TICK_SECONDS > now - window and t != tick]
    here = max([n for t, n in state.delay if t == tick] + [desired])
    kept.append((tick, here))
    return max(n for _, n in kept), replace(state, delay=tuple(kept))


def _burst(ready: int, panic_value: float, config: KPAConfig) -> tuple[int, int]:
    """(excess burst capacity, activators): what spare capacity the pods have beyond the burst
    target, and how many activators the revision gets to carry it."""
    if config.target_burst_capacity == 0:
        return 0, MIN_ACTIVATORS
    total = ready * config.total_value
    if config.target_burst_capacity > 0:
        excess = math.floor(total - config.target_burst_capacity - panic_value)
        activators = math.ceil((total + config.target_burst_capacity) / config.activator_capacity)
        return excess, max(MIN_ACTIVATORS, activators)
    return -1, max(MIN_ACTIVATORS, math.ceil(total / config.activator_capacity))


def scale(
    ready_pods: int | None,
    stable_value: float | None,
    panic_value: float | None,
    now: float,
    state: KPAState,
    config: KPAConfig,
) -> tuple[ScaleResult, KPAState]:
    """One ``Scale``: ``ready_pods`` None when they cannot be counted, the window averages None
    when there is no data yet (both: an invalid result, nothing changes)."""
    if ready_pods is None or stable_value is None or panic_value is None:
        return INVALID, state
    ready = max(1.0, float(ready_pods))
    # At least one more pod on a scale-up, however small the rate (MSUR 1.1 x 2 pods is still 3).
    most = math.ceil(config.max_scale_up_rate * ready)
    least = math.floor(ready / config.max_scale_down_rate) if config.reachable else 0.0
    stable = _bounded(stable_value, config.target_value, least, most)
    panic = _bounded(panic_value, config.target_value, least, most)
    over_threshold = math.ceil(panic_value / config.target_value) / ready >= config.panic_threshold
    if over_threshold:
        state = replace(state, panic_since=now)  # begin panicking, or extend the panic
    elif state.panic_since is not None and state.panic_since + config.stable_window < now:
        state = replace(state, panic_since=None, max_panic_pods=0)  # the surge is in the stable metric
    desired = stable
    if state.panic_since is not None:
        # Provision for the larger of the two, and never scale down while panicking.
        state = replace(state, max_panic_pods=max(state.max_panic_pods, stable, panic))
        desired = state.max_panic_pods
    if config.scale_down_delay > 0:
        desired, state = _delayed(desired, now, state, config.scale_down_delay)
    excess, activators = _burst(ready_pods, panic_value, config)
    return ScaleResult(desired, excess, activators, True), state
