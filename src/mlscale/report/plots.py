"""The report's figures, drawn with seaborn on matplotlib Figures (no pyplot: no global state).

Each ``*_figure`` takes a run (and its statistics) and returns a Figure; ``save`` writes a PNG.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mlscale.report.load import Run
from mlscale.report.style import DPI, OUTCOME_COLORS, SERIES_COLORS, VIOLATION_SHADE
from mlscale.results import FINAL_OUTCOMES

LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": "small"}
"""Legends sit right of their panel, so they never cover data."""


def save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


def sampled(series: pd.Series) -> pd.Series:
    """A once-a-second sample, its gaps (a poll that fell in the next second) bridged for up to 3 s."""
    return numeric(series).ffill(limit=3)


def _title(run: Run) -> str:
    described = run.meta.get("workload", {})
    workload = (described.get("source") or {}).get("label") or described.get("name", "?")
    extras = []
    if run.time_scale != 1:
        extras.append(f"HPA periods and windows × {run.time_scale:g}")
    if run.partial:
        extras.append("PARTIAL RUN")
    return f"{run.name} · workload {workload}" + (f" · {' · '.join(extras)}" if extras else "")


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="#555555")


def _mark_load_changes(axes: Sequence[Axes], stats: dict[str, Any]) -> None:
    for change in stats.get("load_changes", []):
        for ax in axes:
            ax.axvline(change["at"], color="#999999", linestyle=":", linewidth=1, zorder=0)


# --- timeline -----------------------------------------------------------------------------------


def _rate_panel(ax: Axes, timeline: pd.DataFrame) -> None:
    seconds = timeline["second"]
    failed = timeline[
        ["completed_error", "completed_timeout", "completed_dropped", "rejected", "enqueue_errors"]
    ]
    ax.step(
        seconds,
        timeline["intended"],
        where="post",
        color=SERIES_COLORS["offered"],
        label="offered (intended)",
    )
    ax.plot(seconds, timeline["completed_ok"], color=SERIES_COLORS["achieved"], label="achieved (ok)")
    if failed.to_numpy().sum():
        ax.plot(seconds, failed.sum(axis=1), color=SERIES_COLORS["failed"], label="failed")
    ax.set_ylabel("requests/s")
    ax.set_title("Offered vs achieved rate", loc="left")
    ax.legend(**LEGEND)


def _queue_panel(ax: Axes, timeline: pd.DataFrame) -> None:
    depth = sampled(timeline["queue_depth"])
    if depth.notna().any():
        ax.fill_between(
            timeline["second"], depth.fillna(0), step="post", color=SERIES_COLORS["queue"], alpha=0.5
        )
        ax.step(
            timeline["second"],
            depth,
            where="post",
            color=SERIES_COLORS["queue"],
            label="queued at dispatcher",
        )
        ax.legend(**LEGEND)
    else:
        _no_data(ax, "the dispatcher's /stats was not sampled")
    ax.set_ylabel("requests")
    ax.set_title("Queue depth", loc="left")


def _replica_panel(ax: Axes, run: Run, stats: dict[str, Any]) -> None:
    ready = sampled(run.timeline["replicas"])
    desired = sampled(run.timeline["desired_replicas"])
    ax.set_title("Replicas", loc="left")
    ax.set_ylabel("replicas")
    if not ready.notna().any():
        _no_data(ax, "no backend was sampled (start one with `mlscale up` before the load test)")
        return
    seconds = run.timeline["second"]
    ax.step(seconds, ready, where="post", color=SERIES_COLORS["replicas"], linewidth=2, label="ready")
    ax.step(seconds, desired, where="post", color=SERIES_COLORS["desired"], linestyle="--", label="desired")
    events = stats["autoscaling"]["scale_events"]
    for direction, marker, label in ((1, "^", "scale-up decision"), (-1, "v", "scale-down decision")):
        chosen = [e for e in events if (e["to"] > e["from"]) == (direction > 0)]
        if chosen:
            ax.scatter(
                [e["at_s"] for e in chosen],
                [e["to"] for e in chosen],
                marker=marker,
                s=70,
                color=SERIES_COLORS["desired"],
                edgecolor="black",
                zorder=5,
                label=label,
            )
    system = run.meta.get("system", {})
    top = max(
        float(np.nanmax(ready)),
        float(np.nanmax(desired)) if desired.notna().any() else 0.0,
        float(system.get("max_replicas") or 0),
    )
    ax.set_ylim(0, top + 0.8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(**LEGEND)


def _cpu_panel(ax: Axes, run: Run) -> None:
    ax.set_title("CPU utilization per replica (% of its CPU request)", loc="left")
    ax.set_ylabel("% of request")
    mean = sampled(run.timeline["cpu_utilization"])
    if run.replicas.empty and not mean.notna().any():
        _no_data(ax, "no per-replica CPU was sampled")
        return
    if not run.replicas.empty:
        per_replica = run.replicas.assign(cpu=numeric(run.replicas["cpu_utilization"]))
        for index, (name, rows) in enumerate(per_replica.groupby("replica", sort=True)):
            ax.plot(
                rows["second"],
                rows["cpu"],
                linewidth=1,
                alpha=0.75,
                color=sns.color_palette("muted", 10)[index % 10],
                label=str(name),
            )
    ax.plot(
        run.timeline["second"], mean, color=SERIES_COLORS["cpu_mean"], linewidth=2, label="mean (HPA input)"
    )
    target = run.meta.get("system", {}).get("target_cpu_utilization")
    if target is not None:
        ax.axhline(float(target), color=SERIES_COLORS["target"], linestyle="--", label=f"target {target} %")
    ax.set_ylim(bottom=0)
    ax.legend(**LEGEND)


def _latency_panel(ax: Axes, run: Run, stats: dict[str, Any]) -> None:
    slo = stats["slo"]
    ax.set_title(
        f"Latency of ok requests per second of completion · SLO p{slo['percentile']:g} "
        f"≤ {slo['slo_ms']:g} ms per second of arrival (red: violated)",
        loc="left",
    )
    ax.set_ylabel("ms (log)")
    for start, end in slo["violations"]:
        ax.axvspan(start, end, color=VIOLATION_SHADE, zorder=0, linewidth=0)
    timeline = run.timeline
    plotted = False
    for column, name in (("latency_p50_ms", "p50"), ("latency_p95_ms", "p95"), ("latency_p99_ms", "p99")):
        values = numeric(timeline[column])
        if values.notna().any():
            ax.plot(timeline["second"], values, color=SERIES_COLORS[name], label=name)
            plotted = True
    if not plotted:
        _no_data(ax, "no request completed ok")
        return
    ax.axhline(slo["slo_ms"], color=SERIES_COLORS["slo"], linestyle="--", label=f"SLO {slo['slo_ms']:g} ms")
    ax.set_yscale("log")
    ax.legend(**LEGEND)


def timeline_figure(run: Run, stats: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(13, 14), layout="constrained")
    axes = figure.subplots(5, 1, sharex=True)
    if run.timeline.empty:
        for ax in axes:
            _no_data(ax, "no timeline")
    else:
        _rate_panel(axes[0], run.timeline)
        _queue_panel(axes[1], run.timeline)
        _replica_panel(axes[2], run, stats)
        _cpu_panel(axes[3], run)
        _latency_panel(axes[4], run, stats)
        _mark_load_changes(axes, stats)
    axes[-1].set_xlabel("time since the run started (s) · dotted lines: load changes")
    figure.suptitle(f"Timeline · {_title(run)}")
    return figure


# --- distributions ------------------------------------------------------------------------------


def _with_latency(requests: pd.DataFrame) -> pd.DataFrame:
    frame = requests[requests["latency_ms"].notna()].copy()
    frame["outcome"] = frame["outcome"].astype(str)
    frame["latency_ms"] = frame["latency_ms"].astype(float).clip(lower=0.1)
    return frame


def latency_figure(run: Run, stats: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(13, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    data = _with_latency(run.requests)
    figure.suptitle(f"Latency from the intended send time · {_title(run)}")
    if data.empty:
        for ax in (left, right):
            _no_data(ax, "no request completed")
        return figure
    present = [o for o in FINAL_OUTCOMES if (data["outcome"] == o).any()]
    palette = {o: OUTCOME_COLORS[o] for o in present}
    sns.histplot(
        data,
        x="latency_ms",
        hue="outcome",
        hue_order=present,
        palette=palette,
        log_scale=True,
        element="step",
        stat="count",
        common_bins=True,
        ax=left,
    )
    left.set_title("Histogram by outcome", loc="left")
    left.set_xlabel("latency (ms, log)")
    left.set_ylabel("requests")
    sns.ecdfplot(
        data, x="latency_ms", hue="outcome", hue_order=present, palette=palette, log_scale=True, ax=right
    )
    right.set_title("ECDF by outcome (ok: p50, p95, p99 marked)", loc="left")
    right.set_xlabel("latency (ms, log)")
    right.set_ylabel("fraction of requests at or below")
    ok = stats["latency_ms"]["ok"]["from_intended"]
    for key, style in (("p50", ":"), ("p95", "--"), ("p99", "-.")):
        if ok[key] is not None:
            right.axvline(ok[key], color=OUTCOME_COLORS["ok"], linestyle=style, linewidth=1)
            right.annotate(
                f"{key} {ok[key]:.0f} ms",
                (ok[key], 0.02 + 0.08 * ("p50", "p95", "p99").index(key)),
                fontsize="small",
                xytext=(3, 0),
                textcoords="offset points",
            )
    for ax in (left, right):
        legend = ax.get_legend()
        if legend is not None:
            sns.move_legend(ax, **LEGEND)
    return figure


def outcomes_figure(run: Run, stats: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(13, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.3))
    counts = stats["counts"]
    rate = stats["success_rate"]
    figure.suptitle(
        f"Outcomes · {stats['total']:,} requests · success "
        + (f"{rate * 100:.2f} %" if rate is not None else "–")
        + f" · {_title(run)}"
    )
    # Bars on their side, like the right panel's: seven outcome names side by side overlapped.
    names = list(FINAL_OUTCOMES)
    sns.barplot(
        x=[counts[n] for n in names], y=names, hue=names, palette=OUTCOME_COLORS, legend=False,
        orient="h", ax=left,
    )  # fmt: skip
    for index, name in enumerate(names):
        left.annotate(f" {counts[name]:,}", (counts[name], index), ha="left", va="center", fontsize="small")
    left.set_title("Requests by final outcome", loc="left")
    left.set_xlabel("requests")
    left.set_ylabel("")
    left.margins(x=0.15)
    kinds = list(stats["failures_by_kind"].items())[:10]
    right.set_title("Failures by kind (top 10)", loc="left")
    if not kinds:
        _no_data(right, "no failures")
        right.set_xticks([])
        right.set_yticks([])
        return figure
    labels = [k for k, _ in kinds]
    colors = {k: OUTCOME_COLORS.get(k.split(":")[0], "#555555") for k in labels}
    sns.barplot(
        x=[n for _, n in kinds], y=labels, hue=labels, palette=colors, legend=False, orient="h", ax=right
    )
    right.set_xlabel("requests")
    right.set_ylabel("")
    return figure


def breakdown_figure(run: Run, stats: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(13, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    figure.suptitle(f"Where an ok request's time went · {_title(run)}")
    ok = run.requests[(run.requests["outcome"] == "ok") & run.requests["queue_ms"].notna()]
    if ok.empty:
        for ax in (left, right):
            _no_data(ax, "no ok request reported its queue and inference time")
        return figure
    parts = pd.DataFrame(
        {
            "queue wait": ok["queue_ms"].astype(float),
            "inference": ok["infer_ms"].astype(float),
            "other": (ok["latency_ms"] - ok["queue_ms"] - ok["infer_ms"]).astype(float),
        }
    ).melt(var_name="part", value_name="ms")
    parts["ms"] = parts["ms"].clip(lower=0.1)
    palette = {
        "queue wait": SERIES_COLORS["queue_wait"],
        "inference": SERIES_COLORS["inference"],
        "other": SERIES_COLORS["other"],
    }
    with warnings.catch_warnings():
        # seaborn 0.13 passes matplotlib 3.11 the deprecated ``vert=``; harmless until 3.13.
        warnings.filterwarnings("ignore", message="vert: bool was deprecated")
        sns.boxplot(
            parts, x="part", y="ms", hue="part", palette=palette, log_scale=True, ax=left, fliersize=1
        )
    # Each part's share of the mean latency goes under its box: as a second line of the title it
    # ran into the right panel's title ("otheM12%").
    share = stats["breakdown_ms"]["share_of_mean"]
    shares = {
        "queue wait": share.get("queue"),
        "inference": share.get("inference"),
        "other": share.get("other"),
    }
    left.set_xticks(range(len(shares)))
    left.set_xticklabels(
        [f"{part}\n{'–' if v is None else f'{v * 100:.0f} %'} of the mean" for part, v in shares.items()]
    )
    left.set_title("Distribution", loc="left")
    left.set_xlabel("")
    left.set_ylabel("ms (log)")
    second = ((ok["completed_at"] - run.start_at) // 1).astype(int)
    medians = ok.assign(second=second).groupby("second")[["queue_ms", "infer_ms"]].median()
    right.stackplot(
        medians.index,
        medians["queue_ms"],
        medians["infer_ms"],
        colors=[SERIES_COLORS["queue_wait"], SERIES_COLORS["inference"]],
        labels=["queue wait (median)", "inference (median)"],
        alpha=0.8,
    )
    right.set_title("Median per second of completion", loc="left")
    right.set_xlabel("time since the run started (s)")
    right.set_ylabel("ms")
    right.legend(**LEGEND)
    return figure
