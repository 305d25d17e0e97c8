"""A workload at a glance, before an hour is spent running it: how long, how many requests, mean and
peak rate, how bursty (the index of dispersion of per-second counts: 1 for a Poisson process at a
steady rate, 0 for an even one, far above 1 for bursts) and how persistent (the lag-1 autocorrelation
of per-second counts: near 1 when a busy second is followed by a busy one)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from mlscale.workload.core import (
    Arrival,
    Workload,
    histogram,
    per_second_counts,
    planned_requests,
    schedule,
)

BLOCKS = "▁▂▃▄▅▆▇█"
MAX_DRAWN = 2_000_000
"""Requests whose Poisson schedule is drawn for the counts; past it, counts as if evenly spaced."""


@dataclass(frozen=True)
class Shape:
    seconds: int
    requests: int
    mean_rps: float
    peak_rps: float
    dispersion: float | None
    lag1: float | None
    counts: tuple[int, ...]

    @property
    def peak_to_mean(self) -> float | None:
        return self.peak_rps / self.mean_rps if self.mean_rps else None


def counts_of(workload: Workload, scale: float, arrival: Arrival, seed: int | None) -> list[int]:
    """Requests in each second as ``schedule`` sends them (drawn, for Poisson arrivals in steps
    longer than a second; else each step's count spread evenly)."""
    drawn = arrival is Arrival.POISSON and workload.step_seconds > 1 and workload.times is None
    if drawn and planned_requests(workload, scale=scale) <= MAX_DRAWN:
        offsets = schedule(workload, scale=scale, arrival=arrival, seed=seed)
        return histogram(offsets, 1.0, math.ceil(workload.duration - 1e-9))
    return per_second_counts(workload, scale=scale)


def shape(counts: Sequence[int]) -> Shape:
    total = sum(counts)
    mean = total / len(counts) if counts else 0.0
    dispersion = statistics.pvariance(counts) / mean if mean and len(counts) > 1 else None
    return Shape(len(counts), total, mean, max(counts, default=0), dispersion, lag1(counts), tuple(counts))


def lag1(values: Sequence[float]) -> float | None:
    """The lag-1 autocorrelation; None for a constant or too short series."""
    if len(values) < 3:
        return None
    mean = statistics.fmean(values)
    deviations = [v - mean for v in values]
    denominator = sum(d * d for d in deviations)
    if denominator == 0:
        return None
    return sum(a * b for a, b in pairwise(deviations)) / denominator


def sparkline(values: Sequence[float], width: int) -> str:
    """``values`` in ``width`` characters (each the mean of its share of the values), lowest block for 0."""
    if not values:
        return ""
    buckets = min(width, len(values))
    means = []
    for b in range(buckets):
        part = values[b * len(values) // buckets : (b + 1) * len(values) // buckets]
        means.append(sum(part) / len(part))
    top = max(means)
    if top <= 0:
        return BLOCKS[0] * buckets
    return "".join(BLOCKS[min(len(BLOCKS) - 1, int(m / top * (len(BLOCKS) - 1) + 0.5))] for m in means)
