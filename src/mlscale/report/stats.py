"""Pure: a run's Parquet frames -> the numbers in ``stats.json``. No files, no clock, no plotting.

Conventions, so every number has one meaning:
- Latency is from the intended send time (what an open-loop user waits) unless a key says
  ``from_sent``. Percentiles are nearest-rank: the smallest value with at least q % at or below.
- Seconds are counted from the run's second 0 (``start_at``), as in ``timeline.parquet``.
- A request the run planned but never recorded (``--total-requests`` above what was recorded)
  counts as ``lost``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from mlscale.report.balance import per_replica, steady_share
from mlscale.report.startup import replica_startups
from mlscale.results import FINAL_OUTCOMES

PERCENTILES = (50, 90, 95, 99, 99.9)
SIGNIFICANT_LOAD_CHANGE = 0.10
"""A rate change smaller than this fraction (and than 1 request/s) is noise, not a load step."""


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile of sorted values: the smallest with at least q % of values at or below it."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def distribution(values: pd.Series) -> dict[str, float | int | None]:
    """count, mean, min, p50…p99.9 and max of the non-missing values."""
    clean = sorted(values.dropna().astype(float).tolist())
    if not clean:
        return {"count": 0, "mean": None, "min": None, **{f"p{q:g}": None for q in PERCENTILES}, "max": None}
    return {
        "count": len(clean),
        "mean": sum(clean) / len(clean),
        "min": clean[0],
        **{f"p{q:g}": nearest_rank(clean, q) for q in PERCENTILES},
        "max": clean[-1],
    }


# --- outcomes ---------------------------------------------------------------------------------


def outcome_counts(requests: pd.DataFrame, expected_total: int | None = None) -> dict[str, Any]:
    """Counts by final outcome, failures by kind, success rate; unrecorded expected requests are lost."""
    counts = {outcome: 0 for outcome in FINAL_OUTCOMES}
    for outcome, n in requests["outcome"].value_counts().items():
        counts[str(outcome)] = int(n)
    recorded = len(requests)
    missing = max(0, (expected_total or 0) - recorded)
    counts["lost"] += missing
    total = recorded + missing
    failed = requests[requests["outcome"] != "ok"]
    kinds: dict[str, int] = {}
    for (outcome, error), n in failed.groupby(["outcome", failed["error"].fillna("")]).size().items():
        key = f"{outcome}: {error}" if error else str(outcome)
        kinds[key] = int(n)
    if missing:
        kinds["lost: never recorded"] = missing
    return {
        "total": total,
        "recorded": recorded,
        "expected": expected_total,
        "missing": missing,
        "counts": counts,
        "failures": total - counts["ok"],
        "failures_by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "success_rate": counts["ok"] / total if total else None,
    }


def throughput(requests: pd.DataFrame) -> dict[str, float | None]:
    """Offered (sent per second of the schedule) and achieved (ok per second until the last ok)."""
    if requests.empty:
        return {"duration_s": None, "offered_rps": None, "achieved_rps": None}
    first = float(requests["intended_at"].min())
    send_span = float(requests["intended_at"].max()) - first
    ok = requests[requests["outcome"] == "ok"]
    done_span = float(ok["completed_at"].max()) - first if len(ok) else None
    # A schedule of n requests spans n intervals of 1/rate: add one interval so 10 requests
    # spread over 0.9 s read as 10/s, not 11.1/s.
    interval = send_span / (len(requests) - 1) if len(requests) > 1 else 1.0
    return {
        "duration_s": done_span,
        "offered_rps": len(requests) / (send_span + interval),
        "achieved_rps": len(ok) / done_span if done_span else None,
    }


def latency(requests: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Latency distributions for successes and for failures, from the intended and the actual send."""
    ok = requests[requests["outcome"] == "ok"]
    failed = requests[(requests["outcome"] != "ok") & requests["latency_ms"].notna()]
    return {
        "ok": {
            "from_intended": distribution(ok["latency_ms"]),
            "from_sent": distribution(ok["latency_sent_ms"]),
        },
        "failed": {
            "from_intended": distribution(failed["latency_ms"]),
            "from_sent": distribution(failed["latency_sent_ms"]),
        },
    }


def breakdown(requests: pd.DataFrame) -> dict[str, Any]:
    """Where a successful request's time went: dispatcher queue, inference, and the rest.

    ``other`` is latency minus queue and inference: the load generator's send lag, the network,
    the dispatcher's own work and the outcome report.
    """
    ok = requests[(requests["outcome"] == "ok") & requests["queue_ms"].notna() & requests["infer_ms"].notna()]
    other = ok["latency_ms"] - ok["queue_ms"] - ok["infer_ms"]
    parts = {"queue": ok["queue_ms"], "inference": ok["infer_ms"], "other": other}
    means = {name: float(values.mean()) if len(values) else None for name, values in parts.items()}
    total = sum(m for m in means.values() if m is not None)
    return {
        **{name: distribution(values) for name, values in parts.items()},
        "share_of_mean": {
            name: (m / total if total and m is not None else None) for name, m in means.items()
        },
    }


