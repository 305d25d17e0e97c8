"""``report.html``: one self-contained page (figures inlined as base64 PNG), no scripts, no links out."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from mlscale.autoscaling.reasons import short_reason
from mlscale.report.thresholds import Verdict

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.partial { background: #fff3cd; border: 1px solid #e0c060; padding: 0.6em 1em; }
.fail { color: #b00020; font-weight: bold; } .pass { color: #2a7a3b; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        # + 0.0 turns the -0.0 that rounding a tiny negative (a clock's jitter) gives into 0.0
        return f"{round(value, digits) + 0.0:,.{digits}f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else escape(str(value)) + unit


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def summary_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The headline numbers, as (name, shown value); also the terminal table's rows."""
    ok = stats["latency_ms"]["ok"]["from_intended"]
    scaling = stats["autoscaling"]
    slo = stats["slo"]
    rate = stats["success_rate"]
    return [
        ("requests (expected)" if stats["expected"] else "requests", _fmt(stats["total"])),
        ("success rate", "–" if rate is None else f"{rate * 100:.2f} %"),
        *[(f"{name}", _fmt(n)) for name, n in stats["counts"].items()],
        (
            "offered / achieved",
            f"{_fmt(stats['throughput']['offered_rps'])} / {_fmt(stats['throughput']['achieved_rps'])} req/s",
        ),
        *[
            (f"latency {key} (ok)", _fmt(ok[key], " ms"))
            for key in ("p50", "p90", "p95", "p99", "p99.9", "max")
        ],
        (
            "queue wait p50 / p95",
            f"{_fmt(stats['breakdown_ms']['queue']['p50'], ' ms')} / "
            f"{_fmt(stats['breakdown_ms']['queue']['p95'], ' ms')}",
        ),
        (
            "inference p50 / p95",
            f"{_fmt(stats['breakdown_ms']['inference']['p50'], ' ms')} / "
            f"{_fmt(stats['breakdown_ms']['inference']['p95'], ' ms')}",
        ),
        (
            f"seconds violating p{slo['percentile']:g} ≤ {slo['slo_ms']:g} ms",
            f"{slo['seconds_violated']} of {slo['seconds_evaluated']}",
        ),
        ("replica-seconds", _fmt(scaling["replica_seconds"], digits=0)),
        ("replica-seconds per 1,000 ok", _fmt(scaling["replica_seconds_per_1000_ok"])),
        ("replicas min–max", f"{_fmt(scaling['replicas_min'])}–{_fmt(scaling['replicas_max'])}"),
    ]


def scale_event_rows(stats: dict[str, Any], compact: bool = False) -> list[list[str]]:
    """One row per scale event; ``compact`` (a terminal's 80 columns) names the metric of a reason
    briefly (short_reason) and leaves the seconds' unit to the legend, so that a reason's longest
    word (ScaleDownStabilized) fits whole."""
    seconds = "" if compact else " s"
    return [
        [
            _fmt(e["at_s"]),
            f"{e['from']} → {e['to']}",
            _fmt(e["utilization"], " %", digits=0 if compact else 1),
            _fmt(e["load_change_at_s"], digits=0 if compact else 1),
            _fmt(e["decision_after_load_s"], seconds),
            _fmt(e["ready_after_decision_s"], seconds),
            _fmt(e["reaction_s"], seconds),
            _fmt(short_reason(e["reason"]) if compact else e["reason"]),
        ]
        for e in stats["autoscaling"]["scale_events"]
    ]


SCALE_EVENT_HEADER = (
    "at s",
    "replicas",
    "CPU",
    "load change at s",
    "→ decision",
    "→ ready",
    "reaction",
    "reason",
)
"""Reaction = load change -> decision -> replicas ready at the new count."""


