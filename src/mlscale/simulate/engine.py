"""The system as a discrete-event model, one event per request, in simulated seconds.

What it models is what the backends run, part by part:
- arrivals: the load tester's own schedule (``workload.schedule``: its arrival process and seed),
  open loop;
- the dispatcher: one FIFO queue with its bound (a request beyond it is rejected, as ``/enqueue``
  answers 429); ``per_upstream`` forwarders per ready replica (or a fixed ``concurrency``), each
  taking the queue's head and sending it to one of two replicas drawn at random, the one with
  fewer requests outstanding (``upstreams.Pool.pick``);
- a replica: serves its requests one at a time in arrival order (the model runs on the event
  loop), each for a service time drawn from the calibrated ones, each costing the calibrated CPU;
  it is ready ``startup_s`` after it was asked for, and one asked away takes no new work and
  finishes what it holds;
- the metric pipeline: every ``metric_resolution`` seconds each ready replica's CPU over the
  window just ended becomes its ``metrics.k8s.io`` sample, which the policy reads at its ticks;
- the policy: the very objects the backends run (``policies.make_policy``), ticked every
  ``tick_seconds``, with the pods, the latest samples, the dispatcher's queue plus in flight and
  the workload's plan, as the controller gives them.

No clock, no I/O: the same inputs and seed give the same run.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from mlscale.autoscaling.metrics import Observed, pod_usage
from mlscale.autoscaling.policies import Plan, Policy, Snapshot
from mlscale.autoscaling.replicas import Pod, cpu_pod


@dataclass(frozen=True)
class ReplicaProfile:
    """What one replica is, as a measured run says (``calibration``)."""

    service_s: tuple[float, ...]
    """Seconds a request holds a replica once it is its turn (drawn with replacement)."""
    cpu_s_per_request: float
    startup_s: float
    """From being asked for to ready."""
    request_milli: int = 500
    """The CPU request that utilization is a percentage of."""
    idle_cores: float = 0.0
    """What a ready replica burns with no request (health checks, scrapes, the event loop)."""
    overhead_share: float = 0.0
    """The share of each forward time that does not hold the replica (the dispatcher's side, the
    network): under load it overlaps the next request's service. The request and its forwarder
    wait it out after the replica's part."""

    def __post_init__(self) -> None:
        if not self.service_s or min(self.service_s) <= 0:
            raise ValueError("service_s needs at least one positive service time")
        if self.cpu_s_per_request < 0 or self.startup_s < 0 or self.request_milli <= 0:
            raise ValueError("cpu_s_per_request and startup_s must be >= 0, request_milli > 0")
        if not 0 <= self.overhead_share < 1:
            raise ValueError("overhead_share must be in [0, 1)")

    @property
    def busy_s(self) -> float:
        """The mean time a request holds its replica: one over a busy replica's rate."""
        return sum(self.service_s) / len(self.service_s) * (1 - self.overhead_share)


@dataclass(frozen=True)
class DispatcherModel:
    max_queue: int = 10_000
    per_upstream: int = 2
    concurrency: int | None = None
    """Forwarders, fixed; None: ``per_upstream`` for each ready replica (at least one's)."""


class Outcome(IntEnum):
    PENDING = 0
    OK = 1
    REJECTED = 2
    """Refused at arrival: the queue was full."""
    UNFINISHED = 3
    """Still queued or in service when the run ended."""


@dataclass
class Replica:
    index: int
    name: str
    asked_at: float
    ready_at: float
    deleted: bool = False
    outstanding: int = 0
    """Requests sent to it and not finished: in service, waiting there, or in their overhead."""
    serving: bool = False
    overhead_s: float = 0.0
    """The overhead of the request in service, to wait out once the replica is done with it."""
    waiting: deque[int] = field(default_factory=deque)
    """The one in service first, then the ones waiting for it."""
    cpu_in_window: float = 0.0
    """CPU seconds of the requests it finished since the last metric sample."""

    def ready(self, now: float) -> bool:
        return not self.deleted and now >= self.ready_at


