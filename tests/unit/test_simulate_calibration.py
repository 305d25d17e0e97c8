"""The simulator's calibration and scenario: a CPU line fitted through a run's metric samples,
the controller's phases, --set over the values as helm applies it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mlscale.errors import InputError
from mlscale.report.load import Run
from mlscale.results import REPLICA_COLUMNS, REQUEST_COLUMNS, TIMELINE_COLUMNS, frame
from mlscale.simulate.calibration import cpu_fit, overhead_share, phases
from mlscale.simulate.scenario import apply_sets

START = 1_000_000.0


def run_with(samples: list[tuple[int, str, float]], finished: list[tuple[float, str]],
             decisions: Sequence[float] = ()) -> Run:  # fmt: skip
    """``samples``: (second, replica, utilization %) where a replica's sample changes; ``finished``:
    (seconds from the start, replica) of each ok request."""
    replicas = frame([{"second": s, "replica": r, "ready": True, "cpu_utilization": u, "restarts": 0}
                      for s, r, u in samples], REPLICA_COLUMNS)  # fmt: skip
    requests: list[dict[str, Any]] = [
        {"id": str(i), "intended_at": START + at - 0.01, "outcome": "ok", "replica": name, "latency_ms": 10.0}
        for i, (at, name) in enumerate(finished)
    ]
    meta = {"start_at": START, "autoscaler": [{"at": START + at} for at in decisions]}
    return Run(Path("run"), frame(requests, REQUEST_COLUMNS), frame([], TIMELINE_COLUMNS), replicas, meta)


def test_the_cpu_line_goes_through_idle_and_the_cost_per_request() -> None:
    """Samples at 0.1 cores idle plus 20 ms a request: 2/s gives 0.14 cores (28 % of 500m), 10/s
    0.30 (60 %), 20/s 0.50 (100 %); the fit returns 20 ms and 0.1 cores."""
    samples, finished = [], []
    for window, rate in enumerate((2, 10, 20, 2)):
        end = 15 * (window + 1)
        samples.append((end, "replica-1", (0.1 + 0.02 * rate) / 0.5 * 100))
        finished += [(end - 15 + (k + 0.5) / rate, "replica-1") for k in range(15 * rate)]
    fit = cpu_fit(run_with(samples, finished), request_milli=500)
    assert fit is not None
    assert fit["per_request_s"] == pytest.approx(0.020, abs=1e-6)
    assert fit["idle_cores"] == pytest.approx(0.1, abs=1e-6)


def test_too_few_samples_give_no_fit() -> None:
    assert cpu_fit(run_with([(15, "replica-1", 50.0)], [(1.0, "replica-1")]), request_milli=500) is None


def test_phases_are_the_first_sync_and_a_sample_modulo_the_period() -> None:
    samples = [(6, "replica-1", 20.0), (21, "replica-1", 30.0), (36, "replica-1", 40.0)]
    tick, sample = phases(run_with(samples, [], decisions=[-1.0, 13.5, 28.5]))
    assert (tick, sample) == (13.5, 6.0)


def test_set_writes_into_a_copy_as_helm_does() -> None:
    values = {"autoscaling": {"maxReplicas": 5, "behavior": {"scaleUp": {"stabilizationWindowSeconds": 30}}}}
    changed = apply_sets(values, ["autoscaling.maxReplicas=1000",
                                  "autoscaling.behavior.scaleUp.stabilizationWindowSeconds=0",
                                  "autoscaling.policy=kpa", "new.branch.flag=true"])  # fmt: skip
    assert changed["autoscaling"]["maxReplicas"] == 1000
    assert changed["autoscaling"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert changed["autoscaling"]["policy"] == "kpa"
    assert changed["new"] == {"branch": {"flag": True}}
    assert values["autoscaling"]["maxReplicas"] == 5  # the input is left alone
    for bad in ("autoscaling.maxReplicas", "=3", "a..b=1"):
        with pytest.raises(InputError, match=re.escape("a.b.c=value")):
            apply_sets(values, [bad])


def test_the_overhead_is_the_share_of_a_light_forward_beyond_the_cpu_cost() -> None:
    """Forwards of 20 ms at light load and 15 ms of CPU each: a quarter of each does not hold the
    replica. With a CPU cost at or above the forwards' mean there is none."""
    assert overhead_share([0.010, 0.030] * 50, 0.015) == pytest.approx(0.25)
    assert overhead_share([0.020] * 100, 0.030) == 0.0
    assert overhead_share([0.020] * 100, 0.0) == 0.0
