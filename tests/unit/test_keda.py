"""KEDA's activation half against kedacore/keda ``pkg/scaling/executor/scale_scaledobjects_test.go``,
each case named after its Go test (the replica count set and the Active condition they assert),
plus the cooldown rule of ``scaleToZeroOrIdle`` the Go file leaves to its code."""

from __future__ import annotations

import pytest

from mlscale.autoscaling.keda import KEDAConfig, KEDAState, is_active, request_scale

NOW = 10_000.0

CASES = [
    # (Go test, current replicas, active, config, replicas set (None: untouched), Active condition true)
    ("TestScaleToMinReplicasWhenNotActive", 10, False, KEDAConfig(min_replica_count=0), 0, False),
    ("TestScaleToMinReplicasFromLowerInitialReplicaCount", 1, False, KEDAConfig(min_replica_count=5), 5, False),
    ("TestScaleFromMinReplicasWhenActive", 0, True, KEDAConfig(min_replica_count=0), 1, True),
    ("TestScaleToIdleReplicasWhenNotActive", 10, False, KEDAConfig(min_replica_count=5, idle_replica_count=0), 0,
     False),
    ("TestScaleFromIdleToMinReplicasWhenActive", 0, True, KEDAConfig(min_replica_count=5, idle_replica_count=0), 5,
     True),
    ("TestScaleToPausedReplicasCount", 2, True, KEDAConfig(paused_replicas=0), 0, False),
    ("TestEventWitTriggerInfo", 2, True, KEDAConfig(min_replica_count=5, idle_replica_count=0), 5, True),
    ("TestNoScaleToMinReplicasWhenNotActiveAndPauseScaleInAnnotationSet", 10, False,
     KEDAConfig(min_replica_count=0, paused_scale_in=True), None, False),
    ("TestNoScaleToIdleReplicasWhenNotActiveAndPauseScaleInAnnotationSet", 10, False,
     KEDAConfig(min_replica_count=5, idle_replica_count=0, paused_scale_in=True), None, False),
    ("TestScaleFromMinReplicasWhenActivationForced", 0, False, KEDAConfig(min_replica_count=0, force_activation=True),
     1, True),
    ("TestNoScaleFromMinReplicasWhenActiveAndPausedScaleOutAnnotationSet", 0, True,
     KEDAConfig(min_replica_count=0, paused_scale_out=True), None, True),
    ("TestNoScaleFromIdleReplicasToMinReplicasWhenActiveAndPausedScaleOutAnnotationSet", 0, True,
     KEDAConfig(min_replica_count=5, idle_replica_count=0, paused_scale_out=True), None, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "active", "config", "replicas", "condition"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_RequestScale(
    current: int, active: bool, config: KEDAConfig, replicas: int | None, condition: bool
) -> None:
    got, state = request_scale(current, active, False, NOW, KEDAState(), config)
    assert (got.replicas, got.active) == (replicas, condition)
    polled = (active or config.force_activation) and config.paused_replicas is None
    assert state.last_active == (NOW if polled else None)


def test_deactivation_waits_for_the_cooldown_period() -> None:
    """scaleToZeroOrIdle: not active, last active 200 s ago, cooldown 300 s: cooling down; at 301 s, 0."""
    config = KEDAConfig(min_replica_count=0, cooldown_period=300)
    state = KEDAState(last_active=NOW - 200)
    cooling, _ = request_scale(3, False, False, NOW, state, config)
    assert (cooling.replicas, cooling.reason) == (None, "ScalerCooldown")
    done, _ = request_scale(3, False, False, NOW + 101, state, config)
    assert (done.replicas, done.reason) == (0, "ScalerNotActive")


def test_a_failing_scaler_holds_the_fallback_replicas() -> None:
    config = KEDAConfig(min_replica_count=0, fallback_replicas=4)
    got, _ = request_scale(1, False, True, NOW, KEDAState(last_active=NOW), config)
    assert got.replicas == 4
    no_fallback, _ = request_scale(1, False, True, NOW, KEDAState(last_active=NOW), KEDAConfig())
    assert no_fallback.reason == "ScalerCooldown"  # without a fallback a failure is just not active


def test_an_active_poll_above_zero_leaves_the_count_to_the_hpa() -> None:
    got, state = request_scale(3, True, False, NOW, KEDAState(), KEDAConfig(min_replica_count=0))
    assert (got.replicas, got.reason, state.last_active) == (None, "ScalerActive", NOW)


@pytest.mark.parametrize(("values", "active"), [([], False), ([0.0], False), ([2.0], False), ([2.5], True),
                                                ([0.0, 3.0], True)])  # fmt: skip
def test_activation_is_strictly_above_the_threshold(values: list[float], active: bool) -> None:
    assert is_active(values, activation_threshold=2.0) is active
