"""Erlang C and the M/G/c sizing, against values worked by hand from the textbook formulas (Kleinrock,
Queueing Systems I, §3.5: C(2, 1) = 1/3, C(3, 2) = 4/9) and the closed forms they reduce to."""

from __future__ import annotations

import math

import pytest

from mlscale.autoscaling.queueing import (
    Service,
    erlang_c,
    fewest_replicas,
    latency_percentile,
    wait_percentile,
)


@pytest.mark.parametrize(
    ("servers", "offered", "expected"),
    [(1, 0.5, 0.5), (1, 0.9, 0.9), (2, 1.0, 1 / 3), (3, 2.0, 4 / 9), (2, 0.0, 0.0), (4, 4.0, 1.0)],
)
def test_erlang_c_matches_worked_values(servers: int, offered: float, expected: float) -> None:
    # One server: the probability of waiting is the utilisation (M/M/1).
    assert erlang_c(servers, offered) == pytest.approx(expected, rel=1e-12)


def test_erlang_c_matches_the_textbook_sum_and_stays_finite_for_many_servers() -> None:
    def by_sum(c: int, a: float) -> float:
        top = a**c / math.factorial(c) / (1 - a / c)
        return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)

    for c, a in [(5, 3.7), (10, 8.0), (30, 25.5)]:
        assert erlang_c(c, a) == pytest.approx(by_sum(c, a), rel=1e-9)
    assert 0 < erlang_c(2000, 1950.0) < 1  # a^c / c! would overflow a float


def test_the_mm1_wait_tail_is_the_closed_form() -> None:
    """M/M/1: P(W > t) = ρ e^{-(μ-λ)t}, so the p-quantile is ln(ρ / (1-p)) / (μ - λ)."""
    service = Service(rate=10.0, scv=1.0)
    expected = math.log(0.8 / 0.05) / (10 - 8)
    assert wait_percentile(1, 8.0, service, 0.95) == pytest.approx(expected, rel=1e-12)
    # A deterministic service halves the stretch: the queue drains twice as fast in the model.
    deterministic = Service(rate=10.0, scv=0.0)
    assert wait_percentile(1, 8.0, deterministic, 0.95) == pytest.approx(expected / 2, rel=1e-12)
    assert wait_percentile(1, 10.0, service, 0.95) == math.inf
    assert wait_percentile(3, 1.0, service, 0.95) == 0.0  # hardly anyone waits


def test_fewest_replicas_is_the_smallest_count_that_meets_the_slo() -> None:
    service = Service(rate=20.0, scv=0.3, percentile_seconds=0.04)
    for rate in (0.5, 15.0, 39.0, 100.0, 390.0):
        chosen = fewest_replicas(rate, service, 0.3, 0.95, most=100)
        assert chosen is not None
        assert latency_percentile(chosen, rate, service, 0.95) <= 0.3
        assert chosen == 1 or latency_percentile(chosen - 1, rate, service, 0.95) > 0.3
        assert chosen > rate / 20  # never fewer than carry the load
    assert fewest_replicas(390.0, service, 0.3, 0.95, most=5) is None
    assert fewest_replicas(0.0, service, 0.01, 0.95, most=5) is None  # the service alone is too slow
    # More load never needs fewer replicas; a tighter SLO never needs fewer.
    counts = [fewest_replicas(r, service, 0.3, 0.95, most=100) or 0 for r in range(1, 400, 7)]
    assert counts == sorted(counts)
    assert (fewest_replicas(300.0, service, 0.05, 0.95, most=100) or 0) >= (
        fewest_replicas(300.0, service, 0.3, 0.95, most=100) or 0
    )
