"""What a workload is once read: requests/s held for a step each (one second for the original design's
``workload.txt``, a minute for a per-minute trace), or a trace's own arrival times; and how it becomes
intended send times (``schedule``), exactly as many per step as the workload asks for.

A workload in ``replicas`` (``# unit: replicas``, or sized by ``--peak``) is in multiples of what one
replica serves at the HPA's CPU target on the machine at hand (``mlscale up`` measures it), so ``2.5``
asks for the load that holds about three replicas on a fast machine or a slow one; ``flat-out`` is in
multiples of what one replica serves flat out, fed two at a time as the dispatcher feeds it.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal

from mlscale.errors import InputError


class Arrival(StrEnum):
    """How requests are spaced within a step: evenly, or at random instants (a Poisson process)."""

    UNIFORM = "uniform"
    POISSON = "poisson"


Unit = Literal["rps", "replicas", "flat-out"]
UNITS: tuple[Unit, ...] = ("rps", "replicas", "flat-out")
CALIBRATION_KEYS: dict[str, str] = {"replicas": "capacity_at_target_rps", "flat-out": "flat_out_rps"}
"""Which number of ``up``'s calibration one unit of a workload is, in requests/s."""
UNIT_MEANINGS = {
    "replicas": "one replica at the CPU target",
    "flat-out": "one replica flat out, two requests at a time",
}
MAX_RATE = 1_000_000
"""Requests/s one step may ask for: far past what one load tester sends (5,000/s measured), and
small enough that sizing a run can never overflow (a rate of 1e308 once did, in --serve)."""
_LAST_FRACTION = 1 - 1e-9
"""Where in its step an arrival may fall at the latest: a Poisson draw of 0.9999999999999999 times a
step of 1/60 s rounded into the next step, and that step's count was off by one."""


