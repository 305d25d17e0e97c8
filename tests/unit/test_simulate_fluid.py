"""The aggregated model against hand-computed cases (the queue as a fluid, its bound, the FIFO
wait, the metric window) and against the per-request model where both run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.policies.cpu import CPUPolicy
from mlscale.simulate.calibration import Calibration
from mlscale.simulate.engine import DispatcherModel, ReplicaProfile, Simulation
from mlscale.simulate.fluid import FluidSimulation
from mlscale.simulate.latency import LatencyTable, pooled_quantiles
from mlscale.simulate.runner import Model, run
from mlscale.simulate.scenario import build
from mlscale.simulate.summary import request_overall, request_seconds, summarize
from mlscale.workload import Workload, load_workload, schedule
from tests.unit.test_simulate_engine import Fixed

CALIBRATION = Path(__file__).parents[2] / "bench" / "data" / "calibration-litert-demo.json"


def constant(service_s: float = 0.1, cpu_s: float = 0.05, startup_s: float = 2.0) -> ReplicaProfile:
    return ReplicaProfile((service_s,), cpu_s, startup_s, request_milli=500)


def test_an_overload_queues_what_the_replica_cannot_serve() -> None:
    """20 requests/s at one replica serving 10/s for 10 s: 100 served, 2 at the replica (its two
    forwarders), 98 queued; then the queue drains at 10/s and nothing is lost."""
    result = FluidSimulation([20.0] * 10, constant(), Fixed(), drain_seconds=30).run()
    seconds = result.seconds
    assert seconds["queue_depth"].iloc[9] == pytest.approx(98.0)
    assert seconds["arrived"].sum() == pytest.approx(200.0)
    assert seconds["ok"].sum() == pytest.approx(200.0)
    assert seconds["rejected"].sum() == 0


def test_the_queue_bound_rejects_what_is_beyond_it() -> None:
    """The same overload with room for 50: the queue holds 50 and the other 48 are refused."""
    dispatcher = DispatcherModel(max_queue=50)
    result = FluidSimulation([20.0] * 10, constant(), Fixed(), dispatcher=dispatcher, drain_seconds=30).run()
    assert result.seconds["queue_depth"].iloc[9] == pytest.approx(50.0)
    assert result.seconds["rejected"].sum() == pytest.approx(48.0)
    assert result.seconds["ok"].sum() == pytest.approx(152.0)


def test_fifo_wait_is_the_queue_ahead_over_the_service_rate() -> None:
    """In that overload the forward curve is 10 t + 2 (served, plus two at the replica). Second
    9's median arrival is the 190th, at 9.5 s: it leaves the queue when the curve reaches 190, at
    18.8 s, and at a busy replica waits for the one in service and then its own (0.2 s)."""
    result = FluidSimulation([20.0] * 10, constant(), Fixed(), drain_seconds=30).run()
    p50 = result.seconds["latency_p50_ms"].iloc[9] / 1000
    assert p50 == pytest.approx(18.8 + 0.2 - 9.5, abs=0.05)


def test_the_metric_window_is_idle_plus_cpu_per_request_times_what_was_served() -> None:
    """5 requests/s for 30 s, 50 ms CPU each, 0.01 cores idle: every sample 0.26 cores = 260m."""
    profile = ReplicaProfile((0.1,), 0.05, 2.0, request_milli=500, idle_cores=0.01)
    result = FluidSimulation([5.0] * 30, profile, Fixed(), sample_phase=15.0, tick_phase=1.0).run()
    assert [milli for _, _, milli in result.samples] == [260, 260]


def test_pooled_quantiles_of_two_equal_halves() -> None:
    """Half the weight at 1..100 ms, half at 101..200: the mixture's median is 100 ms."""
    grid = np.arange(1, 101, dtype=float)
    points = np.vstack([grid, grid + 100])
    p50, p95, _ = pooled_quantiles(points, np.array([1.0, 1.0]))
    assert p50 == pytest.approx(100, abs=1)
    assert p95 == pytest.approx(190, abs=1)


def test_the_two_models_agree_where_both_run() -> None:
    """Service times spread 10-40 ms, the CPU HPA, a load that overloads one replica (1.5 times
    what it serves) until the HPA adds two, then light: the same replica count each second and
    p95 within 10 %. The fluid's latency at a load level comes from the per-request model, so
    this checks the queue, the windows and the policy's inputs."""
    service = tuple(0.010 + 0.030 * i / 99 for i in range(100))
    profile = ReplicaProfile(service, 0.02, 3.0, request_milli=500)
    rates = [10.0] * 60 + [60.0] * 120 + [10.0] * 120
    config = HPAConfig(max_replicas=5, sync_period_seconds=15.0)
    arrivals = schedule(Workload("w", tuple(rates)), seed=1)
    per_request = Simulation(
        rates, arrivals, profile, CPUPolicy(config), tick_phase=3.0, sample_phase=7.0
    ).run()
    fluid = FluidSimulation(
        rates,
        profile,
        CPUPolicy(config),
        tick_phase=3.0,
        sample_phase=7.0,
        latency=LatencyTable.measure(profile, DispatcherModel(), poisson=False),
    ).run()
    ours, theirs = request_seconds(per_request), fluid.seconds
    assert len(set(ours["provisioned"])) > 1  # the load moved the policy
    assert (ours["provisioned"].to_numpy() == theirs["provisioned"].to_numpy()).mean() >= 0.95
    exact = summarize(ours, 1000, request_overall(per_request))
    aggregated = summarize(theirs, 1000, fluid.overall)
    assert aggregated.replica_seconds == pytest.approx(exact.replica_seconds, rel=0.03)
    assert aggregated.latency_p95_ms == pytest.approx(exact.latency_p95_ms, rel=0.10)
    assert aggregated.ok == pytest.approx(exact.ok)


@pytest.mark.parametrize("policy", ["cpu", "queue", "kpa", "oracle"])
def test_every_policy_decides_alike_in_both_models(policy: str) -> None:
    """The spike from the shipped litert calibration: the queue policy goes to zero, starts cold
    and jumps to 5; the others hold or scale on CPU. Both models: replica-seconds within 5 % and
    SLO-broken seconds within 3 of each other. The queue and the KPA read the dispatcher's load,
    so this checks the fluid's queue and its in-flight by Little's law against counted requests."""
    saved = json.loads(CALIBRATION.read_text())
    calibration = Calibration.from_dict(saved)
    spike = load_workload(Path(__file__).parents[2] / "workloads" / "spike.txt")
    chosen = build(spike, calibration, calibrated=saved, policy=policy)
    exact = run(chosen, Model.REQUESTS).summary
    aggregated = run(chosen, Model.FLUID).summary
    assert aggregated.replica_seconds == pytest.approx(exact.replica_seconds, rel=0.05)
    assert abs(aggregated.slo_violation_seconds - exact.slo_violation_seconds) <= 3
