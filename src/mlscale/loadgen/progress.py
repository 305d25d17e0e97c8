"""A load test's progress as one snapshot: what the live view draws, second by second.

The per-second figures are of the last whole second; latency percentiles and each replica's
requests served are of the last 10 s (outcomes that came back ok, from the HDR histogram).
Everything comes from what the load test holds: the requests it sent, the outcomes reported, and
the samples of the system it took each second (``sampler``), so a recorded run replays the same.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlscale.loadgen.merge import MAX_LATENCY_US, new_histogram, percentile_ms
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


def late_count(sent: Iterable[SentRequest], late_ms: float) -> int:
    return sum(1 for r in sent if (r.sent_at - r.intended_at) * 1000 > late_ms)


def replica_state(sample: dict[str, Any]) -> str:
    if sample.get("terminating"):
        return "terminating"
    return "ready" if sample.get("ready") else "starting"


def _sent_counts(sent: list[SentRequest], start_at: float, second: int) -> tuple[dict[str, int], int]:
    last = {"sent": 0, "accepted": 0, "refused": 0}
    refused = 0
    for request in sent:
        answered = request.enqueue_status is not None and request.enqueue_status != 202
        refused += answered
        if int(request.sent_at - start_at) == second:
            last["sent"] += 1
            last["accepted"] += request.enqueue_status == 202
            last["refused"] += answered
    return last, refused


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


def snapshot(
    now: float,
    start_at: float,
    planned: list[float],
    sent: list[SentRequest],
    outcomes: Iterable[dict[str, Any]],
    samples: dict[int, dict[str, Any]],
    late_ms: float,
    system: dict[str, Any] | None = None,
) -> LiveSnapshot:
    second = int(now - start_at) - 1
    window = new_histogram()
    ok_per_second: Counter[int] = Counter()
    last, refused = _sent_counts(sent, start_at, second)
    last.update(intended=intended_in(planned, second), completed=0, failed=last["refused"])
    served: Counter[str] = Counter()
    totals = {"ok": 0, "failed": refused}
    for record in outcomes:
        done = float(record["finished_at"])
        ok = record["outcome"] == "ok"
        totals["ok" if ok else "failed"] += 1
        ok_per_second[int(done - start_at)] += ok
        if now - done <= WINDOW_S and ok:
            served[str(record.get("replica"))] += 1
            if record.get("sent_at"):
                window.record_value(min(MAX_LATENCY_US, max(1, int((done - float(record["sent_at"])) * 1e6))))
        if int(done - start_at) == second:
            last["completed" if ok else "failed"] += 1
    sample = samples.get(second, {}) or samples.get(second - 1, {})
    recent = range(second - HISTORY_S + 1, second + 1)
    return LiveSnapshot(
        elapsed=now - start_at,
        duration=planned[-1] if planned else 0.0,
        sent=len(sent),
        total=len(planned),
        late=late_count(sent, late_ms),
        last_second=last,
        p50_ms=percentile_ms(window, 50),
        p95_ms=percentile_ms(window, 95),
        p99_ms=percentile_ms(window, 99),
        queue_depth=sample.get("queue_depth"),
        backend={k: sample[k] for k in BACKEND_KEYS if k in sample} or None,
        ok_total=totals["ok"],
        failed_total=totals["failed"],
        history=_history(recent, samples, planned, ok_per_second),
        replicas=[
            ReplicaLine(
                id=str(r["replica"]),
                state=replica_state(r),
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
