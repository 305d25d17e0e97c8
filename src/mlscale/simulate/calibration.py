"""A replica's profile from a measured run: what the simulator draws from, and where each came from.

- CPU per request: fitted on the run itself, each replica's metric samples (``replicas.parquet``)
  against the requests it finished in each sample's window (``requests.parquet``): a line
  ``cores = idle + per_request × rate``. Under load a request costs less than ``up``'s one-at-a-time
  calibration says (14.4 against 18.3 ms for litert in a demo), and that gap alone moved the
  simulated HPA to 3 replicas where the real one asked for 2. The CPU request is ``run.json``'s.
- Service times: the dispatcher's forward times (``infer_ms``) of the requests sent in seconds
  when the replicas were lightly loaded (mean CPU under ``light`` of their request), where a
  request seldom waits behind another at its replica; with too few of those, every ok request's.
- Start-up: decision → ready of the replicas asked for during the run (``report.startup``), else
  the first replica's.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlscale.errors import InputError
from mlscale.report.load import Run
from mlscale.report.startup import replica_startups
from mlscale.simulate.engine import ReplicaProfile

LIGHT_LOAD = 0.5
"""Mean CPU utilization (of the request) under which a second counts as lightly loaded."""
MIN_SERVICE_SAMPLES = 50


@dataclass(frozen=True)
class Calibration:
    profile: ReplicaProfile
    sources: dict[str, Any]
    """What each number came from, for run.json and the fidelity report."""
    tick_phase: float | None = None
    """Seconds from the run's start to the controller's first sync in it, modulo its period."""
    sample_phase: float | None = None
    """Seconds from the run's start to a metric sample, modulo the resolution."""

    def as_dict(self) -> dict[str, Any]:
        """A calibration as JSON (the benches keep a measured one; ``from_dict`` reads it back)."""
        p = self.profile
        return {
            "profile": {
                "service_s": [round(x, 6) for x in p.service_s],
                "cpu_s_per_request": p.cpu_s_per_request,
                "startup_s": p.startup_s,
                "request_milli": p.request_milli,
                "idle_cores": p.idle_cores,
                "overhead_share": p.overhead_share,
            },
            "sources": self.sources,
            "tick_phase": self.tick_phase,
            "sample_phase": self.sample_phase,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        raw = data["profile"]
        profile = ReplicaProfile(
            tuple(raw["service_s"]),
            raw["cpu_s_per_request"],
            raw["startup_s"],
            request_milli=raw["request_milli"],
            idle_cores=raw["idle_cores"],
            overhead_share=raw.get("overhead_share", 0.0),
        )
        return cls(profile, data["sources"], data.get("tick_phase"), data.get("sample_phase"))


def calibrate(run: Run) -> Calibration:
    measured = (run.meta.get("system") or {}).get("calibration")
    if not measured or not measured.get("cpu_ms_per_request"):
        raise InputError(
            f"{run.path}: run.json has no calibration (what one replica costs per request); "
            "calibrate from a run made with `mlscale up` on the local backend"
        )
    service, service_from = service_times(run)
    startup, startup_from = startup_seconds(run)
    request_milli = int(measured.get("cpu_request_milli") or 500)
    fit = cpu_fit(run, request_milli)
    per_request_s = fit["per_request_s"] if fit else float(measured["cpu_ms_per_request"]) / 1000
    share = overhead_share(service, per_request_s)
    profile = ReplicaProfile(
        service_s=tuple(service),
        overhead_share=share,
        cpu_s_per_request=per_request_s,
        startup_s=startup,
        request_milli=request_milli,
        idle_cores=fit["idle_cores"] if fit else 0.0,
    )
    sources = {
        "run": str(run.path),
        "cpu": fit or {"from": "up's calibration (too few samples to fit)", "per_request_s": per_request_s},
        "up_cpu_ms_per_request": float(measured["cpu_ms_per_request"]),
        "service": {
            "from": service_from,
            "samples": len(service),
            "median_ms": round(statistics.median(service) * 1000, 2),
        },
        "startup": {"from": startup_from, "seconds": round(startup, 2)},
        "overhead_share": round(share, 3),
    }
    return Calibration(profile, sources, *phases(run))


def overhead_share(service: list[float], cpu_s_per_request: float) -> float:
    """The share of a light-load forward that does not hold the replica: what its mean has beyond
    the CPU a request costs. The model runs on one thread, so a busy replica completes one request
    per CPU cost (a replica of the litert demo served 61/s with 28 ms forwards, two at a time);
    each forward is split in the same proportion, so light-load latency keeps its distribution."""
    mean = statistics.fmean(service)
    if cpu_s_per_request <= 0 or mean <= 0:
        return 0.0
    return max(0.0, 1.0 - cpu_s_per_request / mean)


def phases(run: Run, period: float = 15.0) -> tuple[float | None, float | None]:
    """Where the run's controller syncs and metric samples fell relative to its start."""
    decisions = [d["at"] - run.start_at for d in run.meta.get("autoscaler") or [] if "at" in d]
    tick = min((a for a in decisions if a >= 0), default=None)
    changes = run.replicas.dropna(subset=["cpu_utilization"]).sort_values("second")
    first = changes.groupby("replica")["cpu_utilization"].diff().ne(0)
    sample_seconds = changes.loc[first, "second"]
    sample = float(sample_seconds.iloc[1]) if len(sample_seconds) > 1 else None
    return (None if tick is None else tick % period), (None if sample is None else sample % period)


def cpu_fit(run: Run, request_milli: int, window_s: float = 15.0) -> dict[str, Any] | None:
    """Least squares of each metric sample's cores on the rate of ok requests its replica finished
    in the window before it. A sample shows where a replica's utilization changes (the backends
    carry the last sample forward each second). None with fewer than 4 samples."""
    samples = run.replicas.dropna(subset=["cpu_utilization"]).sort_values(["replica", "second"])
    ok = run.requests[run.requests["outcome"] == "ok"]
    finished = (ok["intended_at"] + ok["latency_ms"] / 1000 - run.start_at).rename("at")
    points: list[tuple[float, float]] = []
    for name, rows in samples.groupby("replica"):
        changed = rows[rows["cpu_utilization"].diff() != 0]
        done = finished[ok["replica"] == name].to_numpy()
        for second, utilization in zip(changed["second"], changed["cpu_utilization"], strict=True):
            count = int(((done > second - window_s) & (done <= second)).sum())
            points.append((count / window_s, utilization / 100 * request_milli / 1000))
    if len(points) < 4 or len({rate for rate, _ in points}) < 2:
        return None
    rates, cores = [p[0] for p in points], [p[1] for p in points]
    slope, intercept = statistics.linear_regression(rates, cores)
    return {
        "from": f"a line through {len(points)} metric samples",
        "per_request_s": max(slope, 0.0),
        "idle_cores": max(intercept, 0.0),
        "samples": len(points),
    }


def service_times(run: Run) -> tuple[list[float], str]:
    ok = run.requests[(run.requests["outcome"] == "ok") & run.requests["infer_ms"].notna()]
    if ok.empty:
        raise InputError(f"{run.path}: no ok request has a forward time (infer_ms) to calibrate from")
    light_seconds = _light_seconds(run.timeline)
    sent_second = ((ok["intended_at"] - run.start_at) // 1).astype(int)
    light = ok[sent_second.isin(light_seconds)]
    if len(light) >= MIN_SERVICE_SAMPLES:
        return (light["infer_ms"] / 1000).tolist(), f"{len(light_seconds)} lightly loaded seconds"
    return (ok["infer_ms"] / 1000).tolist(), "every ok request (too few lightly loaded seconds)"


def _light_seconds(timeline: pd.DataFrame) -> set[int]:
    if timeline.empty or "cpu_utilization" not in timeline:
        return set()
    loaded = timeline[timeline["cpu_utilization"].notna() & (timeline["completed_ok"] > 0)]
    return set(loaded.loc[loaded["cpu_utilization"] < LIGHT_LOAD * 100, "second"].astype(int))


def startup_seconds(run: Run) -> tuple[float, str]:
    startups = replica_startups(run.replicas, run.start_at, None)
    if startups is None:
        raise InputError(f"{run.path}: replicas.parquet has no start-up times to calibrate from")
    during = startups["median_during_run"]["total_s"]
    if during is not None:
        return float(during), f"median of {startups['started_during_run']} replicas asked for during the run"
    first = next((r["total_s"] for r in startups["replicas"] if r["total_s"] is not None), None)
    if first is None:
        raise InputError(f"{run.path}: no replica's start-up (asked for → ready) was recorded")
    return float(first), "the first replica (none was asked for during the run)"
