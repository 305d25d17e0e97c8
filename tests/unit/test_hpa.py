"""The HPA's behavior (stabilization windows, rate policies, scale events) against kubernetes/
kubernetes' ``horizontal_test.go`` (``TestScalingWithRules``, ``TestNormalizeDesiredReplicasWithBehavior``,
``TestStoreScaleEvents``, ``TestCalculateScaleUpLimitWithScalingRules``,
``TestCalculateScaleDownLimitWithBehaviors``; current master, every case), plus properties of whole
syncs. The replica calculator's cases are test_replica_calculator.py, whole-sync cases
test_horizontal.py, the path without behavior test_hpa_rules.py.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlscale.autoscaling.behavior import (
    HPAState,
    ScaleEvent,
    _changed_within,
    limit_rate,
    normalize,
    record_scale,
    scale_down_limit,
    scale_up_limit,
    stabilize,
)
from mlscale.autoscaling.config import DEFAULT_SCALE_DOWN, HPAConfig, ScalingPolicy, ScalingRules
from mlscale.autoscaling.hpa import decide
from mlscale.autoscaling.metrics import Observed, pod_usage
from mlscale.autoscaling.replicas import Pod, cpu_pod
from tests.unit.kube_cases import rules

NOW = 10_000.0
MINUTE = 60.0


def uniform_events(changes: list[int], period: int) -> tuple[ScaleEvent, ...]:
    """generateEventsUniformDistribution: events centred in equal segments of the last ``period`` s."""
    segment = period / len(changes)
    return tuple(
        ScaleEvent(NOW - (period - segment * (i + 1) + segment / 2), change)
        for i, change in enumerate(changes)
    )


SCALING_WITH_RULES = [
    # (name, current, prenormalized, min, max, scale-up rules, scale-down rules, up events, down events,
    #  expected, condition). None rules: Kubernetes' defaults (GenerateHPAScale*Rules).
    ("prenormalized desired replicas within range", 5, 7, 3, 8, None, None, (), (), 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", 3, 1, 2, 8, None, None, (), (), 2, "TooFewReplicas"),
    ("prenormalized desired replicas within range when minReplicas is 0", 1, 0, 0, 10, None, None, (), (), 0,
     "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", 20, 1000, 1, 10, None, None, (), (), 10,
     "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", 100, 1000, 100, 150, None, None, (), (), 150,
     "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", 3, 1000, 1, 2000,
     rules(0, 0, 1, 60, 0), None, (), (), 4, "ScaleUpLimit"),
    # skipped in Go (testThis: true returns early); it holds here
    ("scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies",
     1000, 3, 3, 2000, None, rules(20, 60, 0, 0, 0), (), (), 980, "ScaleDownLimit"),
    ("scaleUp with default behavior", 10, 50, 1, 1000, None, None, (), (), 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", 10, 500, 1, 1000, rules(100, 60, 100, 60, 0),
     None, (), (), 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", 10, 500, 1, 1000, rules(2, 60, 100, 60, 0), None,
     (), (), 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", 10, 50, 1, 1000,
     rules(100, 60, 0, 0, 0), None, (), (), 50, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy", 10, 50, 1, 1000,
     rules(10000, 60, 0, 0, 0), None, (), (), 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", 10, 50, 1, 1000, rules(30, 60, 0, 0, 0), None, (), (), 40,
     "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", 10, 50, 1, 1000, rules(0, 0, 200, 60, 0), None, (), (), 30,
     "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", 100, 2, 1, 1000, None, rules(20, 60, 1, 60, 300),
     (), (), 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", 100, 2, 1, 1000, None, rules(2, 60, 1, 60, 300),
     (), (), 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy", 10, 0, 1, 1000, None,
     rules(100, 60, 0, 0, 300), (), (), 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy", 10, 0, 1, 1000, None,
     rules(100, 60, 0, 0, 300), (), (), 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", 10, 2, 5, 1000, None,
     rules(0, 0, 100, 60, 300), (), (), 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", 10, 2, 1, 1000, None, rules(5, 60, 0, 0, 300), (), (), 5,
     "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", 10, 5, 1, 1000, None, rules(0, 0, 50, 60, 300), (), (), 5,
     "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events", 100, 500, 1, 200,
     rules(300, 60, 0, 0, 0), None, uniform_events([1, 5, 9], 120), (), 200, "TooManyReplicas"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy and events", 100, 500, 1, 200,
     rules(0, 0, 10000, 60, 0), None, uniform_events([1, 5, 9], 120), (), 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
     100, 500, 1, 1000, rules(5, 120, 0, 0, 0), None, uniform_events([1, 5, 9], 120), (), 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", 100, 500, 1, 1000, rules(150, 120, 0, 0, 0),
     None, uniform_events([1, 5, 9], 120), (), 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", 100, 500, 1, 1000, rules(0, 0, 200, 120, 0),
     None, uniform_events([1, 5, 9], 120), (), 255, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up and down events", 6, 24, 1, 1000,
     rules(0, 0, 300, 300, 0), None, uniform_events([4], 120), uniform_events([2], 120), 16, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", 10, 5, 1, 1000, None, None, (),
     uniform_events([1, 5, 9], 120), 5, "DesiredWithinRange"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", 100, 0, 1,
     1000, None, rules(115, 120, 0, 0, 300), (), uniform_events([1, 5, 9], 120), 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy and previous events", 100, 0, 5, 1000,
     None, rules(130, 120, 0, 0, 300), (), uniform_events([1, 5, 9], 120), 5, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy and previous events", 100, 2, 5,
     1000, None, rules(0, 0, 100, 120, 300), (), uniform_events([1, 5, 9], 120), 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", 100, 2, 1, 1000, None, rules(5, 120, 0, 0, 300),
     (), uniform_events([1, 5, 9], 120), 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", 100, 0, 1, 1000, None,
     rules(0, 0, 50, 120, 300), (), uniform_events([2, 4, 6], 120), 56, "ScaleDownLimit"),
    ("scaleDown with percent policy and previous scale up and down events", 10, 1, 1, 1000, None,
     rules(0, 0, 50, 180, 0), uniform_events([2], 120), uniform_events([4], 120), 6, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", 100, 0, 1, 1000, None,
     rules(0, 0, 10, 120, 300), (), uniform_events([10, 10, 10], 120), 100, "ScaleDownLimit"),
    ("scaleDown with with previous events still allowing more scale down", 10, 5, 1, 1000, None,
     rules(0, 0, 1000, 120, 300), (), uniform_events([10, 10, 10], 120), 5, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for up", 100, 200, 1, 1000, rules(1000, 60, 0, 0, 0),
     None, uniform_events([8, 12, 9, 11], 120), (), 200, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for up", 100,
     200, 1, 1000, rules(1000, 120, 100, 60, 0), None, uniform_events([8, 12, 9, 11], 120), (), 200,
     "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for up", 100, 200,
     1, 1000, rules(1000, 30, 100, 60, 0), None, uniform_events([8, 12, 9, 11], 120), (), 200,
     "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for down", 100, 5, 1, 1000, None,
     rules(1000, 60, 0, 0, 300), (), uniform_events([8, 12, 9, 11], 120), 5, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for down", 100,
     5, 1, 1000, None, rules(1000, 120, 100, 60, 300), (), uniform_events([8, 12, 9, 11], 120), 5,
     "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for down", 100, 5,
     1, 1000, None, rules(1000, 30, 100, 60, 300), (), uniform_events([8, 12, 9, 11], 120), 5,
     "DesiredWithinRange"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "desired", "low", "high", "up", "down", "up_events", "down_events", "expected", "condition"),
    [case[1:] for case in SCALING_WITH_RULES],
    ids=[case[0] for case in SCALING_WITH_RULES],
)
def test_ScalingWithRules(
    current: int,
    desired: int,
    low: int,
    high: int,
    up: ScalingRules | None,
    down: ScalingRules | None,
    up_events: tuple[ScaleEvent, ...],
    down_events: tuple[ScaleEvent, ...],
    expected: int,
    condition: str,
) -> None:
    """convertDesiredReplicasWithBehaviorRate (the rate policies and bounds, after stabilization)."""
    config = HPAConfig(min_replicas=low, max_replicas=high)
    if up is not None:
        config = replace(config, scale_up=up)
    if down is not None:
        config = replace(config, scale_down=down)
    state = HPAState(scale_up_events=up_events, scale_down_events=down_events)
    assert limit_rate(current, desired, NOW, state, config) == (expected, condition)


NORMALIZE_WITH_BEHAVIOR = [
    # (name, recommendations (minutes ago, count), current, prenormalized, up window, down window,
    #  stabilized, stored recommendations or None where Go checks none)
    ("empty recommendations for scaling down", [], 100, 5, 0, 0, 5, [5]),
    ("simple scale down stabilization", [(2, 4), (1, 5)], 100, 3, 0, 180, 5, [4, 5, 3]),
    ("simple scale up stabilization", [(2, 4), (1, 5)], 1, 7, 300, 0, 4, [4, 5, 7]),
    ("no scale down stabilization", [(2, 1), (1, 2)], 100, 3, 300, 0, 3, [1, 2, 3]),
    ("no scale up stabilization", [(2, 4), (1, 5)], 1, 3, 0, 300, 3, [4, 5, 3]),
    ("no scale down stabilization, reuse recommendation element", [(10, 10), (9, 9)], 100, 3, 0, 0, 3, [10, 3]),
    ("no scale up stabilization, reuse recommendation element", [(10, 10), (9, 9)], 1, 100, 0, 0, 100, [10, 100]),
    ("scale down stabilization, reuse one of obsolete recommendation element",
     [(10, 10), (1, 4), (2, 5), (9, 9)], 100, 3, 0, 180, 5, [10, 4, 5, 3]),
    ("scale up stabilization, reuse one of obsolete recommendation element",
     [(100, 10), (1, 6), (2, 5), (3, 9)], 1, 100, 300, 0, 5, [100, 6, 5, 9]),
    ("scale up and down stabilization, do not scale up when prenormalized rec goes down",
     [(100, 2), (3, 3)], 2, 1, 300, 300, 2, None),
    ("scale up and down stabilization, do not scale down when prenormalized rec goes up",
     [(100, 2), (3, 1)], 2, 3, 300, 300, 2, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("log", "current", "desired", "up_window", "down_window", "stabilized", "stored"),
    [case[1:] for case in NORMALIZE_WITH_BEHAVIOR],
    ids=[case[0] for case in NORMALIZE_WITH_BEHAVIOR],
)
def test_NormalizeDesiredReplicasWithBehavior(
    log: list[tuple[int, int]],
    current: int,
    desired: int,
    up_window: int,
    down_window: int,
    stabilized: int,
    stored: list[int] | None,
) -> None:
    """stabilizeRecommendationWithBehaviors: the bound and the recommendation log it leaves."""
    config = HPAConfig(scale_up=ScalingRules(up_window), scale_down=ScalingRules(down_window))
    state = HPAState(recommendations=tuple((NOW - minutes * MINUTE, count) for minutes, count in log))
    got, _, after = stabilize(current, desired, NOW, state, config)
    assert got == stabilized
    if stored is not None:
        assert [count for _, count in after.recommendations] == stored


STORE_SCALE_EVENTS = [
    # (name, previous events (seconds ago, change), rules or None (no behavior), change per 60 s before,
    #  the list after storing a change of 5, slot by slot as Go's test compares it: (change, outdated))
    ("empty entries with default behavior", [], None, 0, []),
    ("empty entries with two-policy-behavior", [], rules(10, 60, 100, 60, 0), 0, [(5, False)]),
    ("one outdated entry to be kept untouched without behavior", [(61, 7)], None, 0, [(7, False)]),
    ("one outdated entry to be replaced with behavior", [(61, 7)], rules(10, 60, 100, 60, 0), 0, [(5, False)]),
    ("one actual entry to be not touched with behavior", [(58, 7)], rules(10, 60, 100, 60, 0), 7,
     [(7, False), (5, False)]),
    ("two entries, one of them to be replaced", [(61, 7), (59, 6)], rules(10, 60, 0, 0, 0), 6,
     [(5, False), (6, False)]),
    ("replace one entry, use policies with different periods", [(29, 8), (59, 6), (61, 7), (61, 9)],
     rules(10, 60, 100, 30, 0), 14, [(8, False), (6, False), (7, True), (5, False)]),
    ("two entries, both actual", [(58, 7), (59, 6)], rules(10, 120, 100, 30, 0), 13,
     [(7, False), (6, False), (5, False)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("previous", "scaling", "change_before", "after"),
    [case[1:] for case in STORE_SCALE_EVENTS],
    ids=[case[0] for case in STORE_SCALE_EVENTS],
)
def test_StoreScaleEvents(
    previous: list[tuple[int, int]],
    scaling: ScalingRules | None,
    change_before: int,
    after: list[tuple[int, bool]],
) -> None:
    """storeScaleEvent and getReplicasChangePerPeriod, up (10 -> 15) and down (10 -> 5); the list
    compared slot by slot, outdated events included, as Go's test does."""
    events = tuple(ScaleEvent(NOW - ago, change) for ago, change in previous)
    for up in (True, False):
        config = HPAConfig(behavior=scaling is not None)
        if scaling is not None:
            config = replace(config, scale_up=scaling) if up else replace(config, scale_down=scaling)
        state = HPAState(scale_up_events=events) if up else HPAState(scale_down_events=events)
        assert _changed_within(60, events, NOW) == change_before
        stored_state = record_scale(state, 10, 15 if up else 5, NOW, config)
        stored = stored_state.scale_up_events if up else stored_state.scale_down_events
        assert [(e.change, e.outdated) for e in stored] == after