# --- load steps, the SLO and recovery ------------------------------------------------------------


@dataclass(frozen=True)
class LoadChange:
    at: int
    """Second of the run the new rate starts."""
    from_rps: float
    to_rps: float

    @property
    def direction(self) -> int:
        return 1 if self.to_rps > self.from_rps else -1


def offered_steps(meta: dict[str, Any], timeline: pd.DataFrame) -> list[tuple[int, float]]:
    """(start second, requests/s) of each step of the offered load.

    From the workload in run.json (rates × scale, held ``step_seconds`` each); without one, each
    second's intended count from the timeline.
    """
    rates = meta.get("workload", {}).get("rates")
    options = meta.get("options", {})
    if rates:
        step = float(options.get("step_seconds") or meta["workload"].get("step_seconds") or 1.0)
        scale = float(options.get("scale") if options.get("scale") is not None else 1.0)
        if step < 1:  # a sped-up workload: its sub-second steps, as the requests/s of each second
            per_second: dict[int, float] = {}
            for i, r in enumerate(rates):
                second = int(i * step + 1e-9)
                per_second[second] = per_second.get(second, 0.0) + float(r) * step * scale
            return [*sorted(per_second.items()), (max(per_second) + 1, 0.0)]
        steps = [(round(i * step), float(r) * scale) for i, r in enumerate(rates)]
        return [*steps, (round(len(rates) * step), 0.0)]
    if timeline.empty:
        return []
    seconds = [(int(s), float(n)) for s, n in zip(timeline["second"], timeline["intended"], strict=True)]
    last = max(s for s, n in seconds if n) if any(n for _, n in seconds) else 0
    return [*[(s, n) for s, n in seconds if s <= last], (last + 1, 0.0)]


def load_changes(steps: Sequence[tuple[int, float]]) -> list[LoadChange]:
    """Significant changes of the offered rate; a run of steps in one direction is one change.

    A ramp 10, 15, 20 … is one increase starting where it starts; the load starting at second 0
    is an increase from 0, and its end (to 0) a decrease.
    """
    changes: list[LoadChange] = []
    previous_rate, previous_direction = 0.0, 0
    for at, rate in steps:
        delta = rate - previous_rate
        if abs(delta) < max(1.0, SIGNIFICANT_LOAD_CHANGE * previous_rate) and not (previous_rate == 0 < rate):
            previous_direction = 0 if delta == 0 else previous_direction
            continue
        direction = 1 if delta > 0 else -1
        if changes and direction == previous_direction:
            last = changes[-1]
            changes[-1] = LoadChange(last.at, last.from_rps, rate)
        else:
            changes.append(LoadChange(at, previous_rate, rate))
        previous_rate, previous_direction = rate, direction
    return changes


