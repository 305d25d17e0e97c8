from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlscale.errors import WorkloadError
from mlscale.workload import (
    Arrival,
    Workload,
    fingerprint,
    load_workload,
    parse_workload,
    per_second_rates,
    requests_per_unit,
    schedule,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_original_designs_format_parses() -> None:
    assert parse_workload("10,15,20,25,30,25,20,15,10,5").rates == (10, 15, 20, 25, 30, 25, 20, 15, 10, 5)


def test_one_value_per_line_comments_and_blank_lines() -> None:
    workload = parse_workload("# ramp up\n5\n\n10  # faster\n 15 , 20\n", "w/ramp.txt")
    assert workload.rates == (5.0, 10.0, 15.0, 20.0)
    assert (workload.name, workload.description) == ("ramp", "ramp up")


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("10,-5,3", 1, 4, "negative"),
        ("10\n20,abc", 2, 4, "not a number"),
        ("# only a comment\n\n", 1, 1, "empty"),
        ("10,,20", 1, 4, "empty value"),
        ("1,2,nan", 1, 5, "not a number"),
    ],
)
def test_bad_workloads_name_line_and_column(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(WorkloadError) as caught:
        parse_workload(text, "bad.txt")
    assert (caught.value.line, caught.value.column) == (line, column)
    assert words in caught.value.problem
    assert str(caught.value).startswith(f"bad.txt:{line}:{column}:")


def test_a_missing_file_is_a_workload_error(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="no such workload file"):
        load_workload(tmp_path / "missing.txt")


@pytest.mark.parametrize("name", ["peak", "ramp", "spike", "sustained", "demo"])
def test_shipped_workloads_parse_and_say_what_they_are(name: str) -> None:
    workload = load_workload(ROOT / "workloads" / f"{name}.txt")
    assert workload.description
    assert all(rate >= 0 for rate in workload.rates)


def test_sustained_is_thirty_per_second_for_ten_minutes() -> None:
    assert load_workload(ROOT / "workloads" / "sustained.txt").rates == (30.0,) * 600


def per_second(times: list[float], step: float = 1.0) -> Counter[int]:
    return Counter(int(t // step) for t in times)


def test_uniform_schedule_sends_each_seconds_count_evenly_spread() -> None:
    times = schedule(Workload("w", (4, 0, 2)))
    assert per_second(times) == Counter({0: 4, 2: 2})
    assert times[:4] == [0.125, 0.375, 0.625, 0.875]


def test_step_seconds_scale_and_max_requests() -> None:
    times = schedule(Workload("w", (2, 4)), step_seconds=10, scale=0.5)
    assert per_second(times, 10) == Counter({0: 10, 1: 20})
    assert len(schedule(Workload("w", (100,)), max_requests=7)) == 7


def test_poisson_keeps_counts_and_is_repeatable_with_a_seed() -> None:
    one = schedule(Workload("w", (50, 20)), arrival=Arrival.POISSON, seed=3)
    assert per_second(one) == Counter({0: 50, 1: 20})
    assert one == schedule(Workload("w", (50, 20)), arrival=Arrival.POISSON, seed=3)
    assert one != schedule(Workload("w", (50, 20)), arrival=Arrival.POISSON, seed=4)
    assert one == sorted(one)


@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=20))
def test_uniform_counts_match_the_workload_exactly(rates: list[int]) -> None:
    counts = per_second(schedule(Workload("w", tuple(float(r) for r in rates))))
    assert [counts.get(i, 0) for i in range(len(rates))] == rates


def test_per_second_rates_hold_each_rate_its_step() -> None:
    workload = Workload("w", (1, 2))
    assert per_second_rates(workload, step_seconds=5) == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert per_second_rates(Workload("w", (1, 2), step_seconds=1.5), scale=2) == [2, 3, 4]


def test_max_requests_bounds_what_is_built_not_just_what_is_kept() -> None:
    """Issue 13: one step of 3e7 requests took 2.7 s and 1.15 GB when maxImages was 5."""
    huge = Workload("w", (1.0,))
    arrivals = tuple(Arrival)
    for arrival in arrivals:
        times = schedule(huge, step_seconds=3e7, arrival=arrival, seed=1, max_requests=5)
        assert len(times) == 5
        assert times == sorted(times)
        assert all(0 <= t < 3e7 for t in times)


def test_truncated_poisson_steps_are_the_first_arrivals_of_the_whole_step() -> None:
    # The 10 first of 1,000 uniform arrivals in [0, 1) lie near 10/1001 on average, not spread out.
    firsts = [
        schedule(Workload("w", (1000,)), arrival=Arrival.POISSON, seed=s, max_requests=10)[-1]
        for s in range(200)
    ]
    assert sum(firsts) / len(firsts) == pytest.approx(10 / 1001, rel=0.1)


def test_a_unit_line_makes_the_values_replicas() -> None:
    workload = parse_workload("# unit: replicas\n0.5, 2.5\n")
    assert workload.unit == "replicas"
    assert workload.rates == (0.5, 2.5)
    assert parse_workload("1,2").unit == "rps"
    with pytest.raises(WorkloadError, match="use rps, replicas, flat-out"):
        parse_workload("# unit: pods\n1")


def test_a_rate_beyond_a_million_per_second_is_refused() -> None:
    """Found by the fuzzer: --serve sized a run of rate 1.4e308 and overflowed (500)."""
    with pytest.raises(WorkloadError, match="over the limit of 1,000,000 per second"):
        parse_workload("10, 1.3656925274743716e+308")
    assert parse_workload("1000000").rates == (1_000_000.0,)


def test_a_flat_out_workload_is_sized_by_the_flat_out_capacity() -> None:
    workload = parse_workload("# unit: flat-out\n0.1, 1.3\n")
    calibration = {"capacity_at_target_rps": 28.0, "flat_out_rps": 88.0}
    assert workload.unit == "flat-out"
    assert requests_per_unit(workload, calibration) == 88.0
    assert requests_per_unit(parse_workload("# unit: replicas\n1"), calibration) == 28.0
    assert requests_per_unit(parse_workload("5"), None) == 1.0
    assert requests_per_unit(workload, {"capacity_at_target_rps": 28.0}) is None  # an older calibration


def test_a_fingerprint_tells_apart_the_count_the_times_and_the_images() -> None:
    same = fingerprint([0.1, 0.5, 1.2], ["a.jpg", "b.jpg"])
    assert same == fingerprint([0.1, 0.5, 1.2], ["a.jpg", "b.jpg"])
    assert same["requests"] == 3
    others = [fingerprint([0.1, 0.5], ["a.jpg", "b.jpg"]), fingerprint([0.1, 0.5, 1.3], ["a.jpg", "b.jpg"]),
              fingerprint([0.1, 0.5, 1.2], ["b.jpg", "a.jpg"])]  # fmt: skip
    assert all(other["sha256"] != same["sha256"] for other in others)