def test_CalculateScaleUpLimitWithScalingRules() -> None:
    scaling = ScalingRules(300, "Min", (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60)))
    assert scale_up_limit(1, HPAState(), scaling, NOW, HPAConfig()) == 2


def test_CalculateScaleDownLimitWithBehaviors() -> None:
    scaling = ScalingRules(300, "Min", (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60)))
    assert scale_down_limit(5, HPAState(), scaling, NOW, HPAConfig()) == 3


def test_time_scale_shortens_windows() -> None:
    config = HPAConfig(
        scale_down=replace(DEFAULT_SCALE_DOWN, stabilization_window_seconds=60), time_scale=0.1
    )
    state = HPAState(recommendations=((NOW - 10, 4),))  # 10 s ago: outside a 6 s window
    result, _ = normalize(4, 1, NOW, state, config)
    assert result.stabilized == 1


# ---- properties ---------------------------------------------------------------------------------

ORIGINAL = HPAConfig(
    min_replicas=1,
    max_replicas=5,
    target_cpu_utilization=70,
    scale_up=replace(HPAConfig().scale_up, stabilization_window_seconds=30),
    scale_down=replace(DEFAULT_SCALE_DOWN, stabilization_window_seconds=60),
)
usage = st.integers(min_value=0, max_value=3000)


