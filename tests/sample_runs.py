"""A made-up but complete run directory, written by mlscale's own writer, for report tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlscale.results import write_run

START = 1_790_000_000.0


def write_sample_run(run_dir: Path, *, slow: bool = True, partial: bool = False) -> Path:
    """60 s: 10/s, then 30/s from second 30; latency 1.5 s in seconds 30-39 when ``slow``; one
    replica, three ready from second 40; two timeouts and one rejection in seconds 50-52."""
    run_dir.mkdir(parents=True)
    requests: list[dict[str, Any]] = []
    for second in range(60):
        rate = 10 if second < 30 else 30
        for i in range(rate):
            intended = START + second + i / rate
            latency = 1500.0 if slow and 30 <= second < 40 else 100.0
            requests.append({
                "id": f"s{second}-{i}", "image": "chelsea.png", "intended_at": intended,
                "sent_at": intended + 0.001, "send_lag_ms": 1.0, "enqueue_status": 202, "enqueue_ms": 1.0,
                "outcome": "ok", "status": 200, "replica": "replica-1", "attempts": 1,
                "queue_ms": latency - 60.0, "infer_ms": 50.0, "dispatcher_total_ms": latency - 5,
                "completed_at": intended + latency / 1000, "latency_ms": latency,
                "latency_sent_ms": latency - 1.0,
            })  # fmt: skip
    for row in (requests[900], requests[930]):  # one in each of seconds 50 and 51: within the SLO
        row.update(outcome="timeout", error="timeout", status=None, latency_ms=30_000.0)
        row["completed_at"] = row["intended_at"] + 30
    requests[960].update(outcome="rejected", enqueue_status=429, status=429, latency_ms=2.0)
    timeline = []
    for second in range(60):
        done = [r for r in requests if int(r["completed_at"] - START) == second and r["outcome"] == "ok"]
        latencies = sorted(r["latency_ms"] for r in done) or [float("nan")]
        timeline.append({
            "second": second, "intended": 10 if second < 30 else 30, "sent": 10 if second < 30 else 30,
            "accepted": 10 if second < 30 else 30, "completed_ok": len(done), "completed_error": 0,
            "completed_timeout": 0, "completed_dropped": 0, "rejected": 0, "enqueue_errors": 0,
            "latency_p50_ms": latencies[len(latencies) // 2], "latency_p95_ms": latencies[-1],
            "latency_p99_ms": latencies[-1], "queue_depth": 40 if 30 <= second < 40 else 0,
            "replicas": 1 if second < 40 else 3, "desired_replicas": 1 if second < 33 else 3,
            "cpu_utilization": 150.0 if 30 <= second < 40 else 45.0,
        })  # fmt: skip
    replicas = [
        {"second": s, "replica": f"replica-{n}", "ready": n == 1 or s >= 40, "cpu_utilization": 60.0}
        for s in range(60)
        for n in (1, 2, 3)
        if n == 1 or s >= 33
    ]
    meta = {
        "workload": {"name": "sample", "rates": [10] * 30 + [30] * 30},
        "options": {"step_seconds": 1.0, "scale": 1.0},
        "start_at": START,
        "end_at": START + 65,
        "partial": partial,
        "planned_requests": len(requests),
        "send": {"sent": len(requests), "late": 0, "lag_p50_ms": 1.0, "lag_p99_ms": 1.0},
        "system": {"backend": "local", "time_scale": 0.2, "target_cpu_utilization": 70, "max_replicas": 5},
        "autoscaler": [
            {"at": START + 33.2, "current": 1, "desired": 3, "utilization": 150, "reason": "cpu utilization"},
            {
                "at": START + 36.2,
                "current": 3,
                "desired": 3,
                "utilization": 140,
                "reason": "within tolerance",
            },
        ],
        "written": time.time(),
    }
    write_run(run_dir, requests, timeline, meta, replicas)
    return run_dir
