"""The oracle: the cheapest ready schedule that meets the SLO in the fluid queue, provisioned a
start-up ahead; checked against brute force on small workloads and against the per-request
simulator on the spike."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from mlscale.autoscaling.oracle import (
    OracleConfig,
    oracle_replicas,
    plan_replicas,
    provisioned,
    ready_schedule,
    second_latency,
)

# This machine's litert replica: 88 requests/s flat out two at a time, 14 ms alone, ready in 2 s.
HERE = OracleConfig(capacity_rps=88, service_seconds=0.014, startup_seconds=2, slo_seconds=0.5,
                    min_replicas=1, max_replicas=5)  # fmt: skip


def broken_seconds(counts: list[float], ready: list[int], config: OracleConfig) -> int:
    """Seconds whose arrivals break the SLO when ``ready`` replicas serve ``counts`` (the fluid queue)."""
    backlog, broken = 0.0, 0
    padded = [*counts, *[0.0] * (len(ready) - len(counts))]  # the schedule runs on to drain
    for arrivals, replicas in zip(padded, ready, strict=True):
        broken += second_latency(backlog, arrivals, replicas, config) > config.slo_seconds
        broken += replicas == 0 and backlog > 0  # requests left waiting with no replica
        backlog = max(0.0, backlog + arrivals - replicas * config.capacity_rps)
    return broken + (backlog > 0)  # never served


def test_a_second_within_capacity_waits_for_nothing() -> None:
    assert second_latency(0, 80, 1, HERE) == HERE.service_seconds
    assert second_latency(0, 0, 0, HERE) == 0  # nothing arrives: nothing to break


def test_a_second_over_capacity_waits_behind_what_came_before_it() -> None:
    # 176 in a second at 88/s: the arrival 95 % in waits (0.95 x 176) / 88 - 0.95 = 0.95 s.
    assert math.isclose(second_latency(0, 176, 1, HERE), 0.95 + HERE.service_seconds)
    # 44 waiting ahead at 88/s: half a second for the first, less for later arrivals of 44/s.
    assert math.isclose(second_latency(44, 44, 1, HERE), 0.5 - 0.05 * 0.5 + HERE.service_seconds)


def test_no_replica_with_arrivals_breaks_it() -> None:
    assert second_latency(0, 1, 0, HERE) == math.inf


def test_within_one_replica_it_asks_for_one() -> None:
    assert ready_schedule([80.0] * 10, HERE) == [1] * 12  # and two seconds after, to drain


def test_over_one_replica_it_asks_for_two_only_when_a_backlog_would_break_the_slo() -> None:
    # 100/s against 88/s: 12 a second pile up; the 95th percentile arrival waits backlog / 88 s,
    # past 0.5 s in the fourth second, so one replica holds three seconds, then two come.
    ready = ready_schedule([100.0] * 10, HERE)
    assert ready[:3] == [1, 1, 1]
    assert broken_seconds([100.0] * 10, ready, HERE) == 0
    assert sum(ready) < 20


def test_it_never_asks_for_more_than_clears_every_second() -> None:
    counts = [30.0] * 15 + [115.0] * 120 + [30.0] * 15  # the spike at 1.3 flat-out replicas
    ready = ready_schedule(counts, HERE)
    assert broken_seconds(counts, ready, HERE) == 0
    assert sum(ready[:150]) <= sum(max(1, math.ceil(c / HERE.capacity_rps)) for c in counts)
    assert max(ready) == 2


def test_idle_seconds_go_to_the_minimum_and_zero_when_allowed() -> None:
    idle = OracleConfig(88, 0.014, 2, 0.5, min_replicas=0, max_replicas=5)
    counts = [0.0] * 10 + [150.0] * 5 + [0.0] * 10
    ready = ready_schedule(counts, idle)
    assert ready[:10] == [0] * 10
    assert ready[-8:] == [0] * 8
    assert broken_seconds(counts, ready, idle) == 0


def test_beyond_the_maximum_the_fewest_seconds_are_broken() -> None:
    config = OracleConfig(88, 0.014, 2, 0.5, min_replicas=1, max_replicas=2)
    counts = [300.0] * 5 + [10.0] * 20
    ready = ready_schedule(counts, config)
    assert broken_seconds(counts, ready, config) <= broken_seconds(counts, [2] * 25, config)
    assert broken_seconds(counts, ready, config) > 0
    assert ready[-1] == 1  # and back down once the backlog is served


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 40.0, 100.0, 190.0]), min_size=1, max_size=5))
def test_no_schedule_is_cheaper_at_as_few_broken_seconds(counts: list[float]) -> None:
    """Brute force over every schedule of up to five seconds (and two to drain) and three replicas."""
    config = OracleConfig(88, 0.014, 0, 0.5, min_replicas=0, max_replicas=3)
    ready = ready_schedule(counts, config)
    best = min(
        (broken_seconds(counts, list(s), config), sum(s))
        for s in itertools.product(range(4), repeat=len(ready))
    )
    assert (broken_seconds(counts, ready, config), sum(ready)) <= best


def test_a_replica_is_asked_for_a_start_up_and_lead_ahead_and_released_after() -> None:
    assert provisioned([1, 1, 1, 3, 3, 1, 1], 2) == [1, 3, 3, 3, 3, 1, 1]
    assert provisioned([1, 3, 1, 1, 3, 1], 2.5) == [3, 3, 3, 3, 3, 1]  # a dip shorter than a start-up


def test_the_plan_is_played_second_by_second_then_the_minimum() -> None:
    counts = [30.0] * 15 + [250.0] * 30 + [30.0] * 15
    schedule = plan_replicas(counts, HERE)
    ready = ready_schedule(counts, HERE)
    assert ready[14:17] == [1, 2, 3]  # at the step (15 s) one second of backlog stands in for a replica
    assert schedule[12:15] == [1, 2, 3]  # each asked for a start-up (2 s) before it must be ready
    assert schedule[15:45] == [3] * 30  # a dip of one second in the ready schedule is not worth a restart
    assert oracle_replicas(schedule, 20.5, HERE) == schedule[20]
    assert oracle_replicas(schedule, 500, HERE) == HERE.min_replicas
    assert oracle_replicas(schedule, -1, HERE) == schedule[0]  # a start-up before the plan starts


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=60),
       st.floats(min_value=0, max_value=10))  # fmt: skip
def test_every_second_has_ready_what_the_schedule_needs(counts: list[float], startup: float) -> None:
    config = OracleConfig(88, 0.014, startup, 0.5, min_replicas=1, max_replicas=8)
    ready = ready_schedule(counts, config)
    asked = plan_replicas(counts, config)
    ahead = math.ceil(round(startup, 9))  # as provisioned rounds: 1e-61 s is no second
    for second, needed in enumerate(ready):
        # asked for at every second from a start-up before it: ready by then
        assert all(asked[s] >= needed for s in range(max(0, second - ahead), second + 1))
    assert all(config.min_replicas <= n <= config.max_replicas for n in asked)