def ready_pods(levels: list[int]) -> tuple[list[Pod], Observed]:
    """Long-started ready pods of 1 CPU each, using ``levels`` milli-CPU."""
    pods = [
        cpu_pod(f"pod-{i}", 1000, ready_since=NOW - 600, started_at=NOW - 600) for i in range(len(levels))
    ]
    observed = Observed({p.name: pod_usage(level, NOW, 15) for p, level in zip(pods, levels, strict=True)})
    return pods, observed


def sync(current: int, levels: list[int], now: float, state: HPAState, config: HPAConfig = ORIGINAL) -> tuple[
    int, HPAState]:  # fmt: skip
    pods, observed = ready_pods(levels)
    decision, state = decide(current, pods, replace(observed, timestamp=now), now, state, config)
    return decision.desired, state


@given(st.lists(usage, min_size=1, max_size=5), st.lists(st.lists(usage, min_size=1, max_size=5), max_size=8))
def test_the_result_is_always_within_min_and_max(first: list[int], later: list[list[int]]) -> None:
    state, current, now = HPAState(), len(first), NOW
    for levels in [first, *later]:
        padded = levels[:current] + [levels[-1]] * (current - len(levels))
        desired, state = sync(current, padded, now, state)
        assert ORIGINAL.min_replicas <= desired <= ORIGINAL.max_replicas
        current, now = desired, now + 15


