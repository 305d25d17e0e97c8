from __future__ import annotations

import math

import pandas as pd

from mlscale.results import REQUEST_COLUMNS, frame
from mlscale.summary import summarize


def row(outcome: str, latency: float | None, replica: str | None = None) -> dict[str, object]:
    return {
        "id": f"r{latency}-{outcome}",
        "outcome": outcome,
        "latency_ms": latency,
        "latency_sent_ms": latency,
        "send_lag_ms": 1.0,
        "replica": replica,
    }


def test_counts_success_rate_and_ok_latency_only() -> None:
    rows = [row("ok", float(v), "a" if v % 2 else "b") for v in range(1, 101)]
    rows += [row("timeout", 9999.0), row("rejected", 3.0), row("lost", None)]
    stats = summarize(frame(rows, REQUEST_COLUMNS))
    assert stats["requests"] == 103
    assert stats["counts"]["ok"] == 100
    assert stats["counts"]["timeout"] == stats["counts"]["rejected"] == stats["counts"]["lost"] == 1
    assert stats["counts"]["error"] == 0
    assert math.isclose(stats["success_rate"], 100 / 103)
    latency = stats["latency_ms"]
    assert latency["count"] == 100
    assert latency["p50"] == 50.0
    assert latency["p99"] == 99.0
    assert latency["max"] == 100.0  # the 9999 ms timeout is not an ok latency
    assert stats["replicas_used"] == ["a", "b"]


def test_an_empty_run_has_no_latency_and_no_success_rate() -> None:
    stats = summarize(pd.DataFrame(columns=list(REQUEST_COLUMNS)).astype(REQUEST_COLUMNS))
    assert stats["requests"] == 0
    assert math.isnan(stats["success_rate"])
    assert stats["latency_ms"]["p50"] is None
