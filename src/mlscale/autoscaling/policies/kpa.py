"""``kpa``: Knative's pod autoscaler on the observed concurrency (the dispatcher's queue plus its
requests in flight, what Knative's activator and queue-proxies count).

Every second the concurrency is sampled into a window (Knative's collector scrapes each second);
every ``tick_interval`` (2 s) the decider (``kpa.scale``) reads the averages of the stable window
(60 s) and of the panic window (``panicWindowPercentage`` of it, 6 s). The count it asks for is
bounded by ``minScale``/``maxScale``; it goes to zero only after ``scaleToZeroGracePeriod`` of
asking for zero (Knative's KPA reconciler), and a request arriving at zero is seen at the next
tick, as the activator's poke would be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from mlscale.autoscaling.kpa import KPAConfig, KPAState, scale
from mlscale.autoscaling.policies.base import Snapshot, Step, record


@dataclass(frozen=True)
class KPASettings:
    """``autoscaling.kpa`` in values.yaml, named as Knative's config-autoscaler keys."""

    container_concurrency: float = 2.0
    """Requests one replica serves at once: the dispatcher forwards two per ready replica."""
    target_utilization_percentage: float = 70.0
    stable_window: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold_percentage: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_to_zero_grace_period: float = 30.0
    tick_interval: float = 2.0
    min_scale: int = 0
    max_scale: int = 5

    def decider(self, time_scale: float) -> KPAConfig:
        return KPAConfig(
            target_value=self.container_concurrency * self.target_utilization_percentage / 100,
            total_value=self.container_concurrency,
            panic_threshold=self.panic_threshold_percentage / 100,
            max_scale_up_rate=self.max_scale_up_rate,
            max_scale_down_rate=self.max_scale_down_rate,
            stable_window=self.stable_window * time_scale,
        )


@dataclass(frozen=True)
class KPAPolicyState:
    decider: KPAState = field(default_factory=KPAState)
    samples: tuple[tuple[float, float], ...] = ()
    """(time, concurrency) of the last stable window."""
    zero_since: float | None = None
    """Since when the decider has asked for zero (the grace period counts from here)."""
    next_tick: float = -math.inf


def window_average(samples: tuple[tuple[float, float], ...], now: float, window: float) -> float | None:
    """The mean of the samples of the last ``window`` seconds; None when there are none."""
    values = [value for at, value in samples if at > now - window]
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class KPAPolicy:
    settings: KPASettings
    time_scale: float = 1.0
    name: str = "kpa"
    reads_load: bool = True

    @property
    def tick_seconds(self) -> float:
        return self.time_scale

    def start(self, now: float) -> KPAPolicyState:
        return KPAPolicyState()

    def step(self, snapshot: Snapshot, state: KPAPolicyState) -> tuple[Step, KPAPolicyState]:
        now, current = snapshot.now, snapshot.current
        config = self.settings.decider(self.time_scale)
        samples = state.samples
        if snapshot.load is not None:
            kept = (s for s in samples if s[0] > now - config.stable_window)
            samples = (*kept, (now, snapshot.load))
        state = replace(state, samples=samples)
        if now < state.next_tick:
            return Step(current, None), state
        state = replace(state, next_tick=now + self.settings.tick_interval * self.time_scale)
        panic_window = config.stable_window * self.settings.panic_window_percentage / 100
        stable = window_average(samples, now, config.stable_window)
        panic = window_average(samples, now, panic_window)
        result, decider = scale(snapshot.ready, stable, panic, now, state.decider, config)
        state = replace(state, decider=decider)
        if not result.valid:
            return Step(current, record(snapshot, self.name, current, "NoData")), state
        desired = min(max(result.desired, self.settings.min_scale), self.settings.max_scale)
        reason = "Panic" if decider.panic_since is not None else "Stable"
        if desired == 0 and current > 0:
            zero_since = state.zero_since if state.zero_since is not None else now
            state = replace(state, zero_since=zero_since)
            if now - zero_since < self.settings.scale_to_zero_grace_period * self.time_scale:
                desired, reason = current, "ScaleToZeroGrace"
        else:
            state = replace(state, zero_since=None)
        return Step(desired, record(snapshot, self.name, desired, reason, recommended=result.desired,
                                    metric="concurrency", stable=stable, panic=panic)), state  # fmt: skip

    def scaled(self, state: KPAPolicyState, before: int, after: int, now: float) -> KPAPolicyState:
        return state
