"""One look for every figure: theme, and a colour per outcome and per series, kept across figures."""

from __future__ import annotations

import seaborn as sns

OUTCOME_COLORS = {
    "ok": "#2a9d4b",
    "error": "#d62728",
    "timeout": "#ff7f0e",
    "dropped": "#9467bd",
    "rejected": "#8c564b",
    "enqueue_error": "#7f7f7f",
    "lost": "#111111",
}
SERIES_COLORS = {
    "offered": "#7f7f7f",
    "achieved": "#1f77b4",
    "failed": OUTCOME_COLORS["error"],
    "queue": "#17becf",
    "replicas": "#1f77b4",
    "desired": "#ff7f0e",
    "cpu_mean": "#111111",
    "target": "#d62728",
    "p50": "#9ecae1",
    "p95": "#3182bd",
    "p99": "#08519c",
    "slo": "#d62728",
    "queue_wait": "#17becf",
    "inference": "#bcbd22",
    "other": "#c7c7c7",
}
VIOLATION_SHADE = "#fde0dd"
DPI = 110


def apply_theme() -> None:
    sns.set_theme(style="whitegrid", context="notebook", rc={"axes.titleweight": "bold", "figure.dpi": DPI})


def run_palette(names: list[str]) -> dict[str, tuple[float, float, float]]:
    """A distinct colour per run, for --compare."""
    return dict(zip(names, sns.color_palette("tab10", len(names)), strict=True))
