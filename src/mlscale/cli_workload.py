"""``mlscale workload gen|show``, and the workload source options ``loadtest``, ``compare``,
``simulate`` and ``show`` share (one syntax, one place): thin, ``mlscale.workload`` does the work."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from mlscale.cli_console import console
from mlscale.cli_params import choices, http_url, positive
from mlscale.errors import InputError
from mlscale.workload import Arrival, Workload
from mlscale.workload.source import SourceOptions

SOURCE_OPTIONS: dict[str, tuple[Any, Any]] = {
    "workload_files": (Annotated[
        list[Path] | None,
        typer.Argument(metavar="WORKLOAD", help="rate file, trace or Prometheus JSON (several: in order)"),
    ], None),
    "pick": (Annotated[
        str | None,
        typer.Option(metavar="KEY=VALUE", help="Azure Functions: function=HASH, app=HASH or top=N \\[all]"),
    ], None),
    "prometheus": (Annotated[
        str | None,
        typer.Option(metavar="URL", callback=http_url, help="read the rate from this Prometheus instead"),
    ], None),
    "query": (Annotated[
        str | None, typer.Option(metavar="PROMQL", help="with --prometheus: a rate in requests/s")
    ], None),
    "start": (Annotated[
        str | None,
        typer.Option(metavar="SPAN|TIME", help="cut from this far in (6h); --prometheus: a time (now-1d)"),
    ], None),
    "end": (Annotated[
        str | None, typer.Option(metavar="TIME", help="with --prometheus: the range's end \\[now]")
    ], None),
    "step": (Annotated[
        str | None, typer.Option(metavar="SPAN", help="with --prometheus: the resolution \\[60s]")
    ], None),
    "duration": (Annotated[
        str | None, typer.Option(metavar="SPAN", help="cut this long a window (1h)")
    ], None),
    "speed": (Annotated[
        float, typer.Option(metavar="K", callback=positive, help="compress time K× (every request kept)")
    ], 1.0),
    "peak": (Annotated[
        float | None,
        typer.Option(metavar="R", callback=positive, help="size the busiest second to R replicas' worth"),
    ], None),
}  # fmt: skip
"""Where a workload comes from, the same options in every command that takes one (``takes_a_source``)."""


def takes_a_source(command: Callable[..., None]) -> Callable[..., None]:
    """``command(..., source: SourceOptions, ...)`` as Typer sees it: the ``SOURCE_OPTIONS`` in the
    place of ``source``, gathered into one ``SourceOptions`` when it is called (by Typer, or by
    another command with those keywords)."""
    signature = inspect.signature(command)
    hints = get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name != "source":
            parameters.append(parameter.replace(annotation=hints[parameter.name]))
            continue
        parameters.extend(
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=hint)
            for name, (hint, default) in SOURCE_OPTIONS.items()
        )

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name, default) for name, (_, default) in SOURCE_OPTIONS.items()}
        command(*args, source=source_options(**given), **kwargs)

    del run.__wrapped__  # what Typer and inspect read is the signature below, not the command's own
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return run


def source_options(
    workload_files: list[Path] | None,
    pick: str | None = None,
    prometheus: str | None = None,
    query: str | None = None,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
    duration: str | None = None,
    speed: float = 1.0,
    peak: float | None = None,
) -> SourceOptions:
    """The options as given; each file as given, else the one of that name mlscale ships."""
    from mlscale.locations import local_or_shipped

    found = tuple(local_or_shipped(path, "workloads") for path in workload_files or ())
    return SourceOptions(found, pick, prometheus, query, start, end, step, duration, speed, peak)


def resolve(options: SourceOptions) -> Workload:
    from mlscale.workload.source import resolve as resolve_source

    workload, _ = resolve_source(options)
    return workload


def gen(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="diurnal, mmpp, flash-crowd, ramp or step")],
    out: Annotated[Path, typer.Option("-o", "--out", metavar="FILE", help="the rate file to write")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="a parameter over its default"),
    ] = None,
) -> None:
    """Write a seeded rate file of a shape: diurnal (a day's sine with noise), mmpp (Markov-modulated
    bursts), flash-crowd (a jump with a decay), ramp or step. `--param x=?` lists a kind's parameters."""
    from mlscale.workload import format_rates
    from mlscale.workload.generators import generate, params_of

    given: dict[str, str] = {}
    for item in param or ():
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise InputError(f"--param {item!r}: write it as NAME=VALUE, e.g. mean=20")
        given[name.strip()] = value.strip()
    if any(value == "?" for value in given.values()):
        for name, p in params_of(kind).items():
            console.print(f"  {name}={p.default}  {p.help}", highlight=False)
        return
    workload = generate(kind, given)
    out.write_text(format_rates(workload))
    console.print(f"{out}: {workload.description}", highlight=False, soft_wrap=True)


