"""A grid of settings, one simulation each, and the trade-off they draw: replica-seconds against
seconds that broke the SLO, with the settings no other beats on both (the Pareto front)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from matplotlib.figure import Figure

from mlscale.errors import InputError
from mlscale.simulate.summary import Summary


@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[Any, ...]


def parse_axis(text: str) -> Axis:
    """``a.b=v1,v2,...``: each value read as YAML, as ``--set`` reads one."""
    key, equals, values = text.partition("=")
    parts = [v.strip() for v in values.split(",")]
    if not equals or not key or any(not p for p in key.split(".")) or not all(parts):
        raise InputError(
            f"--sweep {text!r}: write it as a.b.c=v1,v2,..., "
            "e.g. autoscaling.targetCPUUtilizationPercentage=50,60,70"
        )
    try:
        parsed = tuple(yaml.safe_load(p) for p in parts)
    except yaml.YAMLError as exc:
        raise InputError(f"--sweep {text!r}: a value is not YAML: {exc}") from exc
    return Axis(key, parsed)


def grid(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """Every combination, the first axis slowest; keys in the axes' order."""
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise InputError(f"--sweep: each key once ({', '.join(keys)})")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(a.values for a in axes))]


def as_sets(point: dict[str, Any]) -> list[str]:
    return [
        f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
        for key, value in point.items()
    ]


def label(point: dict[str, Any]) -> str:
    """Each key's last part and its value: ``targetCPUUtilizationPercentage=60 maxReplicas=5``."""
    return " ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in point.items())


def short_label(point: dict[str, Any]) -> str:
    """The values alone, in the axes' order (``60 · 0``): the keys go in a heading (``keys``)."""
    return " · ".join(str(value) for value in point.values())


def keys(point: dict[str, Any]) -> str:
    return " · ".join(key.rsplit(".", 1)[-1] for key in point)


def pareto(points: Sequence[tuple[float, float]]) -> list[bool]:
    """True where no other point is at least as good on both and better on one (lower is better)."""
    front = []
    for i, (x, y) in enumerate(points):
        beaten = any(
            (ox <= x and oy <= y and (ox < x or oy < y)) for j, (ox, oy) in enumerate(points) if j != i
        )
        front.append(not beaten)
    return front


@dataclass(frozen=True)
class SweepPoint:
    setting: dict[str, Any]
    summary: Summary
    wall_seconds: float
    on_front: bool = False


def run_grid(
    settings: Sequence[dict[str, Any]],
    simulate: Callable[[dict[str, Any]], tuple[Summary, float]],
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> list[SweepPoint]:
    """``simulate``: a setting to its summary and wall seconds."""
    done = []
    for index, setting in enumerate(settings):
        if progress:
            progress(index, len(settings), setting)
        summary, wall = simulate(setting)
        done.append((setting, summary, wall))
    front = pareto([(s.replica_seconds, float(s.slo_violation_seconds)) for _, s, _ in done])
    return [
        SweepPoint(setting, summary, wall, on)
        for (setting, summary, wall), on in zip(done, front, strict=True)
    ]


def pareto_figure(
    points: Sequence[SweepPoint],
    *,
    title: str,
    measured: tuple[float, float] | None = None,
    measured_label: str = "the measured run",
) -> Figure:
    """One point per setting (replica-seconds, SLO-broken seconds), the front joined, labelled;
    ``measured``: the calibrating run's own two numbers, marked."""
    figure = Figure(figsize=(9, 6), layout="constrained")
    ax = figure.add_subplot()
    at = [(p.summary.replica_seconds, float(p.summary.slo_violation_seconds)) for p in points]
    for on, color, name in ((False, "#b0b0b0", "a setting"), (True, "#1f77b4", "on the Pareto front")):
        chosen = [xy for xy, p in zip(at, points, strict=True) if p.on_front is on]
        if chosen:
            ax.scatter([x for x, _ in chosen], [y for _, y in chosen], c=color, s=40, zorder=3, label=name)
    front = sorted({xy for xy, p in zip(at, points, strict=True) if p.on_front})
    if len(front) > 1:
        ax.plot([x for x, _ in front], [y for _, y in front], color="#1f77b4", linewidth=1, zorder=2)
    # Settings that land on one point share one label.
    names: dict[tuple[float, float], list[str]] = {}
    for xy, point in zip(at, points, strict=True):
        if point.on_front:
            names.setdefault(xy, []).append(short_label(point.setting))
    for (x, y), labels in names.items():
        shown = ", ".join(labels[:2]) + (f" +{len(labels) - 2} alike" if len(labels) > 2 else "")
        ax.annotate(shown, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    if measured is not None:
        ax.scatter(
            [measured[0]], [measured[1]], marker="*", s=220, color="#d62728", zorder=4, label=measured_label
        )
    ax.set_xlabel("replica-seconds (cost)")
    ax.set_ylabel("seconds whose arrivals broke the SLO")
    ax.set_title(f"{title}\nlabels: {keys(points[0].setting)}" if points else title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    return figure