class Event(IntEnum):
    """Order among events at the same instant: finishes free forwarders before arrivals take them."""

    DONE = 0
    SERVED = 1
    READY = 2
    ARRIVAL = 3
    SAMPLE = 4
    TICK = 5
    SECOND = 6


@dataclass
class Result:
    """Per request (index = request id) and per second; times in simulated seconds from 0."""

    arrival: list[float]
    forwarded: list[float]
    """When a forwarder sent it to its replica (nan: never): the dispatcher's queue_ms ends here."""
    started: list[float]
    """When its replica began it (nan: never)."""
    done: list[float]
    replica: list[str]
    outcome: list[Outcome]
    seconds: list[dict[str, Any]]
    """Each second's queue depth, replicas ready and asked for, sampled at its end."""
    decisions: list[dict[str, Any]]
    replicas: list[Replica]
    samples: list[tuple[float, dict[str, int]]]
    """Each metric sample: when, and each ready replica's CPU over the window in millicores."""


@dataclass
class BusyMeter:
    """The dispatcher's busy-seconds counter and how the local backend reads it for the policies:
    the mean in flight since the last read (the counter's rate, as the chart's Prometheus query
    for KEDA takes it); at the first read, the count then. Both models keep one."""

    seconds: float = 0.0
    last_read: tuple[float, float] | None = None

    def read(self, now: float, in_flight_now: float) -> float:
        last, self.last_read = self.last_read, (now, self.seconds)
        if last is None or now <= last[0]:
            return in_flight_now
        return (self.seconds - last[1]) / (now - last[0])


