"""The latency the fluid model looks up: measured on the per-request model, once per replica
count and load level, and kept at a grid of percentiles so that mixtures pool exactly."""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, replace

import numpy as np

from mlscale.autoscaling.policies import Snapshot, Step
from mlscale.simulate.engine import DispatcherModel, ReplicaProfile, Simulation

QUANTILES = (50.0, 95.0, 99.0)
GRID = np.arange(0.5, 100, 1.0)
"""The percentiles a latency distribution is kept at: pooling them over steps, each weighted by
its requests, gives the quantiles of the mixture (of a second, of the run)."""


@dataclass(frozen=True)
class Hold:
    """A policy that keeps the count: the per-request model with a fixed number of replicas."""

    name: str = "hold"
    tick_seconds: float = 3600.0
    reads_load: bool = False

    def start(self, now: float) -> None:
        return None

    def step(self, snapshot: Snapshot, state: None) -> tuple[Step, None]:
        return Step(snapshot.current, None), None

    def scaled(self, state: None, before: int, after: int, now: float) -> None:
        return None


@dataclass(frozen=True)
class LatencyTable:
    """Latency quantiles (seconds) without a backlog, by ready replicas and their utilization, and
    the time at a replica with a backlog, measured on the per-request model (``measure``)."""

    replicas: tuple[int, ...]
    levels: tuple[float, ...]
    quiet: np.ndarray
    """[replica bucket, level, GRID]: arrival to done, with the dispatcher's queue empty."""
    backlogged: np.ndarray
    """[replica bucket, GRID]: forwarded to done, with every forwarder busy."""

    def step_latency(
        self, ready: np.ndarray, utilization: np.ndarray, backlog: np.ndarray, wait: np.ndarray
    ) -> np.ndarray:
        """[step, GRID] seconds: with a backlog the queue's wait plus the time at a busy replica,
        else what the per-request model measured at the step's replicas and load (interpolated
        between levels; replicas between two measured counts take the lower one's)."""
        buckets = np.maximum(np.searchsorted(self.replicas, ready, side="right") - 1, 0)
        level = np.minimum(utilization, self.levels[-1])
        upper = np.clip(np.searchsorted(self.levels, level, side="right"), 1, len(self.levels) - 1)
        share = (
            (level - np.asarray(self.levels)[upper - 1])
            / (np.asarray(self.levels)[upper] - np.asarray(self.levels)[upper - 1])
        )[:, None]
        quiet = self.quiet[buckets, upper - 1] * (1 - share) + self.quiet[buckets, upper] * share
        busy = wait[:, None] + self.backlogged[buckets]
        chosen: np.ndarray = np.where(backlog[:, None], busy, quiet)
        return chosen

    def mean_quiet(self, ready: int, utilization: float) -> float:
        """Mean seconds from arrival to done without a backlog: what a request spends in the
        system, queueing at random included (for Little's law)."""
        bucket = max(bisect.bisect_right(self.replicas, ready) - 1, 0)
        rows = self.quiet[bucket].mean(axis=1)
        return float(np.interp(min(utilization, self.levels[-1]), self.levels, rows))

    @classmethod
    def measure(
        cls,
        profile: ReplicaProfile,
        dispatcher: DispatcherModel,
        *,
        poisson: bool,
        requests: int = 1500,
        replicas: tuple[int, ...] = (1, 2, 4, 8),
        levels: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
        seed: int = 0,
    ) -> LatencyTable:
        mean = sum(profile.service_s) / len(profile.service_s)
        instant = replace(profile, startup_s=0.0)
        quiet = np.empty((len(replicas), len(levels), len(GRID)))
        backlogged = np.empty((len(replicas), len(GRID)))
        for b, count in enumerate(replicas):
            for i, level in enumerate((*levels, 1.2)):
                rate = max(level, 0.01) * count / mean
                arrivals = _arrivals(rate, requests, poisson, seed + 1000 * b + i)
                seconds = math.ceil(arrivals[-1]) + 1
                result = Simulation(
                    [rate] * seconds,
                    arrivals,
                    instant,
                    Hold(),
                    dispatcher=dispatcher,
                    initial_replicas=count,
                    seed=seed + i,
                ).run()
                settled = slice(requests // 10, None)
                start = result.forwarded if level > 1 else result.arrival
                spans = np.asarray(result.done[settled]) - np.asarray(start[settled])
                values = np.percentile(spans[np.isfinite(spans)], GRID)
                if level > 1:
                    backlogged[b] = values
                else:
                    quiet[b, i] = values
        return cls(replicas, levels, quiet, backlogged)


def _arrivals(rate: float, count: int, poisson: bool, seed: int) -> list[float]:
    if not poisson:
        return [(i + 0.5) / rate for i in range(count)]
    rng = random.Random(seed)
    times, now = [], 0.0
    for _ in range(count):
        now += rng.expovariate(rate)
        times.append(now)
    return times


def pooled_quantiles(points: np.ndarray, weights: np.ndarray) -> list[float]:
    """QUANTILES of the mixture of distributions kept at GRID (rows), each weighted."""
    values = points.ravel()
    mass = np.repeat(weights / points.shape[1], points.shape[1])
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(mass[order])
    total = cumulative[-1]
    indexes = np.searchsorted(cumulative, np.asarray(QUANTILES) / 100 * total)
    return [float(values[order][min(int(i), len(values) - 1)]) for i in indexes]
