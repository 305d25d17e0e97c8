"""``mlscale report``: thin; ``mlscale.report`` computes, draws and writes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlscale.cli_console import console
from mlscale.cli_params import positive
from mlscale.cli_tables import on_its_side, terminal_table
from mlscale.errors import InputError


def report(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(metavar="RUN_DIR", help="run directories (default: the latest under --runs-dir)"),
    ] = None,
    runs_dir: Annotated[Path, typer.Option(metavar="DIR", help="where to find the latest run")] = Path(
        "runs"
    ),
    total_requests: Annotated[
        int | None, typer.Option(metavar="N", min=0, help="requests expected; any not recorded count as lost")
    ] = None,
    slo_ms: Annotated[
        float, typer.Option(metavar="MS", callback=positive, help="latency SLO per second of arrival, ms")
    ] = 1000.0,
    slo_percentile: Annotated[
        float, typer.Option(metavar="PERCENT", min=1, max=100, help="the SLO's percentile")
    ] = 95.0,
    fail_on: Annotated[
        str | None,
        typer.Option(metavar="RULES", help="exit 1 unless each holds, e.g. p95<800ms,success>=99.5%"),
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", metavar="", help="overlay several runs and compare them side by side")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="--compare: where to write \\[default: runs/compare-TIME]"),
    ] = None,
) -> None:
    """Statistics, figures and one HTML page of a run: what happened, on one timeline."""
    from mlscale.report import build, html, thresholds
    from mlscale.report.load import latest_run, load_run

    options = build.ReportOptions(
        expected_total=total_requests,
        slo_ms=slo_ms,
        slo_percentile=slo_percentile,
        thresholds=thresholds.parse(fail_on) if fail_on is not None else (),
    )
    paths = list(run_dirs or [])
    if compare:
        if len(paths) < 2:
            raise InputError(
                "--compare needs two or more run directories: mlscale report --compare RUN_A RUN_B"
            )
        runs = [load_run(p) for p in paths]
        target = out or runs_dir / time.strftime("compare-%Y%m%dT%H%M%SZ", time.gmtime())
        with console.status("comparing runs"):
            all_stats, files = build.write_comparison(runs, options, target)
        _print_compared(runs, [build.compare_row(stats) for stats in all_stats], build.COMPARE_HEADER)
        for source in sorted({str(s["run"]["source"]) for s in all_stats if s["run"].get("source")}):
            console.print(f"workload: {source}", soft_wrap=True, highlight=False)
        comparison = json.loads(files[0].read_text())
        ranked = build.ranking_rows(comparison)
        if ranked:
            _print_ranking(build.RANKING_HEADER, ranked)
        for note in comparison["notes"]:
            console.print(("[yellow]" if not ranked else "") + f"note: {note}", highlight=False)
        _print_files(files)
        return
    if len(paths) > 1:
        raise InputError("give one run directory, or --compare with several")
    run = load_run(paths[0] if paths else latest_run(runs_dir))
    with console.status(f"reporting {run.path}") as status:
        result = build.write_report(run, options, progress=lambda step: status.update(f"{run.path}: {step}"))
    if run.partial:
        console.print("[yellow]partial run[/]: " + "; ".join(run.partial_reasons))
    console.print(f"run {run.path}", soft_wrap=True, highlight=False)
    if result.stats["run"].get("source"):
        console.print(f"workload: {result.stats['run']['source']}", soft_wrap=True, highlight=False)
    console.print(_summary_table(result.stats))
    events = html.scale_event_rows(result.stats, compact=True)  # the full reasons are in stats.json
    if events:
        console.print(terminal_table("scale events", SCALE_EVENT_HEADER, events, text=["reason"],
                                     whole_words=["reason"], legend=SCALE_EVENT_LEGEND))  # fmt: skip
    startup = html.startup_rows(result.stats)
    if startup:
        title = f"replica start-up, engine {result.stats['startup']['engine']}"
        console.print(terminal_table(title, STARTUP_HEADER, startup, text=["replica"], legend=STARTUP_LEGEND))
    _print_files(result.files)
    for verdict in result.verdicts:
        console.print(("[green]" if verdict.passed else "[red]") + verdict.describe())
    if result.failed:
        console.print(f"[red]{len(result.failed)} of {len(result.verdicts)} thresholds failed[/]")
        raise typer.Exit(1)


SCALE_EVENT_HEADER = ("at s", "replicas", "CPU", "load at", "decided", "ready", "react", "reason")
SCALE_EVENT_LEGEND = (
    "at s: seconds into the run; load at: the load change it answered (s); decided: seconds from that "
    "change to the decision; ready: from the decision to the new count ready; react: the two together"
)
STARTUP_HEADER = ("replica", "asked at s", "wait s", "start s", "total s")
STARTUP_LEGEND = "wait: from being asked for to its process starting; start: from then to ready"


def _summary_table(stats: dict[str, Any]) -> Table:
    from mlscale.report.html import summary_rows

    return terminal_table("summary", ("measure", "value"), summary_rows(stats), text=["measure"])


def _print_compared(runs: list[Any], rows: list[list[str]], header: tuple[str, ...]) -> None:
    """The runs side by side, a column each (#1, #2, ...), and which run each number is."""
    for table in on_its_side(f"{len(runs)} runs", header[1:], [row[1:] for row in rows]):
        console.print(table)
    for number, run in enumerate(runs, start=1):
        console.print(f"  #{number}: {run.path}" + (" (partial)" if run.partial else ""), soft_wrap=True,
                      highlight=False)  # fmt: skip


RANKING_LEGEND = (
    "SLO broken s: seconds whose arrivals broke the SLO; recovery s: after the largest load "
    "increase; replica-s: provisioned; per 1k ok: replica-s per 1,000 ok; ≈: within the spread of "
    "the policy above; *: the oracle, a yardstick"
)


def _print_ranking(header: tuple[str, ...], rows: list[list[str]]) -> None:
    """At 80 columns: the rank and ≈ beside the policy, the runs in the title, each range under
    its median, no vertical rules, so that no number is cut."""
    from rich import box

    runs = {row[2] for row in rows}
    title = f"policies ranked: median and min–max over {'/'.join(sorted(runs))} runs"
    table = Table(title=title, caption=RANKING_LEGEND, box=box.SIMPLE_HEAD)
    table.add_column("policy")
    for column in header[3:]:
        table.add_column(column, justify="right")
    for place, policy, _, *cells in rows:
        name = f"{place.replace(' ≈', '')} {policy}" + (" ≈" if "≈" in place else "")
        table.add_row(name, *(cell.replace(" (", "\n").rstrip(")") for cell in cells))
    console.print(table)


def _print_files(files: list[Path]) -> None:
    console.print("wrote " + ", ".join(str(f) for f in files))
