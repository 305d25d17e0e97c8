"""A load test's progress as one snapshot: what the live view draws, and what ``--serve`` reports.

The per-second figures are of the last whole second; latency percentiles of the last 10 s
(outcomes that came back ok, from the HDR histogram).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlscale.loadgen.merge import MAX_LATENCY_US, new_histogram, percentile_ms
from mlscale.loadgen.sender import SentRequest

BACKEND_KEYS = ("replicas", "desired_replicas", "cpu_utilization", "restarts")


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


def late_count(sent: Iterable[SentRequest], late_ms: float) -> int:
    return sum(1 for r in sent if (r.sent_at - r.intended_at) * 1000 > late_ms)


def snapshot(
    now: float,
    start_at: float,
    planned: list[float],
    sent: list[SentRequest],
    outcomes: Iterable[dict[str, Any]],
    samples: dict[int, dict[str, Any]],
    late_ms: float,
) -> LiveSnapshot:
    second = int(now - start_at) - 1
    window = new_histogram()
    last = {"intended": 0, "sent": 0, "accepted": 0, "completed": 0, "failed": 0}
    for request in sent:
        if int(request.sent_at - start_at) == second:
            last["sent"] += 1
            last["accepted"] += request.enqueue_status == 202
        if int(request.intended_at - start_at) == second:
            last["intended"] += 1
    for record in outcomes:
        done = float(record["finished_at"])
        if now - done <= 10 and record["outcome"] == "ok" and record.get("sent_at"):
            window.record_value(min(MAX_LATENCY_US, max(1, int((done - float(record["sent_at"])) * 1e6))))
        if int(done - start_at) == second:
            last["completed" if record["outcome"] == "ok" else "failed"] += 1
    sample = samples.get(second, {}) or samples.get(second - 1, {})
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
    )