def slo_seconds(requests: pd.DataFrame, start_at: float, slo_ms: float, percentile: float) -> dict[int, bool]:
    """Per second of arrival: did the requests intended in it violate the SLO?

    The percentile is over every request intended that second, with failures (and requests
    without an outcome) counted as slower than any SLO: a second where more than 100 - q % of
    arrivals failed violates it even if the rest were fast.
    """
    if requests.empty:
        return {}
    second = ((requests["intended_at"] - start_at) // 1).astype(int)
    waited = requests["latency_ms"].where(requests["outcome"] == "ok", math.inf).fillna(math.inf)
    verdict = {}
    for s, values in waited.groupby(second):
        verdict[int(s)] = nearest_rank(sorted(values.tolist()), percentile) > slo_ms
    return verdict


def slo_summary(verdict: dict[int, bool], slo_ms: float, percentile: float) -> dict[str, Any]:
    violated = sorted(s for s, bad in verdict.items() if bad)
    intervals: list[list[int]] = []
    for s in violated:
        if intervals and s == intervals[-1][1]:
            intervals[-1][1] = s + 1
        else:
            intervals.append([s, s + 1])
    return {
        "slo_ms": slo_ms,
        "percentile": percentile,
        "seconds_evaluated": len(verdict),
        "seconds_violated": len(violated),
        "violated_fraction": len(violated) / len(verdict) if verdict else None,
        "violations": intervals,
    }


def recoveries(changes: Sequence[LoadChange], verdict: dict[int, bool]) -> list[dict[str, Any]]:
    """For each load increase: seconds until the SLO holds for the rest of that load level.

    0 when it never broke; ``None`` (not recovered) when it was still broken when the level ended.
    """
    result = []
    ends = [c.at for c in changes[1:]] + [max(verdict, default=0) + 1] if changes else []
    for change, end in zip(changes, ends, strict=True):
        if change.direction < 0:
            continue
        level = sorted(s for s in verdict if change.at <= s < end)
        broken = [s for s in level if verdict[s]]
        if not broken:
            seconds: int | None = 0
        elif broken[-1] == level[-1]:
            seconds = None
        else:
            seconds = broken[-1] + 1 - change.at
        result.append({**asdict(change), "violated_seconds": len(broken), "recovered_after_s": seconds})
    return result


# --- autoscaling ----------------------------------------------------------------------------------


def replica_seconds(timeline: pd.DataFrame, replicas: pd.DataFrame) -> float | None:
    """Replica-seconds provisioned (ready or starting) over the run; None without a backend.

    From the per-replica samples (a replica counts from its first sample, ready or not; a second
    the poll missed counts as the second before it; a polled second without any replica counts
    0); for runs without them, from the timeline's ready count.
    """
    if not replicas.empty:
        per_second = replicas.groupby("second").size()
        seconds = set(range(int(per_second.index.min()), int(per_second.index.max()) + 1))
        polled = set()
        if "replicas" in timeline and "second" in timeline:
            polled = {
                int(s)
                for s, r in zip(timeline["second"], timeline["replicas"], strict=True)
                if not pd.isna(r)
            }
        covered = sorted(seconds | polled)
        counts = per_second.reindex(covered)
        # A second the sampler polled with no replica in it had none (scaled to zero); one it
        # missed counts as the second before it.
        counts[counts.isna() & counts.index.isin(sorted(polled))] = 0
        return float(counts.ffill().fillna(0).sum())
    counted = timeline["replicas"].dropna() if "replicas" in timeline else pd.Series(dtype=float)
    return float(counted.sum()) if len(counted) else None


def scale_events(
    decisions: Sequence[dict[str, Any]],
    timeline: pd.DataFrame,
    changes: Sequence[LoadChange],
    start_at: float,
) -> list[dict[str, Any]]:
    """Every decision that changed the replica count, with its reaction times.

    load change (the latest significant change in the same direction, at or before the
    decision) -> decision -> replicas ready (the first sampled second, at or after the
    decision, with the ready count at the new target).
    """
    ready = [
        (int(s), int(r))
        for s, r in zip(timeline["second"], timeline["replicas"], strict=True)
        if r is not pd.NA and not pd.isna(r)
    ]
    events = []
    for decision in decisions:
        before, after = int(decision["current"]), int(decision["desired"])
        if before == after:
            continue
        at = float(decision["at"]) - start_at
        direction = 1 if after > before else -1
        cause = next((c for c in reversed(changes) if c.at <= at and c.direction == direction), None)
        reached = next(
            (s for s, r in ready if s >= math.floor(at) and (r >= after if direction > 0 else r <= after)),
            None,
        )
        events.append(
            {
                "at_s": round(at, 3),
                "from": before,
                "to": after,
                "utilization": decision.get("utilization"),
                "reason": decision.get("reason"),
                "load_change_at_s": cause.at if cause else None,
                "decision_after_load_s": round(at - cause.at, 3) if cause else None,
                "ready_at_s": reached,
                "ready_after_decision_s": round(reached - at, 3) if reached is not None else None,
                "reaction_s": round(reached - cause.at, 3) if reached is not None and cause else None,
            }
        )
    return events


def autoscaling(
    timeline: pd.DataFrame,
    replicas: pd.DataFrame,
    decisions: Sequence[dict[str, Any]],
    changes: Sequence[LoadChange],
    start_at: float,
    ok_count: int,
) -> dict[str, Any]:
    spent = replica_seconds(timeline, replicas)
    seen = timeline["replicas"].dropna() if "replicas" in timeline else pd.Series(dtype=float)
    return {
        "replica_seconds": spent,
        "replica_seconds_per_1000_ok": spent / ok_count * 1000 if spent is not None and ok_count else None,
        "replicas_min": int(seen.min()) if len(seen) else None,
        "replicas_max": int(seen.max()) if len(seen) else None,
        "decisions": len(decisions),
        "scale_events": scale_events(decisions, timeline, changes, start_at),
    }


# --- everything ---------------------------------------------------------------------------------


def run_statistics(
    requests: pd.DataFrame,
    timeline: pd.DataFrame,
    replicas: pd.DataFrame,
    meta: dict[str, Any],
    *,
    start_at: float,
    expected_total: int | None = None,
    slo_ms: float = 1000.0,
    slo_percentile: float = 95.0,
) -> dict[str, Any]:
    """The whole of ``stats.json`` except where the run came from (the caller adds ``run``)."""
    outcomes = outcome_counts(requests, expected_total)
    changes = load_changes(offered_steps(meta, timeline))
    verdict = slo_seconds(requests, start_at, slo_ms, slo_percentile)
    return {
        **outcomes,
        "throughput": throughput(requests),
        "latency_ms": latency(requests),
        "breakdown_ms": breakdown(requests),
        "send": meta.get("send"),
        "load_changes": [asdict(c) for c in changes],
        "slo": slo_summary(verdict, slo_ms, slo_percentile),
        "slo_recovery": recoveries(changes, verdict),
        "autoscaling": autoscaling(
            timeline, replicas, meta.get("autoscaler", []), changes, start_at, outcomes["counts"]["ok"]
        ),
        "replicas": per_replica(requests, replicas),
        "startup": replica_startups(replicas, start_at, (meta.get("system") or {}).get("engine")),
        "balance": steady_share(requests, replicas, start_at),
    }
