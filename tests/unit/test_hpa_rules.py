"""Issue 16's rules, each as current Kubernetes has it (pkg/controller/podautoscaler): the path
without ``behavior``, the per-direction tolerance, and the reasons. Tests named after Go tests port
that test's cases (TestZeroReplicas is in test_horizontal.py); the others say which rule they pin."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlscale.autoscaling.behavior import (
    HPAState,
    convert_with_rules,
    record_scale,
    stabilize,
    stabilize_downscale,
)
from mlscale.autoscaling.config import HPAConfig, parse_hpa_config
from mlscale.autoscaling.hpa import Decision, decide
from mlscale.autoscaling.metrics import Observed, pod_usage
from mlscale.autoscaling.replicas import Pod, cpu_pod
from mlscale.errors import ConfigError

MINUTE = 60.0
NOW = 10_000.0


def pods_at(utilizations: list[int], request: int = 1000) -> tuple[list[Pod], Observed]:
    """Ready pods, long started, using ``utilization`` % of ``request`` millicores each."""
    pods = [cpu_pod(f"pod-{i}", request) for i in range(len(utilizations))]
    usage = {p.name: pod_usage(u * request // 100, NOW, 15) for p, u in zip(pods, utilizations, strict=True)}
    return pods, Observed(usage)


def sync(current: int, utilizations: list[int], config: HPAConfig, state: HPAState | None = None,
         now: float = NOW) -> tuple[Decision, HPAState]:  # fmt: skip
    pods, observed = pods_at(utilizations)
    return decide(current, pods, observed, now, state or HPAState(initialized=True), config)


def recommend(current: int, utilizations: list[int], config: HPAConfig) -> int:
    """The metric's proposal alone (GetResourceReplicas), before windows and limits."""
    return sync(current, utilizations, config)[0].recommended


def without_behavior(**changes: object) -> HPAConfig:
    section = {"minReplicas": 1, "maxReplicas": 10, "targetCPUUtilizationPercentage": 50, **changes}
    return parse_hpa_config(section)


# ---- horizontal_test.go -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "desired", "least", "most", "expected", "condition"),
    [
        (5, 7, 3, 8, 7, "DesiredWithinRange"),  # prenormalized desired replicas within range
        (3, 1, 2, 8, 2, "TooFewReplicas"),  # prenormalized desired replicas < minReplicas
        (1, 0, 0, 10, 0, "DesiredWithinRange"),  # prenormalized desired zeroed replicas within range
        (20, 1000, 1, 10, 10, "TooManyReplicas"),  # maxReplicas < scaleUpLimit
        (
            3,
            1000,
            1,
            2000,
            24,
            "ScaleUpLimit",
        ),  # scaleUpLimit (calculateScaleUpLimit(3) = 8 x 3) < maxReplicas
    ],
)
def test_ConvertDesiredReplicasWithRules(
    current: int, desired: int, least: int, most: int, expected: int, condition: str
) -> None:
    """All 5 cases, with the Go tests' scaleUpLimitFactor of 8 (mlscale's default is Kubernetes' 2)."""
    assert convert_with_rules(current, desired, least, most, factor=8) == (expected, condition)
    if condition == "ScaleUpLimit":
        assert convert_with_rules(current, desired, least, most) == (6, condition)  # max(2 x 3, 4)


@pytest.mark.parametrize(
    ("log", "desired", "stabilized", "log_length"),
    [
        ([], 5, 5, 1),  # empty log
        ([(4, -2), (5, -1)], 3, 5, 3),  # stabilize
        ([(1, -2), (2, -1)], 3, 3, 3),  # no stabilize
        ([(10, -10), (9, -9)], 3, 3, 2),  # no stabilize - old recommendations
        ([(10, -10), (4, -1), (5, -2), (9, -9)], 3, 5, 4),  # stabilize - old recommendations
    ],
)
def test_NormalizeDesiredReplicas(
    log: list[tuple[int, int]], desired: int, stabilized: int, log_length: int
) -> None:
    """All 5 cases: the downscale window (5 minutes) of the path without behavior."""
    state = HPAState(recommendations=tuple((NOW + minutes * MINUTE, count) for count, minutes in log))
    got, after = stabilize_downscale(desired, NOW, state, without_behavior())
    assert (got, len(after.recommendations)) == (stabilized, log_length)