def run_page(
    title: str,
    stats: dict[str, Any],
    figures: Sequence[tuple[Path, str]],
    verdicts: Sequence[Verdict] = (),
    partial_reasons: Sequence[str] = (),
) -> str:
    parts = [f"<h1>{escape(title)}</h1>"]
    if partial_reasons:
        items = "".join(f"<li>{escape(r)}</li>" for r in partial_reasons)
        parts.append(
            f'<div class="partial"><b>Partial run</b>: it reports what it has.<ul>{items}</ul></div>'
        )
    run = stats.get("run", {})
    described = [
        ("workload", run.get("workload")),
        ("source", run.get("source")),
        ("started (UTC)", run.get("started")),
        ("backend", run.get("backend")),
        ("HPA time scale", run.get("time_scale")),
    ]
    parts.append(_table(("run", ""), [(escape(k), _fmt(v)) for k, v in described if v is not None]))
    parts.append("<h2>Summary</h2>")
    parts.append(_table(("measure", "value"), [(escape(k), v) for k, v in summary_rows(stats)]))
    if verdicts:
        rows = [
            (
                f'<span class="{"pass" if v.passed else "fail"}">{"pass" if v.passed else "FAIL"}</span>',
                escape(v.threshold.text),
                escape(v.shown()),
            )
            for v in verdicts
        ]
        parts.append("<h2>Thresholds</h2>" + _table(("result", "threshold", "actual"), rows))
    events = scale_event_rows(stats)
    parts.append("<h2>Scale events</h2>")
    parts.append(_table(SCALE_EVENT_HEADER, events) if events else "<p>No replica changes in this run.</p>")
    replicas = replica_rows(stats)
    if replicas:
        parts.append("<h2>Replicas</h2>")
        parts.append(_table(REPLICA_HEADER, replicas))
        balance = stats.get("balance")
        if balance:
            parts.append(
                f"<p>Steady phase {balance['from_s']}–{balance['to_s']} s, "
                f"{balance['replicas']} ready replicas, "
                f"{balance['requests']:,} requests: each replica's share vs the fair "
                f"{balance['fair_share'] * 100:.1f} %, largest deviation "
                f"{balance['max_deviation'] * 100:.1f} % of it.</p>"
            )
    startup = startup_rows(stats)
    if startup:
        parts.append(f"<h2>Replica start-up ({escape(str(stats['startup']['engine']))})</h2>")
        parts.append(_table(STARTUP_HEADER, startup))
    parts.append("<h2>Figures</h2>")
    parts.extend(_image(path, caption) for path, caption in figures)
    return _page(title, "\n".join(parts))


STARTUP_HEADER = ("replica", "asked at (s)", "decision → process (s)", "process → ready (s)",
                  "decision → ready (s)")  # fmt: skip


def startup_rows(stats: dict[str, Any]) -> list[list[str]]:
    """One row per replica, then the medians of those asked for during the run."""
    startup = stats.get("startup")
    if not startup:
        return []
    rows = [
        [escape(r["replica"]) + ("" if r["during_run"] else " (before the run)"), _fmt(r["asked_at_s"]),
         _fmt(r["wait_s"]), _fmt(r["start_s"]), _fmt(r["total_s"])]
        for r in startup["replicas"]
    ]  # fmt: skip
    medians = startup["median_during_run"]
    if startup["started_during_run"]:
        label = f"median of {startup['started_during_run']} during the run"
        rows.append([label, "", *(_fmt(medians[stage]) for stage in ("wait_s", "start_s", "total_s"))])
    return rows


REPLICA_HEADER = ("replica", "ok requests", "share", "steady-phase share", "ready (s)",
                  "mean CPU (% of request)", "restarts")  # fmt: skip


def replica_rows(stats: dict[str, Any]) -> list[list[str]]:
    steady = (stats.get("balance") or {}).get("shares", {})
    return [
        [
            escape(r["replica"]),
            _fmt(r["ok"]),
            "–" if r["share"] is None else f"{r['share'] * 100:.1f} %",
            f"{steady[r['replica']] * 100:.1f} %" if r["replica"] in steady else "–",
            _fmt(r["ready_s"]),
            _fmt(r["cpu_utilization_mean"]),
            _fmt(r["restarts"]),
        ]
        for r in stats.get("replicas", [])
    ]


def compare_page(
    title: str,
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    figure: Path,
    *,
    ranking: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None,
    notes: Sequence[str] = (),
    policy_figure: Path | None = None,
) -> str:
    body = f"<h1>{escape(title)}</h1>"
    if ranking is not None:
        body += "<h2>Policies ranked</h2>" + _table(*ranking)
        body += (
            "<p>Median (min–max) over repeats. Ranked by SLO-violated seconds, then replica-seconds; "
            "≈: within the spread of the policy above it.</p>"
        )
        body += "".join(f"<p>{escape(n)}</p>" for n in notes)
    if policy_figure is not None:
        body += _image(policy_figure, "policies overlaid")
    body += "<h2>Every run</h2>" + _table(header, rows) + _image(figure, "timelines overlaid")
    return _page(title, body)


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