@takes_a_source
def show(
    source: SourceOptions,
    scale: Annotated[float, typer.Option(metavar="X", min=0.0, help="multiply every rate")] = 1.0,
    capacity: Annotated[
        float | None,
        typer.Option(
            metavar="RPS", callback=positive, help="requests/s one replica serves \\[the running system's]"
        ),
    ] = None,
    arrival: Annotated[
        Arrival, typer.Option(metavar=choices(Arrival), help="spacing within each step")
    ] = Arrival.UNIFORM,
    random_seed: Annotated[int, typer.Option(metavar="SEED", help="seed for poisson arrivals")] = 1,
    plot: Annotated[
        Path | None, typer.Option(metavar="PNG", help="also draw the rate into this file")
    ] = None,
) -> None:
    """A workload at a glance: its rate as a sparkline, duration, requests, mean, peak, burstiness
    and, with a calibration at hand, the replicas' worth at its peak."""
    from mlscale.workload import shape as shapes

    workload = resolve(source)
    per_unit = _per_unit(workload, capacity)
    # Requests/s of one unit: a replica's for a workload in replicas; 1 for one in requests/s.
    sized = scale * ((per_unit or 1.0) if workload.unit != "rps" else 1.0)
    counts = shapes.counts_of(workload, sized, arrival, random_seed)
    summary = shapes.shape(counts)
    for line in describe(workload, summary, per_unit):
        console.print(line, highlight=False, markup=False)
    if plot is not None:
        from mlscale.workload.plot import draw

        draw(workload, counts, plot, sized, arrival, random_seed)
        console.print(f"  {plot}", highlight=False)


def _per_unit(workload: Workload, capacity: float | None) -> float | None:
    """Requests/s one replica serves (``--capacity``, else the running system's calibration: of the
    workload's unit, at the CPU target for one in requests/s), or None; a workload in replicas needs it."""
    from mlscale.backends.state import read_state
    from mlscale.workload.sizing import requests_per_unit_of

    calibration = (read_state() or {}).get("calibration")
    if workload.unit != "rps":
        return requests_per_unit_of(workload, capacity, calibration)[0]
    if capacity is not None:
        return capacity
    value = (calibration or {}).get("capacity_at_target_rps")
    return float(value) if value else None


def describe(workload: Workload, s: Any, per_unit: float | None) -> list[str]:
    """Lines of at most 80 columns; ``per_unit``: requests/s of one replica (of the workload's unit,
    or at the CPU target for one in requests/s), when known."""
    from mlscale.workload.shape import sparkline

    def number(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    lines = [workload.label[:80], "", sparkline(s.counts, 78), ""]
    rows = [
        ("duration", f"{_span(s.seconds)} ({s.seconds:,} s)"),
        ("requests", f"{s.requests:,}"),
        ("mean", f"{s.mean_rps:,.2f} requests/s"),
        ("peak", f"{s.peak_rps:,} requests/s in one second"),
        ("peak-to-mean", number(s.peak_to_mean)),
        ("dispersion", f"{number(s.dispersion)}  (variance/mean of per-second counts)"),
        ("lag-1 autocorr", number(s.lag1)),
    ]
    if per_unit:
        unit = "flat-out replicas" if workload.unit == "flat-out" else "replicas"
        worth = f"{s.peak_rps / per_unit:.2f} {unit}' worth ({per_unit:.1f} requests/s each)"
        rows.append(("at peak", worth))
    lines.extend(f"{name:<15} {value}"[:80] for name, value in rows)
    return lines


def _span(total: float) -> str:
    hours, rest = divmod(int(total), 3600)
    return f"{hours}h {rest // 60:02d}m {rest % 60:02d}s" if hours else f"{rest // 60}m {rest % 60:02d}s"