# ---- the path without behavior, end to end ------------------------------------------------------


def test_without_behavior_the_first_scale_up_is_capped_at_4() -> None:
    """One replica at 400 % of a 50 % target wants 8: the old path allows max(2 x 1, 4) = 4."""
    config = without_behavior()
    assert not config.behavior
    decision, state = sync(1, [400], config, HPAState())
    assert (decision.recommended, decision.desired, decision.reason) == (8, 4, "ScaleUpLimit")
    assert record_scale(state, 1, 4, NOW, config) == state  # no scale events without behavior
    empty = parse_hpa_config({"maxReplicas": 10, "targetCPUUtilizationPercentage": 50, "behavior": {}})
    assert empty.behavior is False  # an empty behavior renders no behavior in the chart
    defaults = parse_hpa_config({"maxReplicas": 10, "targetCPUUtilizationPercentage": 50,
                                 "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0}}})  # fmt: skip
    # With behavior, Kubernetes' default policies allow max(1 x 200 %, 1 + 4 pods) = 5 at once.
    assert sync(1, [400], defaults, HPAState())[0].desired == 5


def test_without_behavior_scale_down_waits_for_the_downscale_window() -> None:
    config = without_behavior(downscaleStabilizationSeconds=300)
    state = HPAState(recommendations=((NOW - 120, 6),))
    decision, _ = sync(6, [10] * 6, config, state)
    assert (decision.recommended, decision.desired, decision.reason) == (2, 6, "ScaleDownStabilized")
    later, _ = sync(6, [10] * 6, config, state, now=NOW + 200)
    assert later.desired == 2


# ---- tolerance (replica_calculator.go Tolerances.isWithin) ----------------------------------------


def test_a_ratio_of_exactly_1_1_is_within_a_tolerance_of_0_1() -> None:
    """10 pods at 33 % for a 30 % target: 33/30 == 1 + 0.1 in floating point, so the count stays.
    abs(1 - 33/30) is 0.10000000000000009 > 0.1: the old test scaled to 11."""
    config = HPAConfig(target_cpu_utilization=30, max_replicas=20)
    decision, _ = sync(10, [33] * 10, config)
    assert (decision.recommended, decision.desired, decision.reason) == (10, 10, "ReadyForNewScale")
    legacy = replace(config, one_window_stabilization=True)  # 1.20 tested abs(1 - ratio)
    assert recommend(10, [33] * 10, legacy) == 11


def test_tolerance_per_direction() -> None:
    config = parse_hpa_config(
        {
            "targetCPUUtilizationPercentage": 50,
            "maxReplicas": 20,
            "behavior": {"scaleUp": {"tolerance": 0.0}, "scaleDown": {"tolerance": 0.5}},
        }
    )
    assert (config.up_tolerance, config.down_tolerance) == (0.0, 0.5)
    assert recommend(10, [52] * 10, config) == 11  # 1.04 > 1 + 0
    assert recommend(10, [30] * 10, config) == 10  # 0.6 >= 1 - 0.5
    assert recommend(10, [20] * 10, config) == 4  # 0.4 < 0.5


@pytest.mark.parametrize("tolerance", [-0.1, 1.0, "0.1", True])
def test_a_bad_tolerance_is_refused(tolerance: object) -> None:
    with pytest.raises(ConfigError, match="tolerance must be a ratio in"):
        parse_hpa_config({"behavior": {"scaleDown": {"tolerance": tolerance}}})


# ---- reasons ------------------------------------------------------------------------------------


def test_a_held_back_scale_up_is_ScaleUpStabilized() -> None:
    """Seen in a real run: current 1, 139 %, recommended 2, held at 1 by the scale-up window. The
    reason names the recommendation's direction (stabilizeRecommendationWithBehaviors)."""
    config = parse_hpa_config({"behavior": {"scaleUp": {"stabilizationWindowSeconds": 30}}})
    state = HPAState(recommendations=((NOW - 10, 1),))
    replicas, reason, _ = stabilize(1, 2, NOW, state, config)
    assert (replicas, reason) == (1, "ScaleUpStabilized")
    replicas, reason, _ = stabilize(3, 1, NOW, HPAState(recommendations=((NOW - 10, 3),)), config)
    assert (replicas, reason) == (3, "ScaleDownStabilized")
