"""Pure: the sent requests and the reported outcomes -> one final row per request, and the timeline."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from hdrh.histogram import HdrHistogram

from mlscale.loadgen.sender import SentRequest, as_row

MAX_LATENCY_US = 3_600_000_000  # one hour: anything slower is clamped


def final_rows(sent: list[SentRequest], outcomes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per sent request: its dispatcher outcome, ``rejected``, ``enqueue_error`` or ``lost``.

    An enqueue that got no answer at all (a client timeout, a reset) may still have been queued:
    if its outcome arrives, that outcome is its row, not an ``enqueue_error`` (an overloaded
    dispatcher once served 148 such requests that were counted as failures). A definite refusal
    (429, 4xx) was never queued, so an outcome under its id is ignored.
    """
    rows = []
    for request in sent:
        row = as_row(request)
        unanswered = request.enqueue_status is None
        record = outcomes.get(request.id) if request.enqueue_status == 202 or unanswered else None
        if record is not None:
            completed = float(record["finished_at"])
            row.update(
                outcome=record["outcome"],
                status=record.get("status"),
                error=record.get("error"),
                replica=record.get("replica"),
                attempts=record.get("attempts"),
                queue_ms=record.get("queue_ms"),
                infer_ms=record.get("infer_ms"),
                dispatcher_total_ms=record.get("total_ms"),
                completed_at=completed,
            )
        elif request.enqueue_status == 202:
            row.update(outcome="lost", error="no outcome reported")
        else:
            answered = request.sent_at + (request.enqueue_ms or 0.0) / 1000
            row.update(
                outcome="rejected" if request.enqueue_status == 429 else "enqueue_error",
                status=request.enqueue_status,
                error=request.enqueue_error,
                completed_at=answered,
            )
        if row.get("completed_at") is not None:
            row["latency_ms"] = (row["completed_at"] - request.intended_at) * 1000
            row["latency_sent_ms"] = (row["completed_at"] - request.sent_at) * 1000
        rows.append(row)
    return rows


def record_ms(histogram: HdrHistogram, latency_ms: float) -> None:
    """One latency into ``histogram``, clamped to its range (1 µs to ``MAX_LATENCY_US``)."""
    histogram.record_value(min(MAX_LATENCY_US, max(1, int(latency_ms * 1000))))


def percentile_ms(histogram: HdrHistogram, q: float) -> float:
    return histogram.get_value_at_percentile(q) / 1000 if histogram.get_total_count() else math.nan


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_LATENCY_US, 3)


def timeline_rows(
    rows: list[dict[str, Any]], start_at: float, samples: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per second of the run: what was intended, sent, accepted and completed in it.

    Completions count in the second they completed; latency percentiles are of the ``ok``
    requests that completed in that second, from their intended send time.
    """
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latency: dict[int, HdrHistogram] = defaultdict(new_histogram)
    for row in rows:
        counts[int(row["intended_at"] - start_at)]["intended"] += 1
        counts[int(row["sent_at"] - start_at)]["sent"] += 1
        if row["enqueue_status"] == 202:
            counts[int(row["sent_at"] - start_at)]["accepted"] += 1
        if row.get("completed_at") is None:
            continue
        second = int(row["completed_at"] - start_at)
        outcome = row["outcome"]
        if outcome == "rejected":
            counts[second]["rejected"] += 1
        elif outcome == "enqueue_error":
            counts[second]["enqueue_errors"] += 1
        else:
            counts[second][f"completed_{outcome}"] += 1
        if outcome == "ok":
            record_ms(latency[second], row["latency_ms"])
    last = max([*counts, *samples], default=-1)
    timeline = []
    for second in range(0, last + 1):
        c = counts.get(second, {})
        sample = samples.get(second, {})
        histogram = latency.get(second) or new_histogram()
        timeline.append(
            {
                "second": second,
                **{
                    k: c.get(k, 0)
                    for k in (
                        "intended",
                        "sent",
                        "accepted",
                        "completed_ok",
                        "completed_error",
                        "completed_timeout",
                        "completed_dropped",
                        "rejected",
                        "enqueue_errors",
                    )
                },
                "latency_p50_ms": percentile_ms(histogram, 50),
                "latency_p95_ms": percentile_ms(histogram, 95),
                "latency_p99_ms": percentile_ms(histogram, 99),
                "queue_depth": sample.get("queue_depth"),
                "replicas": sample.get("replicas"),
                "desired_replicas": sample.get("desired_replicas"),
                "cpu_utilization": sample.get("cpu_utilization"),
                "restarts": sample.get("restarts"),
            }
        )
    return timeline