@dataclass(frozen=True)
class Workload:
    name: str
    rates: tuple[float, ...]
    """Units (requests/s, or replicas' worth) of each step."""
    description: str = ""
    unit: Unit = "rps"
    """``rps``: requests per second; ``replicas``: multiples of one replica's capacity at the CPU target;
    ``flat-out``: multiples of what one replica serves flat out."""
    step_seconds: float = 1.0
    """How long each rate holds: 1 for a per-second file, 60 for a per-minute trace, 60/K at ``--speed K``."""
    times: tuple[float, ...] | None = None
    """A timestamp trace's own arrival times (seconds from its start, sorted): replayed as they are.
    ``rates`` then hold how many of them fall in each step, times ``weight``."""
    weight: float = 1.0
    """Units one arrival of ``times`` stands for (1 for requests/s; ``--peak`` changes it)."""
    source: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Where the workload came from, as run.json records it: ``label`` says it in one line."""

    @property
    def duration(self) -> float:
        return len(self.rates) * self.step_seconds

    @property
    def label(self) -> str:
        return str(self.source.get("label") or self.name)


def requests_per_unit(workload: Workload, calibration: dict[str, Any] | None) -> float | None:
    """Requests/s one unit of ``workload`` is by ``calibration`` (``up``'s, as state.json and
    run.json hold it): 1 for requests/s, None when the calibration lacks the number."""
    if workload.unit == "rps":
        return 1.0
    value = (calibration or {}).get(CALIBRATION_KEYS[workload.unit])
    return float(value) if value else None


def _step(workload: Workload, step_seconds: float | None) -> float:
    if step_seconds is not None and workload.times is not None:
        raise InputError(
            f"{workload.name} replays a trace's own times: --step-seconds holds rates, use --speed"
        )
    return workload.step_seconds if step_seconds is None else step_seconds


def step_counts(workload: Workload, *, step_seconds: float | None = None, scale: float = 1.0) -> list[int]:
    """Requests in each step, exactly what ``schedule`` sends: ``round(rate × scale × step)``
    (for a timestamp trace, how many of its scheduled arrivals fall in each step)."""
    if workload.times is not None:
        return histogram(schedule(workload, scale=scale), workload.step_seconds, len(workload.rates))
    step = _step(workload, step_seconds)
    return [round(rate * scale * step) for rate in workload.rates]


def planned_requests(workload: Workload, *, step_seconds: float | None = None, scale: float = 1.0) -> int:
    """How many requests ``schedule`` makes, without making them."""
    if workload.times is not None:
        _step(workload, step_seconds)
        return _copies_before(len(workload.times), scale * workload.weight)
    return sum(step_counts(workload, step_seconds=step_seconds, scale=scale))


def _copies_before(index: int, multiplier: float) -> int:
    """Requests the first ``index`` arrivals of a trace become at ``multiplier``: each stands for
    ``multiplier`` requests, thinned evenly below 1 and repeated at its own instant above."""
    return math.floor(index * multiplier + 1e-9)


def schedule(
    workload: Workload,
    *,
    step_seconds: float | None = None,
    scale: float = 1.0,
    arrival: Arrival = Arrival.UNIFORM,
    seed: int | None = None,
    max_requests: int | None = None,
) -> list[float]:
    """Intended send times in seconds from the start, sorted.

    Each step sends ``round(rate × scale × step)`` requests (exactly, for uniform arrivals: evenly
    spaced within the step; for Poisson: the same count at uniformly random instants, which is a
    Poisson process conditioned on its count, so per-step counts stay exact). A timestamp trace sends
    its own times (``arrival`` does not apply), each ``scale × weight`` times (see ``_copies_before``).
    """
    step = _step(workload, step_seconds)
    if workload.times is not None:
        return _replay(workload, scale, max_requests)
    rng = random.Random(seed)
    times: list[float] = []
    for index, count in enumerate(step_counts(workload, step_seconds=step, scale=scale)):
        start = index * step
        # Never build more than asked for: one step of 3e7 requests cost 1.15 GB when only 5 were.
        keep = count if max_requests is None else min(count, max_requests - len(times))
        if arrival is Arrival.UNIFORM:
            times.extend(start + (i + 0.5) * step / count for i in range(keep))
        else:
            fractions = _smallest_uniforms(rng, count, keep)
            times.extend(start + step * min(u, _LAST_FRACTION) for u in fractions)
        if max_requests is not None and len(times) >= max_requests:
            return times
    return times


def _replay(workload: Workload, scale: float, max_requests: int | None) -> list[float]:
    assert workload.times is not None
    multiplier = scale * workload.weight
    if multiplier == 1:
        return list(workload.times[:max_requests])
    out: list[float] = []
    for index, at in enumerate(workload.times):
        copies = _copies_before(index + 1, multiplier) - _copies_before(index, multiplier)
        out.extend([at] * copies)
        if max_requests is not None and len(out) >= max_requests:
            return out[:max_requests]
    return out


def _smallest_uniforms(rng: random.Random, n: int, k: int) -> list[float]:
    """The ``k`` smallest of ``n`` uniform draws on [0, 1), sorted, in O(k): each next order
    statistic is the last plus a Beta(1, remaining) share of what is left above it."""
    values, last = [], 0.0
    for remaining in range(n, n - k, -1):
        last += (1.0 - last) * (1.0 - (1.0 - rng.random()) ** (1.0 / remaining))
        values.append(last)
    return values


def per_second_rates(
    workload: Workload, *, scale: float = 1.0, step_seconds: float | None = None
) -> list[float]:
    """The offered rate of each whole second (a step's rate spread over the seconds it covers), as the
    oracle plans from, the fluid model runs and ``workload show`` draws."""
    step = _step(workload, step_seconds)
    seconds = math.ceil(len(workload.rates) * step - 1e-9)
    out = [0.0] * seconds
    for index, rate in enumerate(workload.rates):
        begin, end = index * step, (index + 1) * step
        second = int(begin)
        while second < seconds and second < end:
            overlap = min(end, second + 1) - max(begin, second)
            out[second] += rate * scale * overlap
            second += 1
    return out


def per_second_counts(
    workload: Workload, *, scale: float = 1.0, step_seconds: float | None = None
) -> list[int]:
    """Requests in each whole second: each step's exact count, cut where its seconds end (rounding
    the running total, so the seconds add up to the steps)."""
    if workload.times is not None:
        return histogram(schedule(workload, scale=scale), 1.0, math.ceil(workload.duration - 1e-9))
    step = _step(workload, step_seconds)
    seconds = math.ceil(len(workload.rates) * step - 1e-9)
    cumulative = [0.0]
    for count in step_counts(workload, step_seconds=step, scale=scale):
        cumulative.append(cumulative[-1] + count)

    def total_at(t: float) -> float:
        index = min(int(t / step), len(cumulative) - 2)
        return cumulative[index] + (cumulative[index + 1] - cumulative[index]) * (t - index * step) / step

    marks = [round(total_at(min(s, len(workload.rates) * step))) for s in range(seconds + 1)]
    return [b - a for a, b in pairwise(marks)]


def fingerprint(offsets: Sequence[float], images: Sequence[str]) -> dict[str, Any]:
    """What makes two runs the same load: how many requests, their intended send times (seconds
    from the start) and the image each sends (round robin over ``images``), as a SHA-256 that
    ``report --compare`` checks before it ranks runs."""
    digest = hashlib.sha256()
    for index, offset in enumerate(offsets):
        digest.update(f"{offset:.9f} {images[index % len(images)] if images else ''}\n".encode())
    return {"requests": len(offsets), "sha256": digest.hexdigest()}


def from_times(name: str, times: Sequence[float], source: dict[str, Any], description: str = "") -> Workload:
    """A timestamp trace as a workload: its times from its first arrival, and how many fall in each
    second as its rates."""
    if not times:
        raise InputError(f"{name}: the trace holds no arrivals (after the selection and the window)")
    ordered = sorted(times)
    first = ordered[0]
    offsets = tuple(t - first for t in ordered)
    return with_times(Workload(name, (), description, source=source), offsets, 1.0)


def with_times(workload: Workload, times: tuple[float, ...], step_seconds: float) -> Workload:
    """``workload`` replaying ``times``, its rates counted per step of ``step_seconds``."""
    steps = max(1, math.floor(times[-1] / step_seconds) + 1) if times else 1
    rates = tuple(n * workload.weight / step_seconds for n in histogram(times, step_seconds, steps))
    return replace(workload, rates=rates, times=times, step_seconds=step_seconds)


def histogram(offsets: Sequence[float], width: float, buckets: int) -> list[int]:
    """How many of ``offsets`` fall in each of ``buckets`` spans of ``width`` seconds (the last
    taking any at its very end)."""
    counts = [0] * buckets
    for at in offsets:
        counts[min(int(at / width), buckets - 1)] += 1
    return counts
