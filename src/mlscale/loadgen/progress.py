"""A load test's progress as one snapshot: what the live view draws, second by second.

The per-second figures are of the last whole second; latency percentiles and each replica's
requests served are of the last 10 s (outcomes that came back ok, from the HDR histogram).
Everything comes from what the load test holds: the requests it sent, the outcomes reported, and
the samples of the system it took each second (``sampler``), so a recorded run replays the same.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlscale.loadgen.merge import new_histogram, percentile_ms, record_ms
from mlscale.loadgen.sender import SentRequest

BACKEND_KEYS = ("replicas", "desired_replicas", "cpu_utilization", "restarts")
WINDOW_S = 10
"""Latency percentiles and per-replica requests served are of this many last seconds."""
HISTORY_S = 60
"""The live view's histories (sparklines) reach this many seconds back."""
HISTORY_KEYS = ("intended", "ok", "queue_depth", "replicas", "cpu_utilization")


@dataclass(frozen=True)
class ReplicaLine:
    """One replica as the live view lists it."""

    id: str
    state: str
    """ready, starting or terminating."""
    cpu_utilization: float | None
    """Percent of its CPU request over the backend's last metric window."""
    served: int
    """Requests it answered ok in the last ``WINDOW_S`` seconds."""
    restarts: int = 0


@dataclass
class LiveSnapshot:
    elapsed: float
    duration: float
    sent: int
    total: int
    late: int
    last_second: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    queue_depth: int | None
    backend: dict[str, Any] | None
    ok_total: int = 0
    failed_total: int = 0
    """Dispatcher failures (error, timeout, dropped) and refusals at /enqueue so far."""
    history: dict[str, list[float | None]] = field(default_factory=dict)
    """Each of ``HISTORY_KEYS`` for each of the last ``HISTORY_S`` whole seconds, oldest first:
    requests intended and answered ok, and the samples' queue depth, ready replicas and mean CPU
    (None: no sample that second)."""
    replicas: list[ReplicaLine] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """The autoscaler's decisions seen in the last ``HISTORY_S`` seconds' samples, oldest first
    (a backend's decision records): the last is its latest."""
    system: dict[str, Any] = field(default_factory=dict)
    """The system under test as ``probe.describe()`` gives it: policy, target, replica bounds."""
    taken_at: float = 0.0
    """Epoch seconds of the snapshot: what "12 s ago" is counted from."""


def is_late(request: SentRequest, late_ms: float) -> bool:
    return (request.sent_at - request.intended_at) * 1000 > late_ms


def late_count(sent: Iterable[SentRequest], late_ms: float) -> int:
    return sum(1 for r in sent if is_late(r, late_ms))


def intended_in(planned: list[float], second: int) -> int:
    """Requests the schedule (sorted offsets) puts in ``second``, sent or not."""
    return bisect.bisect_left(planned, second + 1) - bisect.bisect_left(planned, second)


def _history(
    seconds: range, samples: dict[int, dict[str, Any]], planned: list[float], ok: Counter[int]
) -> dict[str, list[float | None]]:
    sampled = {key: [samples.get(s, {}).get(key) for s in seconds] for key in HISTORY_KEYS[2:]}
    intended: list[float | None] = [intended_in(planned, s) if s >= 0 else None for s in seconds]
    return {"intended": intended, "ok": [ok[s] if s >= 0 else None for s in seconds], **sampled}


