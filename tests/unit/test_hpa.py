"""The HPA against cases ported from kubernetes/kubernetes' own tests, plus properties.

Replica-calculation cases: ``pkg/controller/podautoscaler/replica_calculator_test.go`` (each named
after its Go test). Their harness: requests 1 CPU each unless given, metric timestamp = now with
a 1-minute window, Ready condition changed at the pod's start, start time "cool" (3 min ago)
unless "hot" (now); CPU initialization period 2 min, initial readiness delay 10 s.
Behavior cases: ``horizontal_test.go`` (``TestScalingWithRules``; ``TestNormalizeDesiredReplicas``, which
tests the path without behavior, is in test_hpa_rules.py).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlscale.autoscaling.config import DEFAULT_SCALE_DOWN, HPAConfig, ScalingPolicy, ScalingRules
from mlscale.autoscaling.hpa import (
    HPAState,
    NoMetrics,
    Pod,
    ScaleEvent,
    decide,
    normalize,
    record_scale,
    replicas_for_cpu,
    stabilize,
)

NOW = 10_000.0
COOL, HOT = NOW - 180, NOW
T, F = True, False
R, P, X = "Running", "Pending", "Failed"
K8S_TEST_CONFIG = HPAConfig(
    min_replicas=1,
    max_replicas=1000,
    cpu_initialization_period_seconds=120,
    initial_readiness_delay_seconds=10,
)


def pods(
    levels: list[int],
    count: int,
    *,
    ready: list[bool] | None = None,
    phase: list[str] | None = None,
    deleted: list[bool] | None = None,
    start: list[float] | None = None,
    requests: list[int] | None = None,
) -> list[Pod]:
    out = []
    for i in range(count):
        started = (start or [COOL] * count)[i]
        out.append(
            Pod(
                name=f"pod-{i}",
                cpu_request_milli=(requests or [1000] * count)[i],
                phase=(phase or [R] * count)[i],  # type: ignore[arg-type]
                ready=(ready or [T] * count)[i],
                ready_since=started,
                started_at=started,
                deleted=(deleted or [F] * count)[i],
                usage_milli=levels[i] if i < len(levels) else None,
                metric_at=NOW,
                metric_window=60,
            )
        )
    return out


CASES = [
    # (Go test name, current, pods, target %, expected replicas, expected utilization %)
    ("TestReplicaCalcScaleUp", 3, pods([300, 500, 700], 3), 30, 5, 50),
    ("TestReplicaCalcScaleUpUnreadyLessScale", 3, pods([300, 500, 700], 3, ready=[F, T, T]), 30, 4, 60),
    (
        "TestReplicaCalcScaleUpHotCpuLessScale",
        3,
        pods([300, 500, 700], 3, start=[HOT, COOL, COOL]),
        30,
        4,
        60,
    ),
    ("TestReplicaCalcScaleUpUnreadyNoScale", 3, pods([400, 500, 700], 3, ready=[T, F, F]), 30, 3, 40),
    (
        "TestReplicaCalcScaleHotCpuNoScale",
        3,
        pods([400, 500, 700], 3, ready=[T, F, F], start=[COOL, HOT, HOT]),
        30,
        3,
        40,
    ),
    (
        "TestReplicaCalcScaleUpIgnoresFailedPods",
        2,
        pods([500, 700], 4, ready=[T, T, F, F], phase=[R, R, X, X]),
        30,
        4,
        60,
    ),
    (
        "TestReplicaCalcScaleUpIgnoresDeletionPods",
        2,
        pods([500, 700], 4, ready=[T, T, F, F], deleted=[F, F, T, T]),
        30,
        4,
        60,
    ),
    ("TestReplicaCalcScaleDown", 5, pods([100, 300, 500, 250, 250], 5), 50, 3, 28),
    (
        "TestReplicaCalcScaleDownIncludeUnreadyPods",
        5,
        pods([100, 300, 500, 250, 250], 5, ready=[T, T, T, F, F]),
        50,
        2,
        30,
    ),
    (
        "TestReplicaCalcScaleDownExcludeUnscheduledPods",
        5,
        pods([100], 5, ready=[T, F, F, F, F], phase=[R, P, P, P, P]),
        50,
        1,
        10,
    ),
    (
        "TestReplicaCalcScaleDownIgnoreHotCpuPods",
        5,
        pods([100, 300, 500, 250, 250], 5, start=[COOL, COOL, COOL, HOT, HOT]),
        50,
        2,
        30,
    ),
    (
        "TestReplicaCalcScaleDownIgnoresFailedPods",
        5,
        pods([100, 300, 500, 250, 250], 7, ready=[T] * 5 + [F, F], phase=[R] * 5 + [X, X]),
        50,
        3,
        28,
    ),
    (
        "TestReplicaCalcScaleDownIgnoresDeletionPods",
        5,
        pods([100, 300, 500, 250, 250], 7, ready=[T] * 5 + [F, F], deleted=[F] * 5 + [T, T]),
        50,
        3,
        28,
    ),
    ("TestReplicaCalcTolerance", 3, pods([1010, 1030, 1020], 3, requests=[900, 1000, 1100]), 100, 3, 102),
    ("TestReplicaCalcMissingMetrics", 4, pods([400, 95], 4), 100, 3, 24),
    ("TestReplicaCalcMissingMetricsNoChangeEq", 2, pods([1000], 2), 100, 2, 100),
    ("TestReplicaCalcMissingMetricsNoChangeGt", 2, pods([1900], 2), 100, 2, 190),
    ("TestReplicaCalcMissingMetricsNoChangeLt", 2, pods([600], 2), 100, 2, 60),
    ("TestReplicaCalcMissingMetricsUnreadyChange", 3, pods([100, 450], 3, ready=[F, T, T]), 50, 3, 45),
    (
        "TestReplicaCalcMissingMetricsHotCpuNoChange",
        3,
        pods([100, 450], 3, start=[HOT, COOL, COOL]),
        50,
        3,
        45,
    ),
    ("TestReplicaCalcMissingMetricsUnreadyScaleUp", 3, pods([100, 2000], 3, ready=[F, T, T]), 50, 4, 200),
    (
        "TestReplicaCalcMissingMetricsHotCpuScaleUp",
        3,
        pods([100, 2000], 3, ready=[F, T, T], start=[HOT, COOL, COOL]),
        50,
        4,
        200,
    ),
    (
        "TestReplicaCalcMissingMetricsUnreadyScaleDown",
        4,
        pods([100, 100, 100], 4, ready=[F, T, T, T]),
        50,
        3,
        10,
    ),
    ("TestReplicaCalcDuringRollingUpdateWithMaxSurge", 2, pods([100, 100], 3), 50, 2, 10),
]


@pytest.mark.parametrize(
    ("current", "pod_list", "target", "replicas", "utilization"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_replica_calculation_matches_kubernetes(
    current: int, pod_list: list[Pod], target: int, replicas: int, utilization: int
) -> None:
    config = replace(K8S_TEST_CONFIG, target_cpu_utilization=target)
    result = replicas_for_cpu(current, pod_list, NOW, config)
    assert (result.replicas, result.utilization) == (replicas, utilization)


def test_no_metrics_at_all_is_an_error_not_a_scale_TestReplicaCalcEmptyMetrics() -> None:
    with pytest.raises(NoMetrics):
        replicas_for_cpu(4, pods([], 3), NOW, replace(K8S_TEST_CONFIG, target_cpu_utilization=100))
    decision, _ = decide(4, pods([], 3), NOW, HPAState(), replace(K8S_TEST_CONFIG, max_replicas=5))
    assert decision.desired == 4
    assert decision.reason.startswith("FailedGetResourceMetric")


def rules(pods_value: int, pods_period: int, percent: int, percent_period: int, window: int) -> ScalingRules:
    """horizontal_test.go's generateScalingRules."""
    policies = []
    if pods_value:
        policies.append(ScalingPolicy("Pods", pods_value, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies))


