"""From counts to arrivals, exactly: a per-minute trace spread into arrivals keeps every minute's
count, uniform or Poisson, at any --speed (a property over random traces); a timestamp trace keeps
its own times, compressed by --speed; the generators are seeded; ``workload show``'s measures."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlscale.cli import app
from mlscale.errors import InputError
from mlscale.workload import Arrival, Workload, load_workload, per_second_counts, planned_requests, schedule
from mlscale.workload.core import from_times
from mlscale.workload.generators import generate
from mlscale.workload.shape import lag1, shape, sparkline
from mlscale.workload.transform import speed

runner = CliRunner()


def minute_trace(counts: list[int]) -> Workload:
    """Per-minute counts as the Azure 2019 reader gives them: count/60 held 60 s."""
    return Workload("t", tuple(c / 60 for c in counts), step_seconds=60.0)


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=30),
    factor=st.sampled_from([1, 2, 7.5, 60, 61, 120, 1000]),
    arrival=st.sampled_from(list(Arrival)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_minutes_count_is_kept_after_spreading_and_speed(
    counts: list[int], factor: float, arrival: Arrival, seed: int
) -> None:
    workload = speed(minute_trace(counts), factor)
    times = schedule(workload, arrival=arrival, seed=seed)
    assert times == sorted(times)
    assert len(times) == sum(counts) == planned_requests(workload)
    minute = 60 / factor  # how long one minute of the trace lasts after the speed-up
    assert all(0 <= t < len(counts) * minute for t in times)
    per_minute = Counter(int(t / minute) for t in times)
    assert [per_minute.get(i, 0) for i in range(len(counts))] == counts


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=10))
def test_per_second_counts_add_up_to_each_minute(counts: list[int]) -> None:
    seconds = per_second_counts(minute_trace(counts))
    assert len(seconds) == 60 * len(counts)
    assert [sum(seconds[60 * i : 60 * (i + 1)]) for i in range(len(counts))] == counts


def test_poisson_spreading_is_seeded_and_differs_from_uniform() -> None:
    workload = minute_trace([120, 30])
    first = schedule(workload, arrival=Arrival.POISSON, seed=3)
    assert first == schedule(workload, arrival=Arrival.POISSON, seed=3)
    assert first != schedule(workload, arrival=Arrival.POISSON, seed=4)
    assert first != schedule(workload, arrival=Arrival.UNIFORM)


def test_a_timestamp_trace_keeps_its_times_and_speed_compresses_them() -> None:
    trace = from_times("t", [100.0, 100.25, 103.0, 160.5], {"label": "t"})
    assert schedule(trace) == [0.0, 0.25, 3.0, 60.5]
    assert schedule(trace, arrival=Arrival.POISSON, seed=1) == [0.0, 0.25, 3.0, 60.5]  # its own times
    fast = speed(trace, 10)
    assert schedule(fast) == pytest.approx([0.0, 0.025, 0.3, 6.05])
    assert per_second_counts(fast) == [3, 0, 0, 0, 0, 0, 1]


def test_scaling_a_timestamp_trace_thins_evenly_or_repeats_at_its_own_instants() -> None:
    trace = from_times("t", [float(i) for i in range(10)], {})
    half = schedule(trace, scale=0.5)
    assert len(half) == planned_requests(trace, scale=0.5) == 5
    assert set(half) <= set(schedule(trace))
    double = schedule(trace, scale=2)
    assert Counter(double) == Counter({float(i): 2 for i in range(10)})
    assert planned_requests(trace, scale=2.5) == len(schedule(trace, scale=2.5)) == 25
    with pytest.raises(InputError, match="--speed"):
        schedule(trace, step_seconds=2)


@pytest.mark.parametrize("kind", ["diurnal", "mmpp", "flash-crowd", "ramp", "step"])
def test_generators_are_seeded_and_say_how_they_were_made(kind: str) -> None:
    first = generate(kind, {"duration": "30m"})
    assert first.rates == generate(kind, {"duration": "30m"}).rates
    assert first.duration == 1800
    assert all(r >= 0 and math.isfinite(r) for r in first.rates)
    assert f"generated {kind} (" in first.description
    assert "duration=30m" in first.description
    if kind in ("diurnal", "mmpp"):
        assert first.rates != generate(kind, {"duration": "30m", "seed": "2"}).rates


def test_a_diurnal_day_peaks_when_asked_and_mmpp_dwells_in_its_states() -> None:
    day = generate("diurnal", {"noise": "0", "peak_at": "14h"})
    assert len(day.rates) == 1440
    assert day.step_seconds == 60
    assert day.rates.index(max(day.rates)) in (839, 840)  # 14:00
    assert max(day.rates) / min(day.rates) == pytest.approx(9, rel=0.01)  # (1 + 0.8) / (1 - 0.8)
    bursts = generate("mmpp", {"duration": "6h", "rates": "5,40", "dwell": "60s,10s"})
    share_high = bursts.rates.count(40) / len(bursts.rates)
    assert set(bursts.rates) == {5, 40}
    assert 0.08 < share_high < 0.25  # 10 / (60 + 10) = 0.14 expected


@pytest.mark.parametrize(
    ("params", "message"),
    [({"wobble": "1"}, "has no parameter wobble"), ({"mean": "lots"}, "is not a number"),
     ({"duration": "0"}, "at least one step"), ({"peak_at": "teatime"}, "give a span")],
)  # fmt: skip
def test_bad_generator_parameters_are_refused(params: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate("diurnal", params)


def test_shape_measures_burstiness_and_persistence() -> None:
    even = shape([5] * 60)
    assert even.dispersion == 0
    assert even.peak_to_mean == 1
    assert even.lag1 is None
    bursty = shape([0] * 50 + [100] * 10)
    assert bursty.dispersion is not None
    assert bursty.dispersion > 50
    assert lag1([1, 2, 1, 2, 1, 2, 1, 2]) == pytest.approx(-0.875)
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8) == "▁▂▃▄▅▆▇█"


def test_gen_then_show_at_80_columns(tmp_path: Path) -> None:
    out = tmp_path / "day.txt"
    made = runner.invoke(app, ["workload", "gen", "diurnal", "-o", str(out), "-p", "mean=20"])
    assert made.exit_code == 0, made.output
    plot = tmp_path / "d.png"
    arguments = ["workload", "show", str(out), "--speed", "60", "--capacity", "10", "--plot", str(plot)]
    shown = runner.invoke(app, arguments, terminal_width=80)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "generated diurnal, at 60×"
    assert all(len(line) <= 80 for line in lines)
    values = dict(line.split(None, 1) for line in lines[4:] if line and not line.startswith(" "))
    assert values["duration"] == "24m 00s (1,440 s)"
    requests = sum(round(r * 60) for r in load_workload(out).rates)
    assert values["requests"] == f"{requests:,}"
    peak = int(values["peak"].split()[0].replace(",", ""))
    assert values["at"] == f"peak         {peak / 10:.2f} replicas' worth (10.0 requests/s each)"
    assert plot.stat().st_size > 10_000
