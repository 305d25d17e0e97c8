"""What a simulation comes to, the same for both models: a table per second of arrival and the few
numbers a sweep compares (replica-seconds, seconds that broke the SLO, latency, what failed).

A second breaks the SLO as ``report.stats.slo_seconds`` counts it: its arrivals' p95, with a
failed request slower than any SLO, is above it; so more than 5 % failed, or its ok requests'
p95 is above the SLO.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlscale.simulate.engine import Outcome, Result
from mlscale.simulate.latency import QUANTILES


def request_seconds(result: Result) -> pd.DataFrame:
    """The per-request model's table, with the columns of ``FluidResult.seconds``."""
    arrival = np.asarray(result.arrival)
    done = np.asarray(result.done)
    outcome = np.asarray([int(o) for o in result.outcome])
    second = np.floor(arrival).astype(int)
    latency_ms = (done - arrival) * 1000
    frame = pd.DataFrame({"second": second, "outcome": outcome, "latency_ms": latency_ms})
    rows = []
    per_second = {row["second"]: row for row in result.seconds}
    grouped = dict(tuple(frame.groupby("second"))) if len(frame) else {}
    for second_index, row in sorted(per_second.items()):
        requests = grouped.get(second_index)
        ok = requests[requests["outcome"] == Outcome.OK] if requests is not None else None
        out: dict[str, Any] = {
            "second": second_index,
            "arrived": float(len(requests)) if requests is not None else 0.0,
            "rejected": float((requests["outcome"] == Outcome.REJECTED).sum())
            if requests is not None
            else 0.0,
            "ok": float(len(ok)) if ok is not None else 0.0,
            "unfinished": float((requests["outcome"] == Outcome.UNFINISHED).sum())
            if requests is not None
            else 0.0,
            "queue_depth": float(row["queue_depth"]),
            "replicas": int(row["replicas"]),
            "provisioned": int(row["provisioned"]),
            "desired_replicas": int(row["desired_replicas"]),
        }
        for quantile in QUANTILES:
            out[f"latency_p{quantile:g}_ms"] = (
                float(np.percentile(ok["latency_ms"], quantile)) if ok is not None and len(ok) else None
            )
        rows.append(out)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Summary:
    requests: float
    ok: float
    rejected: float
    unfinished: float
    replica_seconds: float
    """Replicas provisioned (ready or starting), summed over the workload's seconds."""
    slo_violation_seconds: int
    max_replicas: int
    first_scale_up_s: float | None
    """The first second in which more replicas were asked for than at the start."""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def slo_broken(seconds: pd.DataFrame, slo_ms: float, percentile: float = 95.0) -> pd.Series:
    failed = seconds["rejected"] + seconds["unfinished"]
    share_failed = failed / seconds["arrived"].where(seconds["arrived"] > 0)
    p = seconds[f"latency_p{percentile:g}_ms"].astype(float)
    broken = (share_failed > (100 - percentile) / 100) | (p > slo_ms)
    return broken & (seconds["arrived"] > 0)


def summarize(seconds: pd.DataFrame, slo_ms: float, overall: dict[str, float | None]) -> Summary:
    """``overall``: the run's latency quantiles, {"p50": ms, ...}."""
    desired = seconds["desired_replicas"]
    above = seconds.loc[desired > desired.iloc[0], "second"] if len(seconds) else pd.Series(dtype=float)
    return Summary(
        requests=float(seconds["arrived"].sum()),
        ok=float(seconds["ok"].sum()),
        rejected=float(seconds["rejected"].sum()),
        unfinished=float(seconds["unfinished"].sum()),
        replica_seconds=float(seconds["provisioned"].sum()),
        slo_violation_seconds=int(slo_broken(seconds, slo_ms).sum()),
        max_replicas=int(seconds["provisioned"].max()) if len(seconds) else 0,
        first_scale_up_s=float(above.iloc[0]) if len(above) else None,
        latency_p50_ms=overall.get("p50"),
        latency_p95_ms=overall.get("p95"),
        latency_p99_ms=overall.get("p99"),
    )


def request_overall(result: Result) -> dict[str, float | None]:
    latencies = [
        (d - a) * 1000
        for a, d, o in zip(result.arrival, result.done, result.outcome, strict=True)
        if o == Outcome.OK
    ]
    if not latencies:
        return {f"p{q:g}": None for q in QUANTILES}
    values = np.percentile(latencies, QUANTILES)
    return {f"p{q:g}": float(v) for q, v in zip(QUANTILES, values, strict=True)}
