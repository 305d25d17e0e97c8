"""The system as an aggregated model: counts per time step, not events per request.

For rates where one event per request is too slow (10⁵ requests/s for an hour is 3.6·10⁸
requests), the dispatcher's queue is a fluid: each step of ``dt`` seconds adds the workload's
arrivals, the ready replicas take what they can serve (one request at a time each, ``1 / mean
service time`` requests/s), and what is beyond the queue's bound is rejected. The replicas, the
metric pipeline and the policy are the per-request model's: the same policy objects, ticked at
their period, given the same pods and the same metrics.k8s.io samples (every replica's CPU over
the window: idle plus the calibrated CPU per request times what it served).

Latency of the requests arriving in a step is their wait in the dispatcher's FIFO queue (read off
the cumulative arrival and forward curves) plus their time at the replica: a service time, and
when the replica is busy a wait for the request in service (its residual, ``E[S²] / 2E[S]`` in
the mean). With two-choice routing a request waits at a replica with probability ``ρ²`` (the
supermarket model: of two replicas busy with probability ρ, both are), one replica: ``ρ``; with a
backlog in the dispatcher every replica holds two and each request waits. The quantiles of that
time come from the calibrated service times, drawn once per load level.

The per-request model and this one are compared where both run (``tests/unit/test_simulate_fluid``
and the README's table): same replica counts, replica-seconds and p95 within a few percent.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from mlscale.autoscaling.metrics import Observed, pod_usage
from mlscale.autoscaling.policies import Plan, Policy, Snapshot
from mlscale.autoscaling.replicas import Pod, cpu_pod
from mlscale.simulate.engine import BusyMeter, DispatcherModel, ReplicaProfile
from mlscale.simulate.latency import QUANTILES, LatencyTable, pooled_quantiles


@dataclass
class FluidReplica:
    name: str
    asked_at: float
    ready_at: float

    def ready(self, now: float) -> bool:
        return now >= self.ready_at


@dataclass(frozen=True)
class FluidResult:
    seconds: pd.DataFrame
    """Per second of arrival: arrived, rejected, ok, unfinished, latency_p50/p95/p99_ms (of its
    ok requests), queue_depth, in_service, replicas (ready), provisioned (ready or starting),
    desired_replicas and cpu_utilization (the latest samples' mean, % of the request)."""
    decisions: list[dict[str, Any]]
    replicas: list[FluidReplica]
    samples: list[tuple[float, int, float]]
    """Each metric sample: when, replicas sampled, each one's CPU in millicores."""
    overall: dict[str, float | None]
    """The run's latency quantiles of ok requests, ms: {"p50": ..., "p95": ..., "p99": ...}."""


@dataclass
class _Trace:
    """Each step's counts (requests, not rates) and state."""

    arrived: np.ndarray
    forwarded: np.ndarray
    rejected: np.ndarray
    queue: np.ndarray
    utilization: np.ndarray
    backlog: np.ndarray
    ready: np.ndarray
    provisioned: np.ndarray
    desired: np.ndarray

    @classmethod
    def sized(cls, steps: int) -> _Trace:
        def floats() -> np.ndarray:
            return np.zeros(steps)

        def ints() -> np.ndarray:
            return np.zeros(steps, dtype=int)

        return cls(
            floats(),
            floats(),
            floats(),
            floats(),
            floats(),
            np.zeros(steps, dtype=bool),
            ints(),
            ints(),
            ints(),
        )

    @property
    def steps(self) -> int:
        return len(self.arrived)

    def cut(self, last: int) -> _Trace:
        return _Trace(*(getattr(self, f.name)[:last] for f in fields(self)))


class FluidSimulation:
    def __init__(
        self,
        rates: Sequence[float],
        profile: ReplicaProfile,
        policy: Policy[Any],
        *,
        dispatcher: DispatcherModel | None = None,
        initial_replicas: int = 1,
        metric_resolution: float = 15.0,
        dt: float = 0.1,
        seed: int = 0,
        tick_phase: float | None = None,
        sample_phase: float | None = None,
        drain_seconds: float = 600.0,
        poisson: bool = False,
        latency: LatencyTable | None = None,
    ) -> None:
        """As ``engine.Simulation``, with the requests of each second (spread evenly over it)
        instead of each request's time. ``latency``: measured on the per-request model for this
        profile and arrival process (``poisson``) when not given; a sweep measures it once.
        After the workload, steps go on with the last replicas until the queue
        is empty or ``drain_seconds`` have passed; what is left then is unfinished."""
        if dt <= 0 or 1 / dt != round(1 / dt):
            raise ValueError("dt must divide one second (0.1, 0.05, ...)")
        rng = random.Random(seed)
        self.rates = [float(r) for r in rates]
        self.profile = profile
        self.policy = policy
        self.dispatcher = dispatcher or DispatcherModel()
        self.resolution = metric_resolution
        self.dt = dt
        self.drain_seconds = drain_seconds
        self.mean_service = profile.busy_s
        self.latency = latency or LatencyTable.measure(profile, self.dispatcher, poisson=poisson, seed=seed)
        self.tick_phase = rng.uniform(0, policy.tick_seconds) if tick_phase is None else tick_phase
        self.sample_phase = rng.uniform(0, metric_resolution) if sample_phase is None else sample_phase
        self.replicas: list[FluidReplica] = []
        """Live replicas, oldest first (scale-down takes not-ready ones, then the newest)."""
        self.all_replicas: list[FluidReplica] = []
        for _ in range(initial_replicas):
            self._add_replica(-profile.startup_s)

    def _add_replica(self, now: float) -> None:
        replica = FluidReplica(f"replica-{len(self.all_replicas) + 1}", now, now + self.profile.startup_s)
        self.replicas.append(replica)
        self.all_replicas.append(replica)

    def run(self) -> FluidResult:
        per_second = round(1 / self.dt)
        duration = len(self.rates)
        trace = _Trace.sized(duration * per_second + math.ceil(self.drain_seconds / self.dt))
        self._queue = self._in_service = self._in_flight = 0.0
        self._busy = BusyMeter()
        self._next_tick, self._next_sample = self.tick_phase, self.sample_phase
        self._window_served = self._window_ready_s = 0.0
        self._usage_milli, self._sampled_at = 0, 0.0
        self._samples: list[tuple[float, int, float]] = []
        self._cpu: list[tuple[float, float | None]] = []
        self._decisions: list[dict[str, Any]] = []
        self._desired = len(self.replicas)
        self._state = self.policy.start(0.0)
        self._plan = Plan(tuple(self.rates), 0.0)
        self._ready_times = sorted(r.ready_at for r in self.replicas)
        last = trace.steps
        for step in range(trace.steps):
            second = step // per_second
            if second >= duration and self._queue <= 1e-9 and self._in_service <= 1e-9:
                last = step
                break
            self._step(step, self.rates[second] * self.dt if second < duration else 0.0, trace)
            end = (step + 1) * self.dt
            while self._next_sample <= end + 1e-9 and self._next_sample <= duration:
                self._sample(self._next_sample)
                self._next_sample += self.resolution
            while self._next_tick <= end + 1e-9 and self._next_tick <= duration:
                self._tick(self._next_tick)
                self._next_tick += self.policy.tick_seconds
            trace.desired[step] = self._desired
        seconds, overall = self._seconds(trace.cut(last), self._cpu, duration)
        return FluidResult(seconds, self._decisions, self.all_replicas, self._samples, overall)

    def _step(self, step: int, arrivals: float, trace: _Trace) -> None:
        """One step of the queue: the ready replicas serve what they can, up to per_upstream each
        stay at the replicas (the forwarders), the rest queues, and beyond the bound is refused."""
        ready = bisect.bisect_right(self._ready_times, step * self.dt)
        fixed = self.dispatcher.concurrency
        servers = ready if fixed is None else min(ready, fixed)
        capacity = servers * self.dt / self.mean_service
        backlog = self._queue + self._in_service + arrivals
        served = min(backlog, capacity)
        slots = fixed if fixed is not None else self.dispatcher.per_upstream * max(1, ready)
        held = min(backlog - served, float(slots) if ready else 0.0)
        queue = backlog - served - held
        refused = max(0.0, queue - self.dispatcher.max_queue)
        self._queue = queue - refused
        trace.forwarded[step] = served + held - self._in_service  # what left the dispatcher's queue
        self._in_service = held
        trace.arrived[step], trace.rejected[step], trace.queue[step] = arrivals, refused, self._queue
        trace.utilization[step] = served / capacity if capacity else 1.0
        trace.backlog[step] = self._queue > 1e-9 or capacity <= 0
        trace.ready[step], trace.provisioned[step] = ready, len(self.replicas)
        self._window_served += served
        # Queued and in flight as the dispatcher counts them (what KEDA and the KPA read): with a
        # backlog, the fluid's own; without one, by Little's law, the arrival rate times the time in
        # the system the per-request model measured at this load (random queueing included, which
        # a fluid below capacity does not have).
        quiet = (
            0.0
            if self._queue > 1e-9 or not ready
            else arrivals / self.dt * self.latency.mean_quiet(ready, trace.utilization[step])
        )
        self._in_flight = max(self._in_service, quiet)
        self._busy.seconds += self._in_flight * self.dt
        self._window_ready_s += ready * self.dt

    def _sample(self, at: float) -> None:
        """metrics.k8s.io's sample: every ready replica's CPU over the window just ended."""
        per_replica = self._window_served / self._window_ready_s if self._window_ready_s else 0.0
        cores = self.profile.idle_cores + self.profile.cpu_s_per_request * per_replica
        self._usage_milli, self._sampled_at = round(cores * 1000), at
        sampled = sum(r.ready(at) for r in self.replicas)
        self._samples.append((at, sampled, self._usage_milli))
        self._cpu.append((at, self._usage_milli / self.profile.request_milli * 100 if sampled else None))
        self._window_served = self._window_ready_s = 0.0

    def _tick(self, now: float) -> None:
        names = [r.name for r in self.replicas if r.ready_at <= self._sampled_at]
        usage = {n: pod_usage(self._usage_milli, self._sampled_at, self.resolution) for n in names}
        current = len(self.replicas)
        snapshot = Snapshot(
            now,
            current,
            self.pods(now),
            Observed(usage, timestamp=self._sampled_at),
            self._queue + self._busy.read(now, self._in_service),  # first read: what they hold now
            self._plan,
        )
        decision, self._state = self.policy.step(snapshot, self._state)
        if decision.desired != current:
            self._scale(now, current, decision.desired)
            self._state = self.policy.scaled(self._state, current, decision.desired, now)
            self._ready_times = sorted(r.ready_at for r in self.replicas)
        self._desired = decision.desired
        if decision.record is not None:
            self._decisions.append(decision.record)

    def pods(self, now: float) -> list[Pod]:
        return [
            cpu_pod(
                r.name,
                self.profile.request_milli,
                ready=r.ready(now),
                ready_since=r.ready_at if r.ready(now) else r.asked_at,
                started_at=r.asked_at,
            )
            for r in self.replicas
        ]

    def _scale(self, now: float, current: int, desired: int) -> None:
        for _ in range(desired - current):
            self._add_replica(now)
        if desired < current:
            keep = sorted(self.replicas, key=lambda r: (r.ready(now), -r.asked_at))[current - desired :]
            kept = {id(r) for r in keep}
            self.replicas = [r for r in self.replicas if id(r) in kept]

    def _seconds(
        self, trace: _Trace, cpu_samples: list[tuple[float, float | None]], duration: int
    ) -> tuple[pd.DataFrame, dict[str, float | None]]:
        dt, per_second = self.dt, round(1 / self.dt)
        arrived, forwarded, rejected = trace.arrived, trace.forwarded, trace.rejected
        steps = len(arrived)
        wait = fifo_waits(arrived - rejected, forwarded, dt)
        latency = self.latency.step_latency(trace.ready, trace.utilization, trace.backlog, wait)
        admitted_per_step, finished_steps = arrived - rejected, np.isfinite(wait) & (arrived - rejected > 0)
        overall = (
            pooled_quantiles(latency[finished_steps], admitted_per_step[finished_steps])
            if finished_steps.any()
            else None
        )
        rows = []
        cpu_times = [t for t, _ in cpu_samples]
        for second in range(duration):
            span = slice(second * per_second, min((second + 1) * per_second, steps))
            if span.start >= steps:
                break
            weights = arrived[span] - rejected[span]
            n_arrived, n_rejected = float(arrived[span].sum()), float(rejected[span].sum())
            finished = np.isfinite(wait[span])
            n_ok = float(weights[finished].sum())
            row: dict[str, Any] = {
                "second": second,
                "arrived": n_arrived,
                "rejected": n_rejected,
                "ok": n_ok,
                "unfinished": float(weights[~finished].sum()),
                "queue_depth": float(trace.queue[span.stop - 1]),
                "replicas": int(trace.ready[span.stop - 1]),
                "provisioned": int(trace.provisioned[span.stop - 1]),
                "desired_replicas": int(trace.desired[span.stop - 1]),
            }
            quantiles = pooled_quantiles(latency[span][finished], weights[finished]) if n_ok > 0 else None
            for column, quantile in enumerate(QUANTILES):
                row[f"latency_p{quantile:g}_ms"] = None if quantiles is None else quantiles[column] * 1000
            index = bisect.bisect_right(cpu_times, second + 1) - 1
            row["cpu_utilization"] = cpu_samples[index][1] if index >= 0 else None
            rows.append(row)
        run_quantiles: dict[str, float | None] = {
            f"p{q:g}": None if overall is None else overall[i] * 1000 for i, q in enumerate(QUANTILES)
        }
        return pd.DataFrame(rows), run_quantiles


def fifo_waits(admitted: np.ndarray, forwarded: np.ndarray, dt: float) -> np.ndarray:
    """Seconds each step's admitted requests wait in a FIFO queue (inf: never forwarded): the
    middle one of a step, at its midpoint, leaves when the cumulative forward curve reaches its
    place (interpolated within the step it does)."""
    steps = len(admitted)
    taken = np.cumsum(forwarded)
    place = np.cumsum(admitted) - admitted / 2
    leave = np.searchsorted(taken, place - 1e-9)
    inside = leave < steps
    at = np.minimum(leave, steps - 1)
    before = np.where(leave > 0, taken[np.maximum(leave - 1, 0)], 0.0)
    fraction = np.where(forwarded[at] > 0, (place - before) / np.maximum(forwarded[at], 1e-12), 0.0)
    left_at = (leave + np.clip(fraction, 0, 1)) * dt
    return np.where(inside, np.maximum(left_at - (np.arange(steps) + 0.5) * dt, 0.0), np.inf)
