"""Replica start-up from a run: asked for (the decision) → process started → ready, per replica.

From ``replicas.parquet``'s per-second samples of each replica's ``created_at``, ``started_at`` and
``ready_at`` (epoch seconds the backend reports: a local replica's decision and process start, a
pod's creation, container start and Ready condition). A replica's first start counts; restarts
show in its restart count, not here.
"""

from __future__ import annotations

import statistics
from typing import Any

import pandas as pd

STAGES = ("wait_s", "start_s", "total_s")
"""decision → process start (a Pending replica's wait for a start slot), process start → ready,
and decision → ready."""


def _first(values: pd.Series) -> float | None:
    present = values.dropna()
    return float(present.iloc[0]) if len(present) else None


def replica_startups(replicas: pd.DataFrame, start_at: float, engine: str | None) -> dict[str, Any] | None:
    """Each replica's start-up and the medians over those asked for during the run (None if the
    run has no start-up times: a run without a backend, or from before they were kept)."""
    if replicas.empty or "created_at" not in replicas or replicas["created_at"].isna().all():
        return None
    rows = []
    for name, samples in replicas.sort_values("second").groupby("replica", sort=False):
        created, started = _first(samples["created_at"]), _first(samples["started_at"])
        ready = _first(samples["ready_at"][samples["ready_at"] >= (started or 0)])
        if created is None:
            continue
        rows.append({
            "replica": str(name),
            "asked_at_s": round(created - start_at, 2),
            "during_run": created >= start_at,
            "wait_s": None if started is None else round(max(0.0, started - created), 2),
            "start_s": None if started is None or ready is None else round(ready - started, 2),
            "total_s": None if ready is None else round(ready - created, 2),
        })  # fmt: skip
    during = [r for r in rows if r["during_run"]]
    medians = {stage: _median([r[stage] for r in during]) for stage in STAGES}
    return {"engine": engine, "replicas": rows, "median_during_run": medians,
            "started_during_run": len(during)}  # fmt: skip


def _median(values: list[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None
