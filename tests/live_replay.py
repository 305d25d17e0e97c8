"""A recorded run, replayed into the snapshots its load test drew the live view from.

The requests become what the load tester sent and the outcomes the dispatcher reported, and the
timeline, per-replica samples and decisions become the samples it took each second: the same
inputs ``LoadTest.snapshot`` hands ``progress.snapshot``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlscale.loadgen.progress import LiveSnapshot, snapshot
from mlscale.loadgen.sender import SentRequest
from mlscale.results import DISPATCHER_OUTCOMES

LATE_MS = 10.0
RECORDED = Path(__file__).parent / "data" / "recorded" / "demo-litert"
"""A real demo on the local backend (litert, weights none): 7,860 requests, 1 → 3 → 1 replicas."""


def _value(value: Any) -> Any:
    return None if value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value


@dataclass
class Recorded:
    meta: dict[str, Any]
    sent: list[SentRequest]
    outcomes: list[dict[str, Any]]
    samples: dict[int, dict[str, Any]]
    planned: list[float]

    @property
    def start_at(self) -> float:
        return float(self.meta["start_at"])

    @property
    def seconds(self) -> int:
        return len(self.samples)

    def now(self, second: int) -> float:
        """When the load test drew the frame of ``second``: just after it ended."""
        return self.start_at + second + 1.2

    def so_far(self, second: int) -> tuple[list[SentRequest], list[dict[str, Any]]]:
        """What had been sent and reported by then, each in the order it came."""
        now = self.now(second)
        return [r for r in self.sent if r.sent_at <= now], [
            o for o in self.outcomes if o["finished_at"] <= now
        ]

    def at(self, second: int) -> LiveSnapshot:
        """What the live view was given just after ``second`` seconds of the run."""
        sent, outcomes = self.so_far(second)
        return snapshot(
            self.now(second), self.start_at, self.planned, sent, outcomes, self.samples, LATE_MS,
            self.meta["system"],
        )  # fmt: skip


def load(run_dir: Path = RECORDED) -> Recorded:
    meta = json.loads((run_dir / "run.json").read_text())
    requests = pd.read_parquet(run_dir / "requests.parquet")
    start = float(meta["start_at"])
    sent, outcomes = [], []
    for row in requests.itertuples():
        sent.append(SentRequest(
            id=row.id, image=row.image, intended_at=row.intended_at, sent_at=row.sent_at,
            enqueue_status=_value(row.enqueue_status), enqueue_ms=_value(row.enqueue_ms),
        ))  # fmt: skip
        if row.outcome in DISPATCHER_OUTCOMES:
            outcomes.append({"finished_at": row.completed_at, "outcome": row.outcome,
                             "replica": _value(row.replica), "sent_at": row.sent_at})  # fmt: skip
    decisions = sorted(meta.get("autoscaler") or [], key=lambda d: float(d["at"]))
    samples: dict[int, dict[str, Any]] = {}
    for row in pd.read_parquet(run_dir / "timeline.parquet").to_dict("records"):
        second = int(row["second"])
        made = [d for d in decisions if float(d["at"]) <= start + second + 1]
        samples[second] = {
            **{k: _value(row[k]) for k in ("queue_depth", "replicas", "desired_replicas", "cpu_utilization")},
            "last_decision": made[-1] if made else None,
            "replica_samples": [],
        }
    for row in pd.read_parquet(run_dir / "replicas.parquet").to_dict("records"):
        replica = {k: _value(v) for k, v in row.items()}
        # replicas.parquet keeps readiness only (the backend's state is a live sample's).
        replica["state"] = "ready" if replica["ready"] else "starting"
        samples.setdefault(int(row["second"]), {"replica_samples": []})["replica_samples"].append(replica)
    planned = sorted(r.intended_at - start for r in sent)
    sent.sort(key=lambda r: r.sent_at)
    outcomes.sort(key=lambda o: float(o["finished_at"]))
    return Recorded(meta, sent, outcomes, samples, planned)
