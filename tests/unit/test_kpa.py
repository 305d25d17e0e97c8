"""Knative's KPA decider against knative/serving ``pkg/autoscaler/scaling/autoscaler_test.go``, each
case named after its Go test. The Go harness (``newTestAutoscaler``): target utilization 75 %
(total value = target / 0.75), panic threshold 2, scale-up and scale-down rates 10, activator
capacity 150, stable window 60 s, reachable, one ready pod unless a test sets another. Go compares
the excess burst capacity within 1 (``approxEquateInt32``), and so do these tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest

from mlscale.autoscaling.kpa import MIN_ACTIVATORS, KPAConfig, KPAState, ScaleResult, scale, start

UTILIZATION = 0.75
NOW = 1_000.0


def spec(target: float, burst: float, **changes: object) -> KPAConfig:
    config = KPAConfig(
        target, target / UTILIZATION, burst, activator_capacity=150, panic_threshold=2,
        max_scale_up_rate=10, max_scale_down_rate=10, stable_window=60, reachable=True,
    )  # fmt: skip
    return replace(config, **changes)  # type: ignore[arg-type]


def ebc(target: float, burst: float, panic: float, pods: float) -> int:
    """expectedEBC."""
    return math.floor(target / UTILIZATION * pods - burst - panic)


def activators(config: KPAConfig, pods: float) -> int:
    """expectedNA."""
    return max(MIN_ACTIVATORS, math.ceil((config.total_value * pods + config.target_burst_capacity) / 150))


@dataclass
class Decider:
    """One autoscaler of the Go tests: its spec, its ready pods and its state between Scale calls."""

    config: KPAConfig
    ready: int | None = 1
    state: KPAState | None = None
    created_with: int | None = 1
    """The ready pods when the decider was created: newTestAutoscaler's one, before a test sets more."""

    def scale(self, stable: float | None, panic: float | None, now: float = NOW) -> ScaleResult:
        if self.state is None:
            self.state = start(self.created_with, now)
        result, self.state = scale(self.ready, stable, panic, now, self.state, self.config)
        return result

    @property
    def panic_since(self) -> float | None:
        assert self.state is not None
        return self.state.panic_since


def expect(got: ScaleResult, desired: int, excess: int, acts: int, valid: bool = True) -> None:
    assert (got.desired, got.num_activators, got.valid) == (desired, acts, valid), got
    assert abs(got.excess_burst_capacity - excess) <= 1, got


def test_AutoscalerScaleDownDelay() -> None:
    """Both sub-tests, on one decider as in Go (no ready pods, rates 10, delay 5 minutes)."""
    config = KPAConfig(10, 10 / UTILIZATION, 0, panic_threshold=100, max_scale_up_rate=10,
                       max_scale_down_rate=10, scale_down_delay=300, reachable=False)  # fmt: skip
    decider = Decider(config, ready=0, created_with=0)
    t0 = 0.0
    # simple
    assert decider.scale(40, 40, t0 + 2).desired == 4
    assert decider.scale(0, 0, t0 + 300).desired == 4  # five minutes at reduced concurrency: held
    assert decider.scale(0, 0, t0 + 302).desired == 0  # 5 min 2 s: the 4 has scrolled out
    # gradual
    assert decider.scale(40, 40, t0 + 540).desired == 4
    assert decider.scale(30, 30, t0 + 600).desired == 4  # 4 still dominates
    assert decider.scale(0, 0, t0 + 660).desired == 4
    assert decider.scale(0, 0, t0 + 840).desired == 3  # 4 scrolls out, drop to 3
    assert decider.scale(0, 0, t0 + 900).desired == 0  # everything scrolled out
    assert decider.scale(0, 0, t0 + 900).num_activators == MIN_ACTIVATORS


def test_AutoscalerScaleDownDelayZero() -> None:
    config = KPAConfig(
        10, 10 / UTILIZATION, 0, panic_threshold=100, max_scale_up_rate=10, max_scale_down_rate=10
    )
    decider = Decider(config, ready=0, created_with=0)
    assert decider.scale(40, 40, 0.0).desired == 4
    assert decider.scale(20, 20, 0.5).desired == 2  # no delay: down at once


def test_AutoscalerNoDataNoAutoscale() -> None:
    expect(Decider(spec(10, 100)).scale(None, None), 0, 0, MIN_ACTIVATORS, valid=False)


def test_AutoscalerMetrics() -> None:
    decider = Decider(spec(10, 100))
    expect(decider.scale(50, 50), 5, ebc(10, 100, 50, 1), activators(decider.config, 1))


