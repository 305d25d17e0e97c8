"""Pure: a run's requests -> the statistics a person asks first (counts, success rate, latency).

Used by ``mlscale report`` (``stats.json``), ``POST /generateReport`` and the CLI's closing table.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mlscale.results import FINAL_OUTCOMES

PERCENTILES = (50, 90, 95, 99, 99.9)


def nearest_rank(ordered: list[float], q: float) -> float:
    """The q-th percentile as the smallest value with at least q % of values at or below it."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _latency(values: pd.Series) -> dict[str, float | None]:
    clean = values.dropna().astype(float).sort_values()
    if clean.empty:
        return {"count": 0, "mean": None, "min": None, "max": None, **{f"p{q:g}": None for q in PERCENTILES}}
    return {
        "count": int(clean.size),
        "mean": float(clean.mean()),
        "min": float(clean.min()),
        "max": float(clean.max()),
        **{f"p{q:g}": nearest_rank(clean.tolist(), q) for q in PERCENTILES},
    }


def summarize(requests: pd.DataFrame) -> dict[str, Any]:
    """Counts by outcome, success rate, and latency of the ``ok`` requests (from the intended time)."""
    counts = {outcome: 0 for outcome in FINAL_OUTCOMES}
    for outcome, n in requests["outcome"].value_counts().items():
        counts[str(outcome)] = int(n)
    total = len(requests)
    ok = requests[requests["outcome"] == "ok"]
    lag = sorted(requests["send_lag_ms"].dropna().astype(float).tolist())
    return {
        "requests": total,
        "counts": counts,
        "success_rate": counts["ok"] / total if total else math.nan,
        "latency_ms": _latency(ok["latency_ms"]),
        "latency_from_sent_ms": _latency(ok["latency_sent_ms"]),
        "queue_ms": _latency(ok["queue_ms"]),
        "infer_ms": _latency(ok["infer_ms"]),
        "send_lag_ms": {
            "p50": nearest_rank(lag, 50) if lag else None,
            "p99": nearest_rank(lag, 99) if lag else None,
        },
        "replicas_used": sorted(str(r) for r in ok["replica"].dropna().unique()),
    }
