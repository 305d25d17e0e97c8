"""A simulation as a run directory, in the format of a measured one (``results.py``), so that
``mlscale report`` and ``report --compare`` read it unchanged; run.json says ``"simulated": true``.

Simulated seconds become epoch seconds from ``start_at``. The timeline is built by the load
tester's own ``timeline_rows`` from the request rows and the per-second samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlscale.loadgen.merge import timeline_rows
from mlscale.results import write_run
from mlscale.simulate.engine import Outcome, Result

OUTCOME_NAMES = {Outcome.OK: "ok", Outcome.REJECTED: "rejected", Outcome.UNFINISHED: "dropped"}


def request_rows(result: Result, start_at: float) -> list[dict[str, Any]]:
    rows = []
    for request, arrival in enumerate(result.arrival):
        outcome = result.outcome[request]
        intended = start_at + arrival
        done = result.done[request]
        forwarded = result.forwarded[request]
        row: dict[str, Any] = {
            "id": f"sim-{request}",
            "image": None,
            "intended_at": intended,
            "sent_at": intended,
            "send_lag_ms": 0.0,
            "enqueue_status": 429 if outcome == Outcome.REJECTED else 202,
            "enqueue_error": "queue_full" if outcome == Outcome.REJECTED else None,
            "enqueue_ms": 0.0,
            "outcome": OUTCOME_NAMES[outcome],
            "status": 200 if outcome == Outcome.OK else None,
            "error": "the run ended before it was served" if outcome == Outcome.UNFINISHED else None,
            "replica": result.replica[request] or None,
            "attempts": 1 if outcome == Outcome.OK else None,
            "queue_ms": _ms(forwarded - arrival),
            "infer_ms": _ms(done - forwarded) if outcome == Outcome.OK else None,
            "dispatcher_total_ms": _ms(done - arrival) if outcome == Outcome.OK else None,
            "completed_at": None if math.isnan(done) else start_at + done,
            "latency_ms": None,
            "latency_sent_ms": None,
        }
        if row["completed_at"] is not None:
            row["latency_ms"] = row["latency_sent_ms"] = (done - arrival) * 1000
        rows.append(row)
    return rows


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else seconds * 1000


def second_samples(result: Result, request_milli: int) -> dict[int, dict[str, Any]]:
    """Each second's queue, replicas and mean CPU utilization (the latest samples, % of request)."""
    by_second: dict[int, dict[str, Any]] = {}
    samples = iter(result.samples)
    latest: Mapping[str, int] = {}
    upcoming = next(samples, None)
    for row in result.seconds:
        end = row["second"] + 1
        while upcoming is not None and upcoming[0] <= end:
            latest = upcoming[1]
            upcoming = next(samples, None)
        utilization = (sum(latest.values()) / len(latest) / request_milli * 100) if latest else None
        by_second[row["second"]] = {**row, "cpu_utilization": utilization, "restarts": 0}
    return by_second


def replica_rows(result: Result, start_at: float, request_milli: int) -> list[dict[str, Any]]:
    rows = []
    samples = list(result.samples)
    for row in result.seconds:
        end = row["second"] + 1
        latest = next((s for at, s in reversed(samples) if at <= end), {})
        for replica in result.replicas:
            if replica.asked_at > end or (replica.deleted and replica.outstanding == 0 and
                                          replica.name not in latest):  # fmt: skip
                continue
            milli = latest.get(replica.name)
            rows.append({
                "second": row["second"],
                "replica": replica.name,
                "ready": replica.ready(end),
                "cpu_utilization": None if milli is None else milli / request_milli * 100,
                "restarts": 0,
                "created_at": start_at + replica.asked_at,
                "started_at": start_at + replica.asked_at,
                "ready_at": start_at + replica.ready_at,
            })  # fmt: skip
    return rows


def write(result: Result, run_dir: Path, meta: dict[str, Any], start_at: float, request_milli: int) -> None:
    requests = request_rows(result, start_at)
    timeline = timeline_rows(requests, start_at, second_samples(result, request_milli))
    decisions = [{**d, "at": start_at + d["at"]} for d in result.decisions]
    full = {**meta, "simulated": True, "start_at": start_at, "autoscaler": decisions,
            "requests": len(requests), "planned_requests": len(requests)}  # fmt: skip
    write_run(run_dir, requests, timeline, full, replica_rows(result, start_at, request_milli))
