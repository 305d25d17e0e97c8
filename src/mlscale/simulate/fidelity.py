"""How far one run is from another, by the measures a user reads: the replica count second by
second, when the first scale-up came, and p50/p95 in each phase of the load. The same function
compares a simulation with a real run and two real runs with each other, so the simulator's error
is judged against the spread of the real thing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlscale.report.load import Run
from mlscale.report.stats import load_changes, offered_steps


@dataclass(frozen=True)
class Phase:
    start: int
    end: int
    """Seconds [start, end) of one level of the workload."""
    rps: float


@dataclass(frozen=True)
class Distance:
    same_replicas: float
    """Share of seconds with the same replica count asked for (desired_replicas)."""
    first_scale_up_s: float | None
    """b's first scale-up minus a's (None: either never scaled up)."""
    phases: list[dict[str, Any]]
    """Per phase: a's and b's p50 and p95 of ok requests by second of arrival, ms."""

    def worst_p95_ratio(self) -> float | None:
        ratios = [
            max(p["a_p95"], p["b_p95"]) / min(p["a_p95"], p["b_p95"])
            for p in self.phases
            if p["a_p95"] and p["b_p95"]
        ]
        return max(ratios) if ratios else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worst_p95_ratio": self.worst_p95_ratio()}


def phases(run: Run) -> list[Phase]:
    """The workload's levels: where the rate changes direction or jumps, as the report splits it."""
    steps = offered_steps(run.meta, run.timeline)
    if not steps:
        return []
    changes = load_changes(steps)
    starts = [0] + [int(c.at) for c in changes if c.at > 0]
    ends = [*starts[1:], len(steps)]
    rates = dict(steps)
    return [Phase(s, e, float(rates.get(s, 0.0))) for s, e in zip(starts, ends, strict=True) if e > s]


def desired_by_second(run: Run) -> pd.Series:
    timeline = run.timeline.set_index("second")
    return timeline["desired_replicas"].astype("Float64").ffill()


def first_scale_up(run: Run) -> float | None:
    desired = desired_by_second(run).dropna()
    if desired.empty:
        return None
    above = desired[desired > desired.iloc[0]]
    return float(above.index[0]) if len(above) else None


def _phase_latency(run: Run, phase: Phase) -> tuple[float | None, float | None]:
    ok = run.requests[run.requests["outcome"] == "ok"]
    second = (ok["intended_at"] - run.start_at) // 1
    inside = ok.loc[(second >= phase.start) & (second < phase.end), "latency_ms"].dropna()
    if inside.empty:
        return None, None
    p50, p95 = np.percentile(inside, [50, 95])
    return float(p50), float(p95)


def distance(a: Run, b: Run) -> Distance:
    """b against a, over a's phases and the seconds both have."""
    da, db = desired_by_second(a), desired_by_second(b)
    both = da.index.intersection(db.index)
    same = float((da.loc[both] == db.loc[both]).mean()) if len(both) else 0.0
    fa, fb = first_scale_up(a), first_scale_up(b)
    rows = []
    for phase in phases(a):
        a50, a95 = _phase_latency(a, phase)
        b50, b95 = _phase_latency(b, phase)
        rows.append(
            {
                "start": phase.start,
                "end": phase.end,
                "rps": phase.rps,
                "a_p50": a50,
                "b_p50": b50,
                "a_p95": a95,
                "b_p95": b95,
            }
        )
    return Distance(same, None if fa is None or fb is None else fb - fa, rows)
