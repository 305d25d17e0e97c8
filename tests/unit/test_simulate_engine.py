"""The simulator's parts against hand-computed cases: the dispatcher's queue and its bound, the
two-choice routing, a replica's one-at-a-time service, the metric window, and a real policy
deciding inside the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.policies import Snapshot, Step
from mlscale.autoscaling.policies.cpu import CPUPolicy
from mlscale.simulate.engine import DispatcherModel, Outcome, ReplicaProfile, Simulation
from mlscale.simulate.latency import Hold
from mlscale.workload import Workload, schedule

Fixed = Hold
"""A policy that keeps the count: the model's parts alone."""


def profile(service_s: float = 0.1, cpu_s: float = 0.05, startup_s: float = 2.0) -> ReplicaProfile:
    return ReplicaProfile((service_s,), cpu_s, startup_s, request_milli=500)


def test_one_replica_serves_in_arrival_order_one_at_a_time() -> None:
    """Five at t=0, 0.1 s each, two forwarders: one in service, one waiting at the replica, three
    in the dispatcher's queue; they finish at 0.1, 0.2, ... 0.5."""
    result = Simulation([5], [0.0] * 5, profile(), Fixed()).run()
    assert result.started == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert result.done == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert result.outcome == [Outcome.OK] * 5
    assert result.seconds[0]["queue_depth"] == 0


def test_the_queue_bound_rejects_at_arrival() -> None:
    """One forwarder (one replica, one per upstream) and room for two in the queue: of five at
    once, one is sent, two wait, two are refused, as /enqueue's 429."""
    dispatcher = DispatcherModel(max_queue=2, per_upstream=1)
    result = Simulation([5], [0.0] * 5, profile(), Fixed(), dispatcher=dispatcher).run()
    assert result.outcome == [Outcome.OK] * 3 + [Outcome.REJECTED] * 2
    assert result.done[:3] == pytest.approx([0.1, 0.2, 0.3])


def test_two_choices_send_the_second_request_to_the_idle_replica() -> None:
    for seed in range(5):
        sim = Simulation([2], [0.0, 0.0], profile(), Fixed(), initial_replicas=2, seed=seed,
                         dispatcher=DispatcherModel(per_upstream=1))  # fmt: skip
        result = sim.run()
        assert sorted(result.replica) == ["replica-1", "replica-2"]
        assert result.done == pytest.approx([0.1, 0.1])


def test_a_sample_is_the_cpu_of_the_window_just_ended() -> None:
    """10 requests/s at 50 ms of CPU each on a 500m request: 0.5 cores, 500 millicores, in every
    15 s window."""
    workload = Workload("flat", (10.0,) * 30)
    result = Simulation(workload.rates, schedule(workload), profile(service_s=0.01), Fixed(),
                        sample_phase=0.0).run()  # fmt: skip
    by_time = dict(result.samples)
    assert by_time[15.0] == {"replica-1": 500}
    assert by_time[30.0] == {"replica-1": 500}
    assert by_time[0.0] == {"replica-1": 0}


def test_the_policy_ticks_and_samples_fall_at_their_phases() -> None:
    """A controller's clock is not the load's: the first sample and tick come at their phases."""
    workload = Workload("flat", (10.0,) * 40)
    result = Simulation(workload.rates, schedule(workload), profile(service_s=0.01), CPUPolicy(HPAConfig()),
                        sample_phase=6.0, tick_phase=14.0).run()  # fmt: skip
    assert [at for at, _ in result.samples][:3] == [6.0, 21.0, 36.0]
    assert [d["at"] for d in result.decisions][:2] == [14.0, 29.0]


def test_the_hpa_decides_inside_the_model_and_its_replica_is_ready_after_startup() -> None:
    """100 % of the request against a 70 % target: the HPA's first sync after the 15 s sample asks
    for ceil(1 x 100 / 70) = 2, and the new replica takes work once ``startup_s`` has passed."""
    workload = Workload("flat", (10.0,) * 40)
    config = HPAConfig()
    result = Simulation(workload.rates, schedule(workload), profile(service_s=0.01, startup_s=3.0),
                        CPUPolicy(config), sample_phase=0.0, tick_phase=15.0).run()  # fmt: skip
    first: dict[str, Any] = next(d for d in result.decisions if d["desired"] != d["current"])
    assert (first["at"], first["current"], first["desired"]) == (15.0, 1, 2)
    second = result.replicas[1]
    assert (second.asked_at, second.ready_at) == (15.0, 18.0)
    served = [result.arrival[i] for i, name in enumerate(result.replica) if name == "replica-2"]
    assert served, "the new replica never served"
    assert min(served) >= 18.0


def test_the_forward_overhead_overlaps_the_next_service_but_holds_its_forwarder() -> None:
    """Forwards of 0.15 s, a third of them overhead: 0.1 s at the replica, then 0.05 s. With two
    forwarders the second request starts as the first leaves the replica (done 0.15, 0.25); with
    one it waits for the first to complete (started 0.15, done 0.30)."""
    slow = ReplicaProfile((0.15,), 0.05, 2.0, request_milli=500, overhead_share=1 / 3)
    two = Simulation([2], [0.0, 0.0], slow, Fixed()).run()
    assert two.started == pytest.approx([0.0, 0.1])
    assert two.done == pytest.approx([0.15, 0.25])
    one = Simulation([2], [0.0, 0.0], slow, Fixed(), dispatcher=DispatcherModel(per_upstream=1)).run()
    assert one.started == pytest.approx([0.0, 0.15])
    assert one.done == pytest.approx([0.15, 0.30])


@dataclass
class Recording:
    """Keeps the count and records the load it is given at each tick."""

    loads: list[float] = field(default_factory=list)
    name: str = "recording"
    tick_seconds: float = 1.0
    reads_load: bool = True

    def start(self, now: float) -> None:
        return None

    def step(self, snapshot: Snapshot, state: None) -> tuple[Step, None]:
        self.loads.append(snapshot.load or 0.0)
        return Step(snapshot.current, None), None

    def scaled(self, state: None, before: int, after: int, now: float) -> None:
        return None


def test_the_policies_read_the_mean_in_flight_since_their_last_read() -> None:
    """Two requests a second (at .25 and .75), 0.1 s each: a forwarder is busy a fifth of the time.
    The first read, at 0.5 s, is the count then (0); each later one is the mean since the last, 0.2,
    as the local backend reads the dispatcher's busy-seconds counter."""
    policy = Recording()
    Simulation([2] * 5, schedule(Workload("w", (2,) * 5)), profile(), policy, tick_phase=0.5).run()
    assert policy.loads[0] == 0
    assert policy.loads[1:5] == pytest.approx([0.2] * 4)
