"""Overload: how cheap a rejection stays, and how fast /healthz and /stats answer, at 10x capacity.

One replica, a dispatcher with a queue of 20, open-loop load at ten times what the replica serves
(``harness/overload.py``). Baseline: the same probes against the same idle dispatcher before the load.
Issue 13's goals: 429 p99 <= 50 ms; /healthz and /stats p99 <= 100 ms.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from harness.overload import OverloadRun, overload, p99


def idle_baseline() -> dict[str, float]:
    """p99 of /healthz on an idle dispatcher (its own process, no upstream), 200 calls."""
    from harness.services import start_dispatcher

    with tempfile.TemporaryDirectory() as scratch:
        dispatcher = start_dispatcher(Path(scratch) / "d.log")
        try:
            times = []
            with httpx.Client(timeout=2) as client:
                for _ in range(200):
                    started = time.perf_counter()
                    client.get(f"{dispatcher.url}/healthz")
                    times.append((time.perf_counter() - started) * 1000)
        finally:
            dispatcher.stop()
    return {"healthz_p99_ms": p99(times)}


def main() -> None:
    baseline = idle_baseline()["healthz_p99_ms"]
    with tempfile.TemporaryDirectory() as scratch:
        run: OverloadRun = overload(Path(scratch))
    rejected = run.requests[run.requests["outcome"] == "rejected"]["enqueue_ms"]
    rows = [
        ("429 answers", p99(rejected), 50.0),
        ("/healthz", p99(run.probe_ms.get("/healthz", [])), 100.0),
        ("/stats", p99(run.probe_ms.get("/stats", [])), 100.0),
    ]
    print(f"load: {run.rate}/s = 10 x {run.capacity_rps:.1f}/s (one replica), {len(run.requests)} requests, "
          f"{len(rejected)} rejected; idle /healthz p99 {baseline:.2f} ms (baseline)")  # fmt: skip
    for name, value, goal in rows:
        verdict = "ok" if value <= goal else "OVER"
        print(
            f"  {name:12} p99 {value:7.1f} ms = {value / baseline:6.1f} x baseline"
            f"   goal <= {goal:.0f} ms: {verdict}"
        )
    if run.probe_failures:
        print(f"  probes that failed (2 s timeout): {run.probe_failures}")
