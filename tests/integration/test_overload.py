"""Overload at 10x one replica's capacity with a queue of 20: the dispatcher rejects cheaply, keeps
answering its health and stats, and every request's final row is what the dispatcher did with it
(issue 13: 148 requests it accepted and served were recorded as enqueue_error, and the load test
exited with 98 still queued). How fast it all stays is measured by ``nox -s bench -- overload``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from harness.overload import OVERLOAD, overload, p99
from mlscale.results import DISPATCHER_OUTCOMES


def test_every_row_matches_what_the_dispatcher_did(tmp_path: Path) -> None:
    run = overload(tmp_path)
    rows = run.requests
    stats = run.dispatcher_stats
    outcomes = Counter(rows["outcome"])
    assert len(rows) == round(run.rate * 15)
    # Everything the dispatcher accepted has its outcome row; everything it refused is "rejected".
    assert sum(outcomes[o] for o in DISPATCHER_OUTCOMES) == stats["accepted"]
    assert {o: outcomes[o] for o in DISPATCHER_OUTCOMES} == {
        o: stats["outcomes"][o] for o in DISPATCHER_OUTCOMES
    }
    assert outcomes["rejected"] == stats["rejected"] > 0  # it was overloaded
    assert outcomes["enqueue_error"] == 0, rows[rows["outcome"] == "enqueue_error"][
        "enqueue_error"
    ].value_counts()
    assert outcomes["lost"] == 0
    assert stats["queue_depth"] == 0  # the load test waited for the queue to drain
    # Health and stats answered all along (2 s timeout each).
    assert run.probe_failures == {}
    assert len(run.probe_ms["/healthz"]) >= 15 * 5
    print(
        f"\n{OVERLOAD}x of {run.capacity_rps:.1f}/s = {run.rate}/s: 429 p99 "
        f"{p99(rows[rows['outcome'] == 'rejected']['enqueue_ms']):.1f} ms, /healthz p99 "
        f"{p99(run.probe_ms['/healthz']):.1f} ms, /stats p99 {p99(run.probe_ms['/stats']):.1f} ms"
    )