def _decisions(seconds: range, samples: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[float, dict[str, Any]] = {}
    for s in seconds:
        decision = samples.get(s, {}).get("last_decision")
        if decision:
            seen[float(decision["at"])] = decision
    return [seen[at] for at in sorted(seen)]


class Tally:
    """What the snapshots count, kept from what is new since the last one: the requests sent and
    the outcomes reported are lists that only grow. Recounting all of them every second grows
    with the run (11 ms at 4,000 requests; a second at 360,000), on the event loop that sends."""

    def __init__(self, start_at: float, late_ms: float) -> None:
        self.start_at, self.late_ms = start_at, late_ms
        self.sent_seen = self.outcomes_seen = 0
        self.unanswered: list[SentRequest] = []
        """Sent, their /enqueue not answered yet."""
        self.late = self.refused = self.ok = self.failed = 0
        self.per_second: dict[str, Counter[int]] = {
            k: Counter() for k in ("sent", "accepted", "refused", "completed", "failed")
        }
        self.recent: deque[tuple[float, float | None, str]] = deque()
        """(finished, sent, replica) of each ok outcome of the last ``WINDOW_S`` seconds."""

    def _second(self, at: float) -> int:
        return int(at - self.start_at)

    def _count_sent(self, sent: Sequence[SentRequest]) -> None:
        for request in sent[self.sent_seen :]:
            self.per_second["sent"][self._second(request.sent_at)] += 1
            self.late += is_late(request, self.late_ms)
            self.unanswered.append(request)
        self.sent_seen = len(sent)
        waiting = []
        for request in self.unanswered:
            if request.enqueue_status is None and request.enqueue_error is None:
                waiting.append(request)
            elif request.enqueue_status == 202:
                self.per_second["accepted"][self._second(request.sent_at)] += 1
            elif request.enqueue_status is not None:  # refused; one never answered may yet have an outcome
                self.per_second["refused"][self._second(request.sent_at)] += 1
                self.refused += 1
        self.unanswered = waiting

    def _count_outcomes(self, outcomes: Iterable[dict[str, Any]]) -> None:
        for record in itertools.islice(outcomes, self.outcomes_seen, None):
            self.outcomes_seen += 1
            done = float(record["finished_at"])
            ok = record["outcome"] == "ok"
            self.ok += ok
            self.failed += not ok
            self.per_second["completed" if ok else "failed"][self._second(done)] += 1
            if ok:
                sent_at = record.get("sent_at")
                self.recent.append(
                    (done, None if sent_at is None else float(sent_at), str(record.get("replica")))
                )

    def snapshot(
        self,
        now: float,
        planned: list[float],
        sent: Sequence[SentRequest],
        outcomes: Iterable[dict[str, Any]],
        samples: dict[int, dict[str, Any]],
        system: dict[str, Any] | None = None,
    ) -> LiveSnapshot:
        """``sent`` and ``outcomes`` in the order they came, each the same list grown since the last call."""
        self._count_sent(sent)
        self._count_outcomes(outcomes)
        while self.recent and now - self.recent[0][0] > WINDOW_S:
            self.recent.popleft()
        window = new_histogram()
        served: Counter[str] = Counter()
        for done, sent_at, replica in self.recent:
            served[replica] += 1
            if sent_at:
                record_ms(window, (done - sent_at) * 1000)
        second = self._second(now) - 1
        last = {name: counts[second] for name, counts in self.per_second.items()}
        last["failed"] += last["refused"]
        last["intended"] = intended_in(planned, second)
        sample = samples.get(second, {}) or samples.get(second - 1, {})
        recent = range(second - HISTORY_S + 1, second + 1)
        return LiveSnapshot(
            elapsed=now - self.start_at,
            duration=planned[-1] if planned else 0.0,
            sent=len(sent),
            total=len(planned),
            late=self.late,
            last_second=last,
            p50_ms=percentile_ms(window, 50),
            p95_ms=percentile_ms(window, 95),
            p99_ms=percentile_ms(window, 99),
            queue_depth=sample.get("queue_depth"),
            backend={k: sample[k] for k in BACKEND_KEYS if k in sample} or None,
            ok_total=self.ok,
            failed_total=self.failed + self.refused,
            history=_history(recent, samples, planned, self.per_second["completed"]),
            replicas=[
                ReplicaLine(
                    id=str(r["replica"]),
                    state=r["state"],
                    cpu_utilization=r.get("cpu_utilization"),
                    served=served[str(r["replica"])],
                    restarts=int(r.get("restarts") or 0),
                )
                for r in sample.get("replica_samples", [])
            ],
            decisions=_decisions(recent, samples),
            system=system or {},
            taken_at=now,
        )


def snapshot(
    now: float,
    start_at: float,
    planned: list[float],
    sent: Sequence[SentRequest],
    outcomes: Iterable[dict[str, Any]],
    samples: dict[int, dict[str, Any]],
    late_ms: float,
    system: dict[str, Any] | None = None,
) -> LiveSnapshot:
    """One snapshot counted from scratch (a ``Tally`` of its own)."""
    return Tally(start_at, late_ms).snapshot(now, planned, sent, outcomes, samples, system)