def uniform_events(changes: list[int], period: int) -> tuple[ScaleEvent, ...]:
    """generateEventsUniformDistribution: events centred in equal segments of the last ``period`` s."""
    segment = period / len(changes)
    return tuple(
        ScaleEvent(NOW - (period - segment * (i + 1) + segment / 2), change)
        for i, change in enumerate(changes)
    )


SCALING_WITH_RULES = [
    # (name, current, prenormalized, min, max, scale-up rules, scale-down rules, up events,
    #  expected, condition)
    ("prenormalized desired replicas within range", 5, 7, 3, 8, None, None, (), 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", 3, 1, 2, 8, None, None, (), 2, "TooFewReplicas"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", 20, 1000, 1, 10, None, None, (), 10,
     "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", 100, 1000, 100, 150, None, None, (), 150,
     "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", 3, 1000, 1, 2000,
     rules(0, 0, 1, 60, 0), None, (), 4, "ScaleUpLimit"),
    ("scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies",
     1000, 3, 3, 2000, None, rules(20, 60, 0, 0, 0), (), 980, "ScaleDownLimit"),
    ("scaleUp with default behavior", 10, 50, 1, 1000, None, None, (), 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", 10, 500, 1, 1000, rules(100, 60, 100, 60, 0),
     None, (), 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", 10, 500, 1, 1000, rules(2, 60, 100, 60, 0), None,
     (), 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", 10, 50, 1, 1000,
     rules(100, 60, 0, 0, 0), None, (), 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", 10, 50, 1, 1000, rules(30, 60, 0, 0, 0), None, (), 40,
     "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", 10, 50, 1, 1000, rules(0, 0, 200, 60, 0), None, (), 30,
     "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", 100, 2, 1, 1000, None, rules(20, 60, 1, 60, 300),
     (), 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", 100, 2, 1, 1000, None, rules(2, 60, 1, 60, 300),
     (), 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas limitation with large pod policy", 10, 0, 1, 1000, None,
     rules(100, 60, 0, 0, 300), (), 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", 10, 2, 5, 1000, None,
     rules(0, 0, 100, 60, 300), (), 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", 10, 2, 1, 1000, None, rules(5, 60, 0, 0, 300), (), 5,
     "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", 10, 5, 1, 1000, None, rules(0, 0, 50, 60, 300), (), 5,
     "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events", 100, 500, 1, 200,
     rules(300, 60, 0, 0, 0), None, uniform_events([1, 5, 9], 120), 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
     100, 500, 1, 1000, rules(5, 120, 0, 0, 0), None, uniform_events([1, 5, 9], 120), 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", 100, 500, 1, 1000, rules(150, 120, 0, 0, 0),
     None, uniform_events([1, 5, 9], 120), 235, "ScaleUpLimit"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "desired", "low", "high", "up", "down", "events", "expected", "condition"),
    [case[1:] for case in SCALING_WITH_RULES],
    ids=[case[0] for case in SCALING_WITH_RULES],
)
def test_scaling_with_rules_matches_kubernetes(
    current: int,
    desired: int,
    low: int,
    high: int,
    up: ScalingRules | None,
    down: ScalingRules | None,
    events: tuple[ScaleEvent, ...],
    expected: int,
    condition: str,
) -> None:
    config = HPAConfig(min_replicas=low, max_replicas=high)
    if up is not None:
        config = replace(config, scale_up=up)
    if down is not None:
        config = replace(config, scale_down=down)
    result, _ = normalize(current, desired, NOW, HPAState(scale_up_events=events), config)
    assert (result.replicas, result.reason) == (expected, condition)


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


