"""The oracle's replicas: each second's need from the calibrated cost, asked for a start-up ahead."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlscale.autoscaling.oracle import OracleConfig, needed, oracle_replicas

# The demo's calibration: 18.8 ms per image on a 500m request at 70 %: 18.6 requests/s a replica.
DEMO = OracleConfig(cpu_ms_per_request=18.8, request_milli=500, target_utilization=70, startup_seconds=6,
                    min_replicas=1, max_replicas=5)  # fmt: skip


def test_each_second_needs_the_cpu_it_asks_over_what_one_replica_gives_at_the_target() -> None:
    assert needed(0, DEMO) == 0
    assert needed(18.6, DEMO) == 1  # 349.7 of 350 millicores
    assert needed(18.7, DEMO) == 2  # 351.6: just over one replica
    assert needed(46.7, DEMO) == 3  # the demo's peak: 2.5 replicas' worth


def test_float_noise_does_not_ask_for_a_replica_more() -> None:
    config = OracleConfig(cpu_ms_per_request=0.1, request_milli=100, target_utilization=30, startup_seconds=0)
    assert needed(600, config) == 2  # 600 x 0.1 / 30 is 2.0000000000000004 in floating point


def test_a_step_is_provisioned_a_start_up_before_it_arrives() -> None:
    rates = [7.5] * 60 + [46.7] * 120 + [2.8] * 60  # the demo's shape
    assert oracle_replicas(rates, 50, DEMO) == 1
    assert oracle_replicas(rates, 54, DEMO) == 3  # 54 + 6 = 60: the step's first second
    assert oracle_replicas(rates, 100, DEMO) == 3
    assert oracle_replicas(rates, 175, DEMO) == 3  # the peak still ends within the look-ahead
    assert oracle_replicas(rates, 180, DEMO) == 1  # after it: down at once, to the minimum
    assert oracle_replicas(rates, 500, DEMO) == 1  # past the workload's end


def test_the_bounds_hold() -> None:
    assert oracle_replicas([1000.0] * 10, 0, DEMO) == DEMO.max_replicas
    assert oracle_replicas([0.0] * 10, 0, DEMO) == DEMO.min_replicas


@given(st.lists(st.floats(min_value=0, max_value=500), min_size=1, max_size=120),
       st.floats(min_value=0, max_value=130), st.floats(min_value=0, max_value=30))  # fmt: skip
def test_ready_in_time_for_every_second_it_looks_at(
    rates: list[float], elapsed: float, startup: float
) -> None:
    """Replicas asked for now cover every second until they could be ready, within the bounds."""
    config = OracleConfig(18.8, 500, 70, startup, min_replicas=1, max_replicas=1000)
    asked = oracle_replicas(rates, elapsed, config)
    start = max(0, int(elapsed // 1))
    end = int(-(-(elapsed + startup) // 1))
    assert all(asked >= needed(rate, config) for rate in rates[start : end + 1])
    assert asked >= config.min_replicas