def test_AutoscalerMetricsWithRPS() -> None:
    """The same arithmetic on requests per second: stable 100, panic 99, twice 61 s apart."""
    decider = Decider(spec(10, 100))
    expect(decider.scale(100, 99), 10, ebc(10, 100, 99, 1), activators(decider.config, 1))
    expect(decider.scale(100, 99, NOW + 61), 10, ebc(10, 100, 99, 1), activators(decider.config, 1))


@pytest.mark.parametrize(
    "name",
    ["TestAutoscalerStableModeIncreaseWithConcurrencyDefault", "TestAutoscalerStableModeIncreaseWithRPS"],
)
def test_stable_mode_increase(name: str) -> None:
    decider = Decider(spec(10, 101))
    na = activators(decider.config, 1)
    panic = 10 if "Concurrency" in name else 50
    expect(decider.scale(50, panic), 5, ebc(10, 101, panic, 1), na)
    panic = 10 if "Concurrency" in name else 99
    expect(decider.scale(100, panic), 10, ebc(10, 101, panic, 1), na)


def test_AutoscalerUnpanicAfterSlowIncrease() -> None:
    decider = Decider(spec(1, 98), ready=10)
    tm = NOW
    expect(decider.scale(11, 25, tm), 25, ebc(1, 98, 25, 10), activators(decider.config, 10))
    assert decider.panic_since == tm
    decider.ready = 25 + 15  # half the stable window later, one pod added per tick
    expect(decider.scale(30, 41, tm + 30), 41, ebc(1, 98, 41, 40), activators(decider.config, 40))
    assert decider.panic_since == tm  # 41 / 40 is under the threshold: the panic did not move
    decider.ready = 25 + 30  # the end of the window: the panic ends
    expect(decider.scale(50, 56, tm + 62), 50, ebc(1, 98, 56, 55), activators(decider.config, 55))
    assert decider.panic_since is None


def test_AutoscalerExtendPanicWindow() -> None:
    decider = Decider(spec(1, 98), ready=10)
    expect(decider.scale(11, 25, NOW), 25, ebc(1, 98, 25, 10), activators(decider.config, 10))
    decider.ready = 40
    expect(decider.scale(30, 80, NOW + 30), 80, ebc(1, 98, 80, 40), activators(decider.config, 40))
    assert decider.panic_since == NOW + 30


def test_AutoscalerStableModeDecrease() -> None:
    decider = Decider(spec(10, 98), ready=8)
    na = activators(decider.config, 8)
    expect(decider.scale(100, 100), 10, ebc(10, 98, 100, 8), na)
    expect(decider.scale(50, 50), 5, ebc(10, 98, 50, 8), na)


def test_AutoscalerStableModeNoTrafficScaleToZero() -> None:
    decider = Decider(spec(10, 75))
    na = activators(decider.config, 1)
    expect(decider.scale(1, 0), 1, ebc(10, 75, 0, 1), na)
    expect(decider.scale(0, 0), 0, ebc(10, 75, 0, 1), na)


def test_AutoscalerPanicModeExponentialTrackAndStabilize() -> None:
    decider = Decider(spec(1, 101))
    expect(decider.scale(6, 6), 6, ebc(1, 101, 6, 1), activators(decider.config, 1))
    tm = NOW
    for pods, load in ((6, 36), (36, 216), (216, 1296)):
        decider.ready = pods
        tm += 1 if pods == 36 else 0
        expect(decider.scale(load, load, tm), load, ebc(1, 101, load, pods), activators(decider.config, pods))
        assert decider.panic_since == tm
    decider.ready = 1296
    expect(decider.scale(1296, 1296, tm + 1), 1296, ebc(1, 101, 1296, 1296), activators(decider.config, 1296))


