"""What a simulation leaves behind when it is not a run directory ``report`` reads: the fluid
model's table per second (``seconds.parquet``), ``summary.json`` and a timeline figure; and a
sweep's table, ``sweep.json`` and its Pareto figure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from mlscale.report import plots
from mlscale.report.style import SERIES_COLORS, apply_theme
from mlscale.simulate.summary import slo_broken
from mlscale.simulate.sweep import SweepPoint, pareto_figure


def fluid_figure(seconds: pd.DataFrame, title: str, slo_ms: float) -> Figure:
    """Load and what was refused, replicas and the queue, p50/p95 latency: one time axis."""
    apply_theme()
    figure = Figure(figsize=(11, 8), layout="constrained")
    load, replicas, latency = figure.subplots(3, 1, sharex=True)
    t = seconds["second"]
    load.plot(t, seconds["arrived"], color=SERIES_COLORS["offered"], label="arrived /s")
    load.plot(t, seconds["rejected"], color=SERIES_COLORS["failed"], label="refused /s (queue full)")
    load.set_ylabel("requests/s")
    load.legend(loc="upper left", fontsize=8)
    replicas.step(
        t, seconds["provisioned"], where="post", color=SERIES_COLORS["desired"], label="provisioned"
    )
    replicas.step(t, seconds["replicas"], where="post", color=SERIES_COLORS["replicas"], label="ready")
    replicas.set_ylabel("replicas")
    queue = replicas.twinx()
    queue.plot(t, seconds["queue_depth"], color=SERIES_COLORS["queue"], alpha=0.7, label="queue")
    queue.set_ylabel("queued requests")
    queue.grid(False)
    replicas.legend(loc="upper left", fontsize=8)
    queue.legend(loc="upper right", fontsize=8)
    for column, color in (("latency_p50_ms", "p50"), ("latency_p95_ms", "p95")):
        latency.plot(t, seconds[column], color=SERIES_COLORS[color], label=column.split("_")[1])
    latency.axhline(slo_ms, color=SERIES_COLORS["slo"], linestyle="--", label=f"SLO {slo_ms:g} ms")
    latency.set_yscale("log")
    latency.set_ylabel("latency, ms (log)")
    latency.set_xlabel("second of arrival")
    latency.legend(loc="upper left", fontsize=8)
    broken = slo_broken(seconds, slo_ms)
    for second in seconds.loc[broken, "second"]:
        latency.axvspan(second, second + 1, color="#fde0dd", linewidth=0)
    load.set_title(title)
    return figure


def write_fluid(out: Path, seconds: pd.DataFrame, meta: dict[str, Any], slo_ms: float) -> list[Path]:
    seconds.to_parquet(out / "seconds.parquet", index=False)
    named = (meta["workload"].get("source") or {}).get("label") or meta["workload"]["name"]
    figure = fluid_figure(seconds, f"{named}, simulated (fluid model)", slo_ms)
    plots.save(figure, out / "timeline.png")
    (out / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
    return [out / "seconds.parquet", out / "timeline.png", out / "run.json"]


def write_sweep(
    out: Path, points: Sequence[SweepPoint], marker: tuple[float, float] | None, context: dict[str, Any]
) -> None:
    """pareto.png and sweep.json: every setting's summary, the front, the measured run's point."""
    figure = pareto_figure(
        points, title=f"{context['workload']}: {len(points)} settings, simulated", measured=marker
    )
    plots.save(figure, out / "pareto.png")
    measured = None if marker is None else {"replica_seconds": marker[0], "slo_violation_seconds": marker[1]}
    record = {
        "simulated": True,
        **context,
        "measured": measured,
        "points": [
            {
                "setting": p.setting,
                "on_front": p.on_front,
                "wall_seconds": round(p.wall_seconds, 3),
                **p.summary.as_dict(),
            }
            for p in points
        ],
    }
    (out / "sweep.json").write_text(json.dumps(record, indent=2) + "\n")
