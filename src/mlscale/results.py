"""A run on disk: ``runs/<UTC time>-<workload>/`` holding two Parquet files and ``run.json``.

The schema (documented in the README) lives here and only here.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

REQUEST_COLUMNS: dict[str, str] = {
    "id": "string",
    "image": "string",
    "intended_at": "float64",
    "sent_at": "float64",
    "send_lag_ms": "float64",
    "enqueue_status": "Int64",
    "enqueue_error": "string",
    "enqueue_ms": "float64",
    "outcome": "string",
    "status": "Int64",
    "error": "string",
    "replica": "string",
    "attempts": "Int64",
    "queue_ms": "float64",
    "infer_ms": "float64",
    "dispatcher_total_ms": "float64",
    "completed_at": "float64",
    "latency_ms": "float64",
    "latency_sent_ms": "float64",
}

TIMELINE_COLUMNS: dict[str, str] = {
    "second": "int64",
    "intended": "int64",
    "sent": "int64",
    "accepted": "int64",
    "completed_ok": "int64",
    "completed_error": "int64",
    "completed_timeout": "int64",
    "completed_dropped": "int64",
    "rejected": "int64",
    "enqueue_errors": "int64",
    "latency_p50_ms": "float64",
    "latency_p95_ms": "float64",
    "latency_p99_ms": "float64",
    "queue_depth": "Int64",
    "replicas": "Int64",
    "desired_replicas": "Int64",
    "cpu_utilization": "float64",
    "restarts": "Int64",
}

REPLICA_COLUMNS: dict[str, str] = {
    "second": "int64",
    "replica": "string",
    "ready": "boolean",
    "cpu_utilization": "float64",
    "restarts": "Int64",
    "created_at": "float64",
    "started_at": "float64",
    "ready_at": "float64",
}
"""One row per replica per second the backend was sampled: per-replica CPU and start-up (epoch
seconds it was asked for, its process started, it became ready) for the report."""

DISPATCHER_OUTCOMES = ("ok", "error", "timeout", "dropped")
"""What the dispatcher reports for a request it accepted."""
FINAL_OUTCOMES = (*DISPATCHER_OUTCOMES, "rejected", "enqueue_error", "lost")


def new_run_dir(root: Path, workload_name: str, started: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    path = root / f"{stamp}-{workload_name}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = root / f"{stamp}-{workload_name}-{suffix}"
    path.mkdir(parents=True)
    return path


def frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=list(columns))
    return data.astype(columns)


def write_run(
    run_dir: Path,
    requests: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
    meta: dict[str, Any],
    replicas: list[dict[str, Any]] | None = None,
) -> None:
    frame(requests, REQUEST_COLUMNS).to_parquet(run_dir / "requests.parquet", index=False)
    frame(timeline, TIMELINE_COLUMNS).to_parquet(run_dir / "timeline.parquet", index=False)
    frame(replicas or [], REPLICA_COLUMNS).to_parquet(run_dir / "replicas.parquet", index=False)
    # run.json last: its presence says the Parquet files beside it are complete.
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2, default=_jsonable) + "\n")


def read_replicas(run_dir: Path) -> pd.DataFrame:
    """Per-replica samples; empty for runs without a backend (or from before they were kept)."""
    path = run_dir / "replicas.parquet"
    return pd.read_parquet(path) if path.exists() else frame([], REPLICA_COLUMNS)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to run.json")
