from __future__ import annotations

import math

import pytest

from mlscale.loadgen.merge import final_rows, timeline_rows
from mlscale.loadgen.sender import SentRequest

START = 1000.0


def sent(i: int, offset: float, status: int | None, error: str | None = None) -> SentRequest:
    return SentRequest(
        f"r-{i}",
        "a.png",
        START + offset,
        sent_at=START + offset + 0.002,
        enqueue_status=status,
        enqueue_error=error,
        enqueue_ms=1.0,
    )


def outcome(i: int, finished: float, kind: str = "ok") -> dict[str, object]:
    return {
        "id": f"r-{i}",
        "outcome": kind,
        "status": 200,
        "error": None,
        "replica": "x",
        "attempts": 1,
        "queue_ms": 5.0,
        "infer_ms": 20.0,
        "total_ms": 25.0,
        "finished_at": START + finished,
    }


def test_every_sent_request_gets_exactly_one_final_row() -> None:
    requests = [
        sent(0, 0.1, 202),
        sent(1, 0.2, 202),
        sent(2, 0.3, 429, "http_429"),
        sent(3, 0.4, None, "ClientConnectorError"),
        sent(4, 1.1, 202),
    ]
    rows = final_rows(requests, {"r-0": outcome(0, 0.5), "r-4": outcome(4, 1.6, "timeout")})
    assert [r["outcome"] for r in rows] == ["ok", "lost", "rejected", "enqueue_error", "timeout"]
    assert rows[0]["latency_ms"] == pytest.approx(400.0)
    assert rows[0]["latency_sent_ms"] == pytest.approx(398.0)
    assert "latency_ms" not in rows[1]  # lost: no completion time, no latency


def test_an_outcome_for_a_refused_request_is_ignored() -> None:
    rows = final_rows([sent(0, 0.1, 429)], {"r-0": outcome(0, 0.5)})
    assert rows[0]["outcome"] == "rejected"


def test_timeline_counts_by_second_and_latency_percentiles() -> None:
    requests = [sent(i, 0.1 * i, 202) for i in range(10)] + [sent(10, 1.5, 429)]
    outcomes = {f"r-{i}": outcome(i, 0.1 * i + 0.05 * (i + 1)) for i in range(10)}
    rows = final_rows(requests, outcomes)
    timeline = timeline_rows(rows, START, {0: {"queue_depth": 3}})
    assert [t["intended"] for t in timeline] == [10, 1]
    assert [t["accepted"] for t in timeline] == [10, 0]
    assert sum(t["completed_ok"] for t in timeline) == 10
    assert timeline[1]["rejected"] == 1
    assert timeline[0]["queue_depth"] == 3
    assert timeline[1]["queue_depth"] is None
    second0 = [r["latency_ms"] for r in rows if r["outcome"] == "ok" and r["completed_at"] < START + 1]
    ordered = sorted(second0)
    assert (
        ordered[len(ordered) // 2 - 1] * 0.99
        <= timeline[0]["latency_p50_ms"]
        <= ordered[len(ordered) // 2] * 1.01
    )
    assert timeline[0]["latency_p99_ms"] == pytest.approx(max(second0), rel=0.01)
    second1_ok = [r for r in rows if r["outcome"] == "ok" and r["completed_at"] >= START + 1]
    assert timeline[1]["completed_ok"] == len(second1_ok)
    assert math.isnan(timeline[1]["latency_p50_ms"]) == (not second1_ok)
