"""Writing a report: stats.json, the figures and report.html in the run directory; or a comparison."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mlscale.report import compare_plots, html, plots
from mlscale.report.load import Run
from mlscale.report.policies import compare_policies
from mlscale.report.stats import run_statistics
from mlscale.report.style import apply_theme
from mlscale.report.thresholds import Threshold, Verdict, evaluate

STATS_SCHEMA = 1
FIGURES = (
    ("timeline.png", plots.timeline_figure, "Load, queue, replicas, CPU and latency on one time axis"),
    ("latency.png", plots.latency_figure, "Latency distribution by outcome"),
    ("outcomes.png", plots.outcomes_figure, "Final outcome of every request"),
    ("breakdown.png", plots.breakdown_figure, "Queue wait vs inference time"),
)


@dataclass(frozen=True)
class ReportOptions:
    expected_total: int | None = None
    """The original design's totalRequests: requests never recorded count as lost."""
    slo_ms: float = 1000.0
    slo_percentile: float = 95.0
    thresholds: Sequence[Threshold] = ()


@dataclass
class Report:
    run: Run
    stats: dict[str, Any]
    verdicts: list[Verdict]
    files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


def statistics(run: Run, options: ReportOptions) -> dict[str, Any]:
    """stats.json's content: where the run came from, then the numbers."""
    system = run.meta.get("system", {})
    numbers = run_statistics(
        run.requests,
        run.timeline,
        run.replicas,
        run.meta,
        start_at=run.start_at,
        expected_total=options.expected_total,
        slo_ms=options.slo_ms,
        slo_percentile=options.slo_percentile,
    )
    return {
        "schema": STATS_SCHEMA,
        "run": {
            "path": str(run.path),
            "workload": run.meta.get("workload", {}).get("name"),
            "source": (run.meta.get("workload", {}).get("source") or {}).get("label"),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.start_at))
            if run.start_at
            else None,
            "backend": system.get("backend"),
            "policy": system.get("policy"),
            "engine": system.get("engine"),
            "time_scale": system.get("time_scale"),
            "target_cpu_utilization": system.get("target_cpu_utilization"),
            "partial": run.partial,
            "partial_reasons": run.partial_reasons,
            "schedule": run.meta.get("schedule"),
            "requests_per_unit": (run.meta.get("options") or {}).get("requests_per_unit"),
        },
        **numbers,
    }


def write_report(
    run: Run, options: ReportOptions, progress: Callable[[str], None] = lambda _: None
) -> Report:
    """Compute, draw and write everything into the run directory."""
    apply_theme()
    stats = statistics(run, options)
    verdicts = evaluate(list(options.thresholds), stats)
    if verdicts:
        stats["thresholds"] = [
            {"threshold": v.threshold.text, "actual": v.actual, "passed": v.passed} for v in verdicts
        ]
    report = Report(run, stats, verdicts)
    stats_path = run.path / "stats.json"
    stats_path.write_text(json.dumps(stats, indent=2, allow_nan=False) + "\n")
    report.files.append(stats_path)
    figures = []
    for name, draw, caption in FIGURES:
        progress(f"drawing {name}")
        figure: Figure = draw(run, stats)
        figures.append((plots.save(figure, run.path / name), caption))
    report.files.extend(path for path, _ in figures)
    page = run.path / "report.html"
    page.write_text(
        html.run_page(f"mlscale report · {run.name}", stats, figures, verdicts, run.partial_reasons)
    )
    report.files.append(page)
    return report


COMPARE_HEADER = (
    "run",
    "workload",
    "requests",
    "success",
    "p50",
    "p95",
    "p99",
    "SLO violated",
    "replica-s",
    "replica-s / 1k ok",
    "scale events",
    "time scale",
)


def compare_row(stats: dict[str, Any]) -> list[str]:
    ok = stats["latency_ms"]["ok"]["from_intended"]
    scaling = stats["autoscaling"]
    rate = stats["success_rate"]
    shown = [
        Path(stats["run"]["path"]).name + (" (partial)" if stats["run"]["partial"] else ""),
        stats["run"]["workload"] or "–",
        f"{stats['total']:,}",
        "–" if rate is None else f"{rate * 100:.2f} %",
        *("–" if ok[k] is None else f"{ok[k]:,.0f} ms" for k in ("p50", "p95", "p99")),
        f"{stats['slo']['seconds_violated']} s",
        "–" if scaling["replica_seconds"] is None else f"{scaling['replica_seconds']:,.0f}",
        "–"
        if scaling["replica_seconds_per_1000_ok"] is None
        else f"{scaling['replica_seconds_per_1000_ok']:,.1f}",
        str(len(scaling["scale_events"])),
        f"{stats['run']['time_scale']:g}" if stats["run"]["time_scale"] else "–",
    ]
    return shown


def write_comparison(
    runs: Sequence[Run], options: ReportOptions, out_dir: Path
) -> tuple[list[dict[str, Any]], list[Path]]:
    """Each run's statistics side by side (compare.json, report.html) and their timelines overlaid."""
    apply_theme()
    out_dir.mkdir(parents=True, exist_ok=True)
    all_stats = [statistics(run, options) for run in runs]
    comparison = compare_policies(all_stats)
    figure = plots.save(compare_plots.compare_figure(runs, all_stats), out_dir / "compare_timeline.png")
    by_policy = plots.save(
        compare_plots.policy_figure(runs, all_stats, comparison), out_dir / "compare_policies.png"
    )
    data = out_dir / "compare.json"
    document = {"schema": STATS_SCHEMA, **comparison, "runs": all_stats}
    data.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    page = out_dir / "report.html"
    rows = [compare_row(s) for s in all_stats]
    page.write_text(
        html.compare_page(
            f"mlscale comparison of {len(runs)} runs", rows, COMPARE_HEADER, figure,
            ranking=(RANKING_HEADER, ranking_rows(comparison)) if comparison["ranking"] else None,
            notes=comparison["notes"],
            policy_figure=by_policy,
        )
    )  # fmt: skip
    return all_stats, [data, by_policy, figure, page]


RANKING_HEADER = ("#", "policy", "runs", "SLO broken s", "recovery s", "replica-s", "per 1k ok", "p95 s",
                  "failed")  # fmt: skip


def _spread_text(measure: dict[str, Any], digits: int = 0, unit: float = 1.0) -> str:
    if measure["median"] is None:
        return "–"
    median, low, high = (f"{measure[k] / unit:,.{digits}f}" for k in ("median", "min", "max"))
    return median if low == high else f"{median} ({low}–{high})"


def ranking_rows(comparison: dict[str, Any]) -> list[list[str]]:
    """The ranking as a table: median (min–max over repeats) of each measure."""
    rows = []
    for entry in comparison["ranking"]:
        name = entry["policy"]
        policy = comparison["policies"][name]
        m = policy["measures"]
        rows.append([
            str(entry["place"]) + (" ≈" if entry.get("within_spread_of_above") else ""),
            name + ("*" if entry["yardstick"] else ""),
            str(len(policy["runs"])),
            _spread_text(m["slo_violation_seconds"]),
            _spread_text(m["recovery_s"]),
            _spread_text(m["replica_seconds"]),
            _spread_text(m["replica_seconds_per_1000_ok"]),
            _spread_text(m["p95_ms"], 1, 1000.0),
            _spread_text(m["failed"]),
        ])  # fmt: skip
    return rows
