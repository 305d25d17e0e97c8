"""The local backend's probe and restart rules, against what the kubelet does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mlscale.backends.local.health import (
    ProbeSpec,
    ProbeState,
    after_liveness_probe,
    after_readiness_probe,
    after_startup_probe,
    load_probes,
    restart_delay,
)
from mlscale.locations import values_file

READINESS = ProbeSpec("/readyz", period_s=5, failure_threshold=2, success_threshold=1)
LIVENESS = ProbeSpec("/healthz", period_s=10, failure_threshold=3)
STARTUP = ProbeSpec("/healthz", period_s=5, failure_threshold=3)


def test_the_probes_come_from_the_charts_values() -> None:
    replica = load_probes(values_file(), "inference")
    dispatcher = load_probes(values_file(), "dispatcher")
    assert replica.readiness.path == "/readyz"
    assert replica.liveness.path == dispatcher.liveness.path == "/healthz"
    assert replica.startup.period_s * replica.startup.failure_threshold == 180  # TensorFlow's load
    assert replica.readiness.failure_threshold >= 1


def test_readiness_needs_success_threshold_successes_in_a_row() -> None:
    spec = replace(READINESS, success_threshold=2)
    state = after_readiness_probe(spec, ProbeState(started=True), True)
    assert not state.ready
    state = after_readiness_probe(spec, state, False)
    state = after_readiness_probe(spec, state, True)
    assert not state.ready  # the failure reset the count
    assert after_readiness_probe(spec, state, True).ready


def test_a_ready_process_leaves_after_failure_threshold_failures_in_a_row() -> None:
    state = ProbeState(started=True, ready=True)
    state = after_readiness_probe(READINESS, state, False)
    assert state.ready  # one failure is not enough (threshold 2)
    state = after_readiness_probe(READINESS, state, True)
    state = after_readiness_probe(READINESS, state, False)
    assert state.ready  # the success in between reset it
    assert not after_readiness_probe(READINESS, state, False).ready


def test_liveness_restarts_after_failure_threshold_failures_in_a_row() -> None:
    state = ProbeState(started=True, ready=True)
    for _ in range(2):
        verdict = after_liveness_probe(LIVENESS, state, False)
        assert verdict.restart is None
        state = verdict.state
    assert (
        after_liveness_probe(LIVENESS, after_liveness_probe(LIVENESS, state, True).state, False).restart
        is None
    )
    assert after_liveness_probe(LIVENESS, state, False).restart == "liveness probe failed 3 times"


def test_startup_probe_passes_once_and_restarts_after_its_threshold() -> None:
    verdict = after_startup_probe(STARTUP, ProbeState(), True)
    assert verdict.state.started
    assert verdict.restart is None
    state = ProbeState()
    for _ in range(2):
        state = after_startup_probe(STARTUP, state, False).state
    assert not state.started
    assert after_startup_probe(STARTUP, state, False).restart == "startup probe failed 3 times"


@pytest.mark.parametrize(
    ("restarts", "ran_for", "delay"),
    [(0, 1.0, 0.0), (1, 1.0, 10.0), (2, 1.0, 20.0), (3, 1.0, 40.0), (9, 1.0, 300.0), (5, 600.0, 0.0)],
)
def test_crash_back_off_doubles_to_five_minutes_and_resets_after_ten(
    restarts: int, ran_for: float, delay: float
) -> None:
    assert restart_delay(restarts, ran_for) == delay


def test_probes_come_from_the_chart_under_a_values_file_of_only_autoscaling(tmp_path: Path) -> None:
    """`compare` brings each run up with such a file; the supervisor once stopped on a KeyError."""
    partial = tmp_path / "values.yaml"
    partial.write_text("autoscaling:\n  oracle:\n    sloMilliseconds: 250\n")
    assert load_probes(partial, "inference") == load_probes(values_file(), "inference")
    assert load_probes(partial, "dispatcher") == load_probes(values_file(), "dispatcher")
