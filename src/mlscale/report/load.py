"""Finding and reading run directories, and saying plainly what is wrong with one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.errors import InputError
from mlscale.results import REQUEST_COLUMNS, TIMELINE_COLUMNS, frame, read_replicas

RUN_FILES = ("requests.parquet", "timeline.parquet", "run.json")


@dataclass
class Run:
    path: Path
    requests: pd.DataFrame
    timeline: pd.DataFrame
    replicas: pd.DataFrame
    meta: dict[str, Any]
    partial_reasons: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def start_at(self) -> float:
        """Epoch seconds of second 0; from run.json, else the first intended send."""
        if "start_at" in self.meta:
            return float(self.meta["start_at"])
        return float(self.requests["intended_at"].min()) if len(self.requests) else 0.0

    @property
    def time_scale(self) -> float:
        return float(self.meta.get("system", {}).get("time_scale") or 1.0)


def latest_run(runs_dir: Path) -> Path:
    """The newest run directory under ``runs_dir``."""
    if not runs_dir.is_dir():
        raise InputError(f"no runs: {runs_dir}/ does not exist (run `mlscale loadtest` first)")
    candidates = [p for p in runs_dir.iterdir() if p.is_dir() and any((p / f).exists() for f in RUN_FILES)]
    if not candidates:
        raise InputError(f"no runs in {runs_dir}/ (run `mlscale loadtest` first)")
    return max(
        candidates,
        key=lambda p: (p / "run.json").stat().st_mtime if (p / "run.json").exists() else p.stat().st_mtime,
    )


def _parquet(path: Path, columns: dict[str, str]) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a truncated or foreign file
        raise InputError(f"{path} is not a readable Parquet file ({exc})") from exc


def load_run(path: Path) -> Run:
    """Read a run directory; a partial one loads with the reasons it is partial."""
    if not path.exists():
        raise InputError(f"no run directory at {path}")
    if not path.is_dir():
        raise InputError(f"{path} is not a directory; give a run directory such as runs/<time>-<workload>")
    if not any((path / f).exists() for f in RUN_FILES):
        raise InputError(
            f"{path} holds no run files ({', '.join(RUN_FILES)}): the load test was stopped "
            "before it wrote anything, or this is not a run directory"
        )
    reasons = []
    meta: dict[str, Any] = {}
    try:
        meta = json.loads((path / "run.json").read_text())
    except FileNotFoundError:
        reasons.append("run.json is missing: the load test did not finish writing")
    except ValueError as exc:
        reasons.append(f"run.json is unreadable ({exc})")
    if meta.get("partial"):
        reasons.append("the load test was interrupted: requests after that were never sent")
    requests = _parquet(path / "requests.parquet", REQUEST_COLUMNS)
    if requests is None:
        reasons.append("requests.parquet is missing: no per-request outcomes")
        requests = frame([], REQUEST_COLUMNS)
    timeline = _parquet(path / "timeline.parquet", TIMELINE_COLUMNS)
    if timeline is None:
        reasons.append("timeline.parquet is missing: no per-second timeline")
        timeline = frame([], TIMELINE_COLUMNS)
    planned = meta.get("planned_requests")
    if planned is not None and len(requests) < int(planned) and not meta.get("partial"):
        reasons.append(f"{len(requests)} of {planned} planned requests were recorded")
    return Run(path, requests, timeline, read_replicas(path), meta, reasons)
