"""The ``mlscale`` command: thin, it parses, calls the library and prints.

Every command goes through ``guarded``, the one edge where an ``MlscaleError`` becomes a message
and an exit code (with ``MLSCALE_DEBUG=1``, the traceback and its chained causes too).
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mlscale import (
    __version__,
    cli_compare,
    cli_loadtest,
    cli_report,
    cli_simulate,
    cli_system,
    cli_tune,
    cli_workload,
)
from mlscale.backends.base import EngineName
from mlscale.cli_console import console, errors
from mlscale.cli_params import choices
from mlscale.cli_tables import terminal_table
from mlscale.errors import MlscaleError

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    name="mlscale",
    help="Run and study autoscaled ML inference: bring the system up, load it, report, tear it down.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Run and study autoscaled ML inference."""


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """MlscaleError -> a message and its exit code, never a traceback (unless MLSCALE_DEBUG is set)."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except MlscaleError as exc:
            if os.environ.get("MLSCALE_DEBUG"):
                errors.print_exception()
            errors.print(f"[red]error:[/] {escape(str(exc))}")  # an 'mlscale[local]' is text, not markup
            raise typer.Exit(exc.exit_code) from exc

    return run


def version() -> None:
    """Print mlscale's version and the Python it runs on."""
    console.print(f"mlscale {__version__} (Python {platform.python_version()})")


def demo(
    workload: Annotated[
        Path | None, typer.Option(metavar="FILE", help="the workload to run \\[default: workloads/demo.txt]")
    ] = None,
    time_scale: Annotated[
        float, typer.Option(metavar="X", help="multiply every HPA period and window (0 < x <= 1)")
    ] = 1.0,
    runs_dir: Annotated[Path, typer.Option(metavar="DIR", help="where the run directory goes")] = Path(
        "runs"
    ),
    live: Annotated[
        bool, typer.Option(metavar="", help="show the live view (a line a second when not a terminal)")
    ] = True,
    engine: Annotated[
        EngineName | None,
        typer.Option(
            metavar=choices(EngineName),
            help="what runs the model \\[values.yaml: inference.engine]",
        ),
    ] = None,
) -> None:
    """The whole life on the local backend: up, load test, down, report (about six minutes)."""
    from mlscale.backends import BackendName
    from mlscale.locations import local_or_shipped
    from mlscale.report.load import load_run

    chosen = workload or local_or_shipped(Path("workloads/demo.txt"), "workloads")
    cli_system.up(backend=BackendName.LOCAL, weights="none", time_scale=time_scale, engine=engine)
    try:
        cli_loadtest.loadtest(workload_files=[chosen], live=live, runs_dir=runs_dir)
    finally:
        cli_system.down()
    run_dir = max(runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    console.print(_timeline_table(load_run(run_dir).timeline))
    cli_report.report(run_dirs=[run_dir])
    console.print(f"open {run_dir / 'report.html'} in a browser for every figure")


TIMELINE_HEADER = ("t s", "sent/s", "ok/s", "p50 ms", "queue", "ready", "desired", "CPU %")
TIMELINE_LEGEND = "ready: replicas ready; desired: what the autoscaler asked for; CPU %: of the request"


def _timeline_table(timeline: pd.DataFrame) -> Table:
    import pandas as pd

    def shown(value: object, digits: str = "") -> str:
        return "–" if value is pd.NA or value != value else f"{value:{digits}}"

    rows = [
        [str(row.second), str(row.sent), str(row.completed_ok), shown(row.latency_p50_ms, ".0f"),
         shown(row.queue_depth), shown(row.replicas), shown(row.desired_replicas),
         shown(row.cpu_utilization, ".0f")]
        for row in timeline.iloc[::15].itertuples()
    ]  # fmt: skip
    return terminal_table("replica timeline (every 15 s)", TIMELINE_HEADER, rows, legend=TIMELINE_LEGEND)


def short_help(command: Callable[..., None]) -> str:
    """A command's first sentence, on one line: what `mlscale --help` lists."""
    text = " ".join((command.__doc__ or "").split())
    head, found, _ = text.partition(". ")
    return head + "." if found else text


for _command in (
    cli_system.up,
    cli_system.status,
    cli_system.down,
    cli_loadtest.loadtest,
    cli_report.report,
    cli_compare.compare,
    cli_simulate.simulate,
    cli_tune.tune,
    demo,
    version,
):
    app.command(short_help=short_help(_command))(guarded(_command))

workload_app = typer.Typer(
    name="workload", help="Make a workload from a shape, or look at one before it runs.", no_args_is_help=True
)
for _subcommand in (cli_workload.gen, cli_workload.show):
    workload_app.command(short_help=short_help(_subcommand))(guarded(_subcommand))
app.add_typer(workload_app)
