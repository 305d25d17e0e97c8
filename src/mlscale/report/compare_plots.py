"""The comparison figures: several runs' timelines overlaid, and one line per policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mlscale.report.load import Run
from mlscale.report.plots import LEGEND, numeric, sampled
from mlscale.report.style import SERIES_COLORS, run_palette


def compare_figure(runs: Sequence[Run], stats: Sequence[dict[str, Any]]) -> Figure:
    """The runs' timelines overlaid on one time axis (seconds since each run's start)."""
    figure = Figure(figsize=(13, 11), layout="constrained")
    axes = figure.subplots(4, 1, sharex=True)
    colors = run_palette([r.name for r in runs])
    for run, run_stats in zip(runs, stats, strict=True):
        color = colors[run.name]
        timeline = run.timeline
        if timeline.empty:
            continue
        seconds = timeline["second"]
        axes[0].step(seconds, timeline["intended"], where="post", color=color, linestyle=":", linewidth=1)
        label = run_label(run.name, run_stats)
        axes[0].plot(seconds, timeline["completed_ok"], color=color, label=label)
        axes[1].step(seconds, sampled(timeline["replicas"]), where="post", color=color, label=label)
        axes[2].step(seconds, sampled(timeline["queue_depth"]), where="post", color=color, label=label)
        axes[3].plot(seconds, numeric(timeline["latency_p95_ms"]), color=color, label=label)
        slo = run_stats["slo"]["slo_ms"]
    titles = ("Achieved ok/s (dotted: offered)", "Ready replicas", "Queue depth", "Latency p95 per second")
    units = ("requests/s", "replicas", "requests", "ms (log)")
    for ax, title, unit in zip(axes, titles, units, strict=True):
        ax.set_title(title, loc="left")
        ax.set_ylabel(unit)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(**LEGEND)
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    if stats:
        axes[3].axhline(slo, color=SERIES_COLORS["slo"], linestyle="--", label=f"SLO {slo:g} ms")
        axes[3].set_yscale("log")
        axes[3].legend(**LEGEND)
    axes[-1].set_xlabel("time since each run started (s)")
    sources = sorted({str(s["run"].get("source")) for s in stats if s["run"].get("source")})
    figure.suptitle(f"Comparison of {len(runs)} runs" + (f" on {'; '.join(sources)}" if sources else ""))
    return figure


def run_label(name: str, stats: dict[str, Any]) -> str:
    """A run's name with what scaled it and what ran the model, when the run says."""
    said = [str(stats["run"][key]) for key in ("policy", "engine") if stats["run"].get(key)]
    if stats["run"].get("backend") == "simulated":
        said.append("simulated")
    return f"{name} ({', '.join(said)})" if said else name


def policy_figure(runs: Sequence[Run], stats: Sequence[dict[str, Any]], comparison: dict[str, Any]) -> Figure:
    """One timeline per policy overlaid: offered load, ready replicas, queue, p95. The run of
    median SLO-broken seconds is drawn bold; the other repeats thin, to show the spread."""
    figure = Figure(figsize=(13, 11), layout="constrained")
    axes = figure.subplots(4, 1, sharex=True)
    names = list(comparison["policies"])
    colors = run_palette(names)
    by_path = {str(r.path): r for r in runs}
    slo = stats[0]["slo"]["slo_ms"] if stats else 1000.0
    offered_drawn = False
    for name in names:
        entry = comparison["policies"][name]
        violated = entry["measures"]["slo_violation_seconds"]
        paths = entry["runs"]
        middle = min(
            paths, key=lambda p: abs((violated["values"][paths.index(p)] or 0) - (violated["median"] or 0))
        )
        for path in paths:
            run = by_path.get(path)
            if run is None or run.timeline.empty:
                continue
            bold = path == middle
            style = {"color": colors[name], "linewidth": 2.0 if bold else 0.8, "alpha": 1.0 if bold else 0.35}
            label = f"{name} ({len(paths)} run{'s' if len(paths) > 1 else ''})" if bold else None
            timeline = run.timeline
            seconds = timeline["second"]
            if not offered_drawn:
                axes[0].step(seconds, timeline["intended"], where="post", color=SERIES_COLORS["offered"],
                             linestyle=":", linewidth=1.5, label="offered")  # fmt: skip
                offered_drawn = True
            axes[0].plot(seconds, timeline["completed_ok"], label=label, **style)
            axes[1].step(seconds, sampled(timeline["replicas"]), where="post", label=label, **style)
            axes[2].step(seconds, sampled(timeline["queue_depth"]), where="post", label=label, **style)
            axes[3].plot(seconds, numeric(timeline["latency_p95_ms"]), label=label, **style)
    titles = ("Ok/s per policy (dotted: offered load)", "Ready replicas", "Dispatcher queue depth",
              "Latency p95 per second")  # fmt: skip
    units = ("requests/s", "replicas", "requests", "ms (log)")
    for ax, title, unit in zip(axes, titles, units, strict=True):
        ax.set_title(title, loc="left")
        ax.set_ylabel(unit)
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[3].axhline(slo, color=SERIES_COLORS["slo"], linestyle="--", label=f"SLO {slo:g} ms")
    axes[3].set_yscale("log")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(**LEGEND)
    axes[-1].set_xlabel("time since each run started (s); bold: the run of median SLO-broken seconds")
    workloads = sorted({str(s["run"].get("source") or s["run"]["workload"]) for s in stats})
    figure.suptitle(f"Policies on {', '.join(workloads)}: {', '.join(names)}")
    return figure