# TestAutoscalerScale: (label, target, burst, stable, panic, ready, spec changes, panic state, scale, EBC)
SCALE_CASES = [
    ("AutoscalerNoDataAtZeroNoAutoscale", 10, 100, 0, 0, 1, {}, None, 0, ebc(10, 100, 0, 1)),
    ("AutoscalerNoDataAtZeroNoAutoscaleWithExplicitEPs", 10, 100, 0, 0, 1, {}, None, 0, ebc(10, 100, 0, 1)),
    ("AutoscalerStableModeUnlimitedTBC", 181, -1, 21, 26, 1, {}, None, 1, -1),
    ("Autoscaler0TBC", 10, 0, 50, 49, 1, {}, None, 5, 0),
    ("AutoscalerStableModeNoChange", 10, 100, 50, 50, 1, {}, None, 5, ebc(10, 100, 50, 1)),
    ("AutoscalerPanicStableLargerThanPanic", 1, 100, 50, 30, 5, {}, (NOW - 5, 5), 50, ebc(1, 100, 30, 5)),
    ("AutoscalerPanicStableLessThanPanic", 1, 100, 20, 30, 5, {}, (NOW - 5, 5), 30, ebc(1, 100, 30, 5)),
    ("AutoscalerStableModeNoChangeAlreadyScaled", 10, 100, 50, 50, 5, {}, None, 5, ebc(10, 100, 50, 5)),
    ("AutoscalerStableModeIncreaseWithSmallScaleUpRate", 1, 1982, 3, 3.1, 2, {"max_scale_up_rate": 1.1}, None, 3,
     ebc(1, 1982, 3.1, 2)),
    ("AutoscalerStableModeDecreaseWithSmallScaleDownRate", 10, 1982, 1, 1, 100, {"max_scale_down_rate": 1.1}, None,
     90, ebc(10, 1982, 1, 100)),
    ("AutoscalerStableModeDecreaseNonReachable", 10, 1982, 1, 1, 100,
     {"max_scale_down_rate": 1.1, "reachable": False}, None, 1, ebc(10, 1982, 1, 100)),
    ("AutoscalerPanicModeDoublePodCount", 10, 84, 50, 100, 1, {}, None, 10, ebc(10, 84, 100, 1)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("target", "burst", "stable", "panic", "ready", "changes", "panicking", "want", "excess"),
    [case[1:] for case in SCALE_CASES],
    ids=[f"TestAutoscalerScale/{case[0]}" for case in SCALE_CASES],
)
def test_AutoscalerScale(
    target: float,
    burst: float,
    stable: float,
    panic: float,
    ready: int,
    changes: dict[str, object],
    panicking: tuple[float, int] | None,
    want: int,
    excess: int,
) -> None:
    config = spec(target, burst, **changes)
    state = start(1, NOW) if panicking is None else KPAState(*panicking)  # created at one pod, as in Go
    decider = Decider(config, ready=ready, state=state)
    expect(decider.scale(stable, panic), want, excess, activators(config, ready))


def test_AutoscalerPanicThenUnPanicScaleDown() -> None:
    decider = Decider(spec(10, 93))
    expect(decider.scale(100, 100), 10, ebc(10, 93, 100, 1), activators(decider.config, 1))
    decider.ready = 10
    na = activators(decider.config, 10)
    expect(decider.scale(100, 1000, NOW), 100, ebc(10, 93, 1000, 10), na)
    expect(decider.scale(1, 1, NOW + 30), 100, ebc(10, 93, 1, 10), na)  # still panicking: no scale-down
    expect(decider.scale(1, 1, NOW + 61), 1, ebc(10, 93, 1, 10), na)  # after the stable window


def test_AutoscalerRateLimitScaleUp() -> None:
    decider = Decider(spec(10, 61))
    expect(decider.scale(1000, 1001), 10, ebc(10, 61, 1001, 1), activators(decider.config, 1))  # x10 at most
    decider.ready = 10
    expect(decider.scale(1000, 1001), 100, ebc(10, 61, 1001, 10), activators(decider.config, 10))


def test_AutoscalerRateLimitScaleDown() -> None:
    decider = Decider(spec(10, 61), ready=100)
    expect(decider.scale(1, 1), 10, ebc(10, 61, 1, 100), activators(decider.config, 100))  # /10 at most
    decider.ready = 10
    expect(decider.scale(1, 1), 1, ebc(10, 61, 1, 10), activators(decider.config, 10))


def test_CantCountPods() -> None:
    decider = Decider(spec(10, 81), ready=None)
    assert decider.scale(1000, 888) == ScaleResult(0, 0, MIN_ACTIVATORS, False)


def test_AutoscalerUseOnePodAsMinimumIfEndpointsNotFound() -> None:
    decider = Decider(spec(10, 81), state=start(1, NOW))
    decider.ready = 0
    expect(decider.scale(1000, 888), 10, ebc(10, 81, 888, 0), MIN_ACTIVATORS)


def test_AutoscalerUpdateTarget() -> None:
    decider = Decider(spec(10, 77))
    expect(decider.scale(100, 101), 10, ebc(10, 77, 101, 1), activators(decider.config, 1))
    decider.ready = 10
    decider.config = KPAConfig(1, 1 / UTILIZATION, 71, activator_capacity=21, panic_threshold=2,
                               max_scale_up_rate=10, max_scale_down_rate=10, stable_window=60)  # fmt: skip
    na = max(MIN_ACTIVATORS, math.ceil((decider.config.total_value * 10 + 71) / 21))
    expect(decider.scale(100, 101), 100, ebc(1, 71, 101, 10), na)


def test_StartInPanicMode() -> None:
    for count in (0, 1):
        state = start(count, NOW)
        assert (state.panic_since, state.max_panic_pods) == (None, count)
    assert start(2, NOW) == KPAState(NOW, 2)


def test_NewFail() -> None:
    """A decider that cannot count its pods starts with none (and not in panic)."""
    assert start(None, NOW) == KPAState(None, 0)