@given(st.integers(min_value=1, max_value=5), st.floats(min_value=0.91, max_value=1.09))
def test_within_tolerance_nothing_changes(current: int, ratio: float) -> None:
    level = int(ratio * 70 * 10)  # milli-CPU of a 1000m request at ratio x the 70 % target
    desired, _ = sync(current, [level] * current, NOW, HPAState(initialized=True))
    assert abs(1 - level * 100 // 1000 / 70) > 0.1 or desired == current


@given(st.integers(min_value=1, max_value=5), usage, st.integers(min_value=2, max_value=30))
def test_a_stable_metric_never_flaps(start: int, level: int, syncs: int) -> None:
    """Same per-pod load, sync after sync: the count moves in one direction only, then holds."""
    state, current, now = HPAState(), start, NOW
    seen = [current]
    for _ in range(syncs):
        desired, state = sync(current, [level] * current, now, state)
        if desired != current:
            state = record_scale(state, current, desired, now, ORIGINAL)
        current, now = desired, now + 15
        seen.append(current)
    steps = [b - a for a, b in itertools.pairwise(seen) if b != a]
    assert all(s > 0 for s in steps) or all(s < 0 for s in steps)


def test_kubernetes_1_20s_one_window_stabilization_can_scale_against_the_recommendation() -> None:
    """Found by the real 1.20 controller (tests/k8s): desired == current uses the scale-up window."""
    config = HPAConfig(
        scale_up=ScalingRules(3, "Max", (ScalingPolicy("Pods", 2, 5),)),
        scale_down=ScalingRules(9, "Max", (ScalingPolicy("Percent", 50, 5),)),
    )
    state = HPAState(recommendations=((98.0, 1),))  # 2 s ago the recommendation was 1 replica
    legacy, reason, _ = stabilize(2, 2, 100.0, state, replace(config, one_window_stabilization=True))
    assert (legacy, reason) == (1, "ScaleUpStabilized")  # the lowest in the 3 s scale-up window
    today, _, _ = stabilize(2, 2, 100.0, state, config)
    assert today == 2  # bounded by both windows: 1 <= 2 <= 2 keeps the current count


@pytest.mark.parametrize("behavior", [False, True], ids=["without behavior", "with behavior"])
def test_a_first_sync_under_a_0s_downscale_window_does_not_count_the_initial_recommendation(
    behavior: bool,
) -> None:
    """Go stamps the initial recommendation (the current 4) before the sync's cutoff, so a 0 s
    window leaves it out and 4 idle pods go to 1 at once; it also takes that slot (Before both
    cutoffs) instead of appending."""
    config = HPAConfig(
        behavior=behavior,
        downscale_stabilization_seconds=0,
        scale_down=replace(DEFAULT_SCALE_DOWN, stabilization_window_seconds=0),
    )
    desired, state = sync(4, [10] * 4, NOW, HPAState(), config)
    assert desired == 1
    assert [count for _, count in state.recommendations] == [1]


def test_the_first_sync_remembers_the_current_count_before_any_metric() -> None:
    """recordInitialRecommendation: a brand-new HPA's history starts with the current count."""
    config = HPAConfig(scale_up=ScalingRules(3, "Max", (ScalingPolicy("Pods", 4, 15),)))
    hot = [cpu_pod("a", 500, ready_since=NOW - 60, started_at=NOW - 600)]
    first, state = decide(2, [], Observed({}), NOW, HPAState(), config)  # no metrics yet: no decision either
    assert first.desired == 2
    assert [count for _, count in state.recommendations] == [2]
    assert NOW - 1e-6 < state.recommendations[0][0] < NOW  # stamped an instant before the sync's cutoffs
    busy = Observed({"a": pod_usage(900, NOW + 2, 15)})
    held, state = decide(2, hot, busy, NOW + 2, state, config)
    assert (held.recommended, held.desired) == (3, 2)  # 2 s ago the count was 2: within the 3 s window
    moved, _ = decide(2, hot, busy, NOW + 4, state, config)
    assert moved.desired == 3