class Simulation:
    def __init__(
        self,
        rates: Sequence[float],
        arrivals: Sequence[float],
        profile: ReplicaProfile,
        policy: Policy[Any],
        *,
        dispatcher: DispatcherModel | None = None,
        initial_replicas: int = 1,
        metric_resolution: float = 15.0,
        seed: int = 0,
        tick_phase: float | None = None,
        sample_phase: float | None = None,
    ) -> None:
        """``rates``: the workload's requests/s per second (the plan the oracle reads and the run's
        length); ``arrivals``: when each request is sent, in seconds from the start. The policy's
        first tick and the first metric sample come ``tick_phase`` and ``sample_phase`` seconds in:
        a real controller's clock is not aligned with the load's (None: drawn from the seed; a
        calibrated run gives its own)."""
        self.rates = list(rates)
        self.profile = profile
        self.policy = policy
        self.dispatcher = dispatcher or DispatcherModel()
        self.resolution = metric_resolution
        self.rng = random.Random(seed)
        self.events: list[tuple[float, int, int, int]] = []
        """(when, kind, order, item): at one instant by kind, then in the order pushed."""
        self._order = 0
        self.queue: deque[int] = deque()
        self.busy_forwarders = 0
        self.busy = BusyMeter()
        self._busy_at = 0.0
        """When ``busy`` was last brought up to date."""
        self.replicas: list[Replica] = []
        self.samples: dict[str, tuple[int, float]] = {}
        self.sampled_at = 0.0
        self.sample_log: list[tuple[float, dict[str, int]]] = []
        self.arrival: list[float] = []
        self.forwarded: list[float] = []
        self.started: list[float] = []
        self.done: list[float] = []
        self.served_by: list[str] = []
        self.replica_index: list[int] = []
        self._ready_cache: list[Replica] | None = None
        self.outcome: list[Outcome] = []
        self.seconds: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.desired = initial_replicas
        self.tick_phase = self.rng.uniform(0, policy.tick_seconds) if tick_phase is None else tick_phase
        self.sample_phase = self.rng.uniform(0, metric_resolution) if sample_phase is None else sample_phase
        self.arrivals = arrivals
        for _ in range(initial_replicas):
            self._add_replica(-profile.startup_s)  # ready at 0, as `up` leaves them

    # ---- the event loop -------------------------------------------------------------------------

    def run(self) -> Result:
        duration = float(len(self.rates))
        self._schedule_arrivals()
        self._push(self.sample_phase, Event.SAMPLE)
        self._push(self.tick_phase, Event.TICK)
        for second in range(1, len(self.rates) + 1):
            self._push(float(second), Event.SECOND)
        self.state = self.policy.start(0.0)
        while self.events:
            now, kind, _, item = heapq.heappop(self.events)
            if now > duration and kind in (Event.TICK, Event.SAMPLE):
                continue
            self._handle(now, Event(kind), item)
        for request, outcome in enumerate(self.outcome):
            if outcome == Outcome.PENDING:
                self.outcome[request] = Outcome.UNFINISHED
        return Result(self.arrival, self.forwarded, self.started, self.done, self.served_by, self.outcome,
                      self.seconds, self.decisions, self.replicas, self.sample_log)  # fmt: skip

    def _push(self, at: float, kind: Event, item: int = -1) -> None:
        self._order += 1
        heapq.heappush(self.events, (at, int(kind), self._order, item))

    def _handle(self, now: float, kind: Event, item: int) -> None:
        if kind == Event.ARRIVAL:
            self._arrive(now, item)
        elif kind == Event.SERVED:
            self._served(now, self.replicas[item])
        elif kind == Event.DONE:
            self._finish(now, item)
        elif kind == Event.READY:
            self._ready_cache = None
            self._dispatch(now)
        elif kind == Event.SAMPLE:
            self._sample(now)
            self._push(now + self.resolution, Event.SAMPLE)
        elif kind == Event.TICK:
            self._tick(now)
            self._push(now + self.policy.tick_seconds, Event.TICK)
        elif kind == Event.SECOND:
            self.seconds.append({
                "second": round(now) - 1,
                "queue_depth": len(self.queue),
                "in_flight": self.busy_forwarders,
                "replicas": sum(r.ready(now) for r in self.replicas),
                "provisioned": sum(not r.deleted for r in self.replicas),
                "desired_replicas": self.desired,
            })  # fmt: skip

    # ---- requests -------------------------------------------------------------------------------

    def _schedule_arrivals(self) -> None:
        for request, at in enumerate(self.arrivals):
            self.arrival.append(at)
            self.forwarded.append(math.nan)
            self.started.append(math.nan)
            self.done.append(math.nan)
            self.served_by.append("")
            self.replica_index.append(-1)
            self.outcome.append(Outcome.PENDING)
            self._push(at, Event.ARRIVAL, request)

    def _arrive(self, now: float, request: int) -> None:
        if len(self.queue) >= self.dispatcher.max_queue:
            self.outcome[request] = Outcome.REJECTED
            self.done[request] = now
            return
        self.queue.append(request)
        self._dispatch(now)

    def _forwarders(self, now: float) -> int:
        if self.dispatcher.concurrency is not None:
            return self.dispatcher.concurrency
        return self.dispatcher.per_upstream * max(1, len(self._ready(now)))

    def _dispatch(self, now: float) -> None:
        ready = self._ready(now)
        while self.queue and ready and self.busy_forwarders < self._forwarders(now):
            request = self.queue.popleft()
            replica = self._pick(ready)
            self._count_busy(now)
            self.busy_forwarders += 1
            replica.outstanding += 1
            self.served_by[request] = replica.name
            self.forwarded[request] = now
            self.replica_index[request] = replica.index
            replica.waiting.append(request)
            if not replica.serving:
                self._begin(now, replica)

    def _ready(self, now: float) -> list[Replica]:
        """The ready replicas; kept until one becomes ready or the count changes (per event, the
        scan over hundreds of replicas was most of the model's time)."""
        if self._ready_cache is None:
            self._ready_cache = [r for r in self.replicas if r.ready(now)]
        return self._ready_cache

    def _pick(self, ready: list[Replica]) -> Replica:
        """Two replicas drawn at random, the one with fewer outstanding (the dispatcher's pick)."""
        if len(ready) == 1:
            return ready[0]
        first, second = self.rng.sample(ready, 2)
        return second if second.outstanding < first.outstanding else first

    def _begin(self, now: float, replica: Replica) -> None:
        request = replica.waiting[0]
        replica.serving = True
        self.started[request] = now
        forward = self.rng.choice(self.profile.service_s)
        replica.overhead_s = forward * self.profile.overhead_share
        self._push(now + forward - replica.overhead_s, Event.SERVED, replica.index)

    def _served(self, now: float, replica: Replica) -> None:
        """The replica is free for its next request; this one completes after the overhead."""
        request, overhead = replica.waiting.popleft(), replica.overhead_s
        replica.serving = False
        replica.cpu_in_window += self.profile.cpu_s_per_request
        if replica.waiting:
            self._begin(now, replica)
        if overhead > 0:
            self._push(now + overhead, Event.DONE, request)
        else:
            self._finish(now, request)

    def _finish(self, now: float, request: int) -> None:
        self.done[request] = now
        self.outcome[request] = Outcome.OK
        self.replicas[self.replica_index[request]].outstanding -= 1
        self._count_busy(now)
        self.busy_forwarders -= 1
        self._dispatch(now)

    # ---- the metric pipeline and the policy -----------------------------------------------------

    def _sample(self, now: float) -> None:
        """Each ready replica's CPU over the window just ended, as metrics-server would report it."""
        self.samples = {}
        for replica in self.replicas:
            seconds, replica.cpu_in_window = replica.cpu_in_window, 0.0
            if not replica.ready(now):
                continue
            idle = self.profile.idle_cores * min(self.resolution, max(0.0, now - replica.ready_at))
            self.samples[replica.name] = (round((seconds + idle) / self.resolution * 1000), now)
        self.sampled_at = now
        self.sample_log.append((now, {name: milli for name, (milli, _) in self.samples.items()}))

    def pods(self, now: float) -> list[Pod]:
        return [
            cpu_pod(r.name, self.profile.request_milli, ready=r.ready(now),
                    ready_since=r.ready_at if r.ready(now) else r.asked_at, started_at=r.asked_at,
                    deleted=r.deleted)
            for r in self.replicas if not (r.deleted and r.outstanding == 0)
        ]  # fmt: skip

    def observed(self) -> Observed:
        usage = {name: pod_usage(milli, at, self.resolution) for name, (milli, at) in self.samples.items()}
        return Observed(usage, timestamp=self.sampled_at)

    def _count_busy(self, now: float) -> None:
        self.busy.seconds += self.busy_forwarders * (now - self._busy_at)
        self._busy_at = now

    def _tick(self, now: float) -> None:
        live = [r for r in self.replicas if not r.deleted]
        self._count_busy(now)
        load = len(self.queue) + self.busy.read(now, float(self.busy_forwarders))
        plan = Plan(tuple(self.rates), 0.0)
        snapshot = Snapshot(now, len(live), self.pods(now), self.observed(), load, plan)
        step, self.state = self.policy.step(snapshot, self.state)
        if step.desired != len(live):
            self._scale(now, len(live), step.desired)
            self.state = self.policy.scaled(self.state, len(live), step.desired, now)
        self.desired = step.desired
        if step.record is not None:
            self.decisions.append(step.record)

    def _scale(self, now: float, current: int, desired: int) -> None:
        self._ready_cache = None
        for _ in range(desired - current):
            self._add_replica(now)
        # Down: not-ready ones first, then the newest, as a ReplicaSet picks.
        live = [r for r in self.replicas if not r.deleted]
        for replica in sorted(live, key=lambda r: (r.ready(now), -r.asked_at))[: max(0, current - desired)]:
            replica.deleted = True
        self._dispatch(now)

    def _add_replica(self, now: float) -> None:
        index = len(self.replicas)
        replica = Replica(index, f"replica-{index + 1}", now, now + self.profile.startup_s)
        self.replicas.append(replica)
        if replica.ready_at > 0:
            self._push(replica.ready_at, Event.READY, index)