def ready_pods(levels: list[int]) -> list[Pod]:
    return pods(levels, len(levels))


@given(st.lists(usage, min_size=1, max_size=5), st.lists(st.lists(usage, min_size=1, max_size=5), max_size=8))
def test_the_result_is_always_within_min_and_max(first: list[int], later: list[list[int]]) -> None:
    state, current, now = HPAState(), len(first), NOW
    for levels in [first, *later]:
        padded = levels[:current] + [levels[-1]] * (current - len(levels))
        decision, state = decide(current, ready_pods(padded), now, state, ORIGINAL)
        assert ORIGINAL.min_replicas <= decision.desired <= ORIGINAL.max_replicas
        current, now = decision.desired, now + 15


@given(st.integers(min_value=1, max_value=5), st.floats(min_value=0.91, max_value=1.09))
def test_within_tolerance_nothing_changes(current: int, ratio: float) -> None:
    level = int(ratio * 70 * 10)  # milli-CPU of a 1000m request at ratio x the 70 % target
    result = replicas_for_cpu(current, ready_pods([level] * current), NOW, ORIGINAL)
    assert abs(1 - (result.utilization or 0) / 70) > 0.1 or result.replicas == current


@given(st.integers(min_value=1, max_value=5), usage, st.integers(min_value=2, max_value=30))
def test_a_stable_metric_never_flaps(start: int, level: int, syncs: int) -> None:
    """Same per-pod load, sync after sync: the count moves in one direction only, then holds."""
    state, current, now = HPAState(), start, NOW
    seen = [current]
    for _ in range(syncs):
        decision, state = decide(current, ready_pods([level] * current), now, state, ORIGINAL)
        if decision.desired != current:
            state = record_scale(state, current, decision.desired, now, ORIGINAL)
        current, now = decision.desired, now + 15
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


def test_the_first_sync_remembers_the_current_count_before_any_metric() -> None:
    """recordInitialRecommendation: a brand-new HPA's history starts with the current count."""
    config = HPAConfig(scale_up=ScalingRules(3, "Max", (ScalingPolicy("Pods", 4, 15),)))
    hot = [Pod("a", 500, usage_milli=900, metric_at=NOW, ready_since=NOW - 60, started_at=NOW - 600)]
    first, state = decide(2, [], NOW, HPAState(), config)  # no metrics yet: no decision either
    assert first.desired == 2
    assert state.recommendations == ((NOW, 2),)
    held, state = decide(2, hot, NOW + 2, state, config)
    assert (held.recommended, held.desired) == (3, 2)  # 2 s ago the count was 2: within the 3 s window
    moved, _ = decide(2, hot, NOW + 4, state, config)
    assert moved.desired == 3
