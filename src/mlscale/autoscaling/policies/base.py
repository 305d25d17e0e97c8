"""What every autoscaling policy is: a pure step from what it sees to the count it asks for.

A policy is a frozen config with three pure methods: ``start`` (its first state), ``step``
(a ``Snapshot`` of the system and its state in; the count to scale to, the record of what it
decided, and its next state out) and ``scaled`` (told that the target was rescaled, for the
policies that remember rescales). The controller owns the clock and the I/O and calls ``step``
every ``tick_seconds``; a policy whose own period is longer (the HPA's 15 s sync, KEDA's
polling interval) keeps its next due time in its state and returns no record between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from mlscale.autoscaling.metrics import Observed
from mlscale.autoscaling.replicas import Pod


class PolicyName(StrEnum):
    CPU = "cpu"
    QUEUE = "queue"
    KPA = "kpa"
    ORACLE = "oracle"


POLICY_NAMES = tuple(p.value for p in PolicyName)


@dataclass(frozen=True)
class Plan:
    """The workload the load tester is sending: requests/s of each second from ``start_at`` on."""

    rates: tuple[float, ...]
    start_at: float


@dataclass(frozen=True)
class Snapshot:
    """What a policy sees at one tick."""

    now: float
    current: int
    """The target's spec.replicas: the count last asked for."""
    pods: Sequence[Pod] = ()
    observed: Observed = field(default_factory=Observed)
    load: float | None = None
    """The dispatcher's queue depth plus its requests in flight: the work waiting for or in
    service (KEDA's queue metric, Knative's observed concurrency); None: not read."""
    plan: Plan | None = None

    @property
    def ready(self) -> int:
        return sum(1 for p in self.pods if p.ready and not p.deleted)

    @property
    def status_replicas(self) -> int:
        return sum(1 for p in self.pods if not p.deleted)


@dataclass(frozen=True)
class Step:
    desired: int
    """The count to scale to (the current one when nothing changes)."""
    record: dict[str, Any] | None
    """What the policy decided this tick, for run.json and the report; None: nothing was due."""


S = TypeVar("S")


class Policy(Protocol[S]):
    @property
    def name(self) -> str: ...

    @property
    def tick_seconds(self) -> float:
        """How often the controller calls ``step`` (already multiplied by the time scale)."""
        ...

    @property
    def reads_load(self) -> bool:
        """Whether ``step`` needs ``Snapshot.load`` (the controller reads the dispatcher for it)."""
        ...

    def start(self, now: float) -> S: ...

    def step(self, snapshot: Snapshot, state: S) -> tuple[Step, S]: ...

    def scaled(self, state: S, before: int, after: int, now: float) -> S: ...


def record(snapshot: Snapshot, policy: str, desired: int, reason: str, **details: Any) -> dict[str, Any]:
    """The common shape of a decision record (the HPA's ``Decision`` fields the report reads)."""
    return {
        "at": snapshot.now,
        "policy": policy,
        "current": snapshot.current,
        "desired": desired,
        "reason": reason,
        "utilization": details.pop("utilization", None),
        "recommended": details.pop("recommended", desired),
        "stabilized": details.pop("stabilized", desired),
        "metric": details.pop("metric", ""),
        **details,
    }
