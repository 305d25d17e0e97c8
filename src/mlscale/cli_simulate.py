"""``mlscale simulate``: thin; ``mlscale.simulate`` calibrates, models, sweeps and writes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlscale import cli_report, cli_workload
from mlscale.autoscaling.policies.base import PolicyName
from mlscale.cli_console import console
from mlscale.cli_params import choices, positive
from mlscale.errors import InputError
from mlscale.simulate.runner import Model
from mlscale.workload import Arrival
from mlscale.workload.source import SourceOptions


@cli_workload.takes_a_source
def simulate(
    calibrate: Annotated[
        Path,
        typer.Option(
            metavar="RUN|FILE",
            help="a measured run directory (or a calibration .json) to take the replica from",
        ),
    ],
    source: SourceOptions,
    policy: Annotated[
        PolicyName | None, typer.Option(metavar=choices(PolicyName), help="the policy (default: the values')")
    ] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="a.b.c=value over the values, as helm --set"),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=V1,V2,...",
            help="a.b.c=v1,v2,... : one simulation per combination, then the trade-off",
        ),
    ] = None,
    values: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Helm values file over the chart's")
    ] = None,
    scale: Annotated[float, typer.Option(metavar="X", min=0.0, help="multiply every rate")] = 1.0,
    model: Annotated[
        Model, typer.Option(metavar=choices(Model), help="per request, per-tick fluid, or by size")
    ] = Model.AUTO,
    arrival: Annotated[
        Arrival, typer.Option(metavar=choices(Arrival), help="spacing within each second")
    ] = Arrival.UNIFORM,
    seed: Annotated[int, typer.Option(metavar="SEED", help="arrivals, service draws and routing")] = 1,
    slo_ms: Annotated[
        float,
        typer.Option(metavar="MS", callback=positive, help="latency SLO (p95 per second of arrival), ms"),
    ] = 1000.0,
    runs_dir: Annotated[Path, typer.Option(metavar="DIR", help="where the simulated run goes")] = Path(
        "runs"
    ),
) -> None:
    """The system as a model in simulated time, with the backends' own policy code, calibrated from
    a measured run: a run directory `mlscale report` reads like a measured one, or with --sweep a
    grid of settings and their cost against their SLO. WORKLOAD and its options as `mlscale loadtest`
    takes them."""
    from mlscale.simulate import scenario

    if not source.files and not source.fetches:
        raise InputError("give a WORKLOAD file (e.g. workloads/spike.txt), or --prometheus URL --query Q")
    workload = cli_workload.resolve(source)
    calibration, calibrated, measured = load_calibration(calibrate)

    def build(sets: list[str]) -> scenario.Scenario:
        from mlscale.simulate.runner import PER_REQUEST_LIMIT

        return scenario.build(
            workload,
            calibration,
            values_file=values,
            sets=sets,
            policy=policy.value if policy else None,
            seed=seed,
            arrival=arrival,
            calibrated=calibrated,
            load_scale=scale,
            max_arrivals=None if model is Model.REQUESTS else PER_REQUEST_LIMIT,
        )

    base = list(set_values or ())
    context = {
        "calibrated_from": str(calibrate),
        "simulation": calibration.sources,
        "base": (measured.meta.get("system") or {}) if measured else {},
    }
    if sweep:
        _sweep(build, base, sweep, model, slo_ms, runs_dir, workload.name, measured, context)
    else:
        _single(build(base), model, slo_ms, runs_dir, arrival, seed, context)


def load_calibration(calibrate: Path) -> tuple[Any, dict[str, Any], Any]:
    """From a run directory or a saved calibration (.json): the simulator's calibration, ``up``'s
    (what one unit of a workload in replicas is) and the measured run (None for a .json)."""
    from mlscale.report.load import load_run
    from mlscale.simulate.calibration import Calibration
    from mlscale.simulate.calibration import calibrate as calibrate_from

    if calibrate.is_file() and calibrate.suffix == ".json":
        try:
            saved = json.loads(calibrate.read_text())
            return Calibration.from_dict(saved), saved, None
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{calibrate}: not a calibration (as bench/data has): {exc}") from exc
    measured = load_run(calibrate)
    return calibrate_from(measured), (measured.meta.get("system") or {}).get("calibration") or {}, measured


def _meta(
    chosen: Any, simulated: Any, arrival: Arrival, seed: int, context: dict[str, Any]
) -> dict[str, Any]:
    system = {
        **context["base"],
        "backend": "simulated",
        "policy": chosen.policy.name,
        "calibrated_from": context["calibrated_from"],
        "simulation": context["simulation"],
        "model": simulated.model.value,
        "wall_seconds": round(simulated.wall_seconds, 3),
    }
    workload = {
        "name": chosen.workload.name,
        "rates": list(chosen.workload.rates),
        "step_seconds": chosen.workload.step_seconds,
        "unit": chosen.workload.unit,
        "source": chosen.workload.source,
    }
    return {
        "system": system,
        "workload": workload,
        "options": {"arrival": arrival.value, "random_seed": seed},
        "simulated": True,
        "summary": simulated.summary.as_dict(),
    }


def _single(
    chosen: Any,
    model: Model,
    slo_ms: float,
    runs_dir: Path,
    arrival: Arrival,
    seed: int,
    context: dict[str, Any],
) -> None:
    from mlscale.results import new_run_dir
    from mlscale.simulate import output, rundir, runner
    from mlscale.simulate.engine import Result

    picked = model.for_requests(chosen.requests)
    with console.status(f"simulating {chosen.requests:,} requests ({picked.value} model)"):
        simulated = runner.run(chosen, model, slo_ms)
    started = time.time()
    out = new_run_dir(runs_dir, f"{chosen.workload.name}-sim", started)
    meta = _meta(chosen, simulated, arrival, seed, context)
    console.print(
        f"simulated {chosen.requests:,} requests in {simulated.wall_seconds:.2f} s of wall time "
        f"({simulated.model.value} model): {out}"
    )
    if isinstance(simulated.result, Result):
        rundir.write(simulated.result, out, meta, started, chosen.calibration.profile.request_milli)
        cli_report.report([out], slo_ms=slo_ms)
        return
    files = output.write_fluid(out, simulated.seconds, {**meta, "start_at": started}, slo_ms)
    console.print(summary_table([(chosen.policy.name, simulated.summary)]))
    console.print(LEGEND)
    for file in files:
        console.print(f"  {file}")


LEGEND = (
    "SLO s: seconds whose arrivals broke the SLO; max: most replicas; failed: refused or "
    "unfinished; 1st up: second of the first scale-up"
)


def summary_table(rows: list[tuple[str, Any]], front: list[bool] | None = None) -> Table:
    table = Table(title="simulated", title_justify="left")
    # Eight columns in 80: short headers, said in full in the legend the callers print.
    for header in ("setting", "replica-s", "SLO s", "p50 ms", "p95 ms", "max", "failed", "1st up"):
        table.add_column(header, justify="left" if header == "setting" else "right")
    for i, (name, s) in enumerate(rows):
        mark = " *" if front and front[i] else ""
        table.add_row(
            name + mark,
            f"{s.replica_seconds:,.0f}",
            f"{s.slo_violation_seconds}",
            "-" if s.latency_p50_ms is None else f"{s.latency_p50_ms:.1f}",
            "-" if s.latency_p95_ms is None else f"{s.latency_p95_ms:.1f}",
            f"{s.max_replicas}",
            f"{s.rejected + s.unfinished:,.0f}",
            "-" if s.first_scale_up_s is None else f"{s.first_scale_up_s:.0f}",
        )
    return table


def _sweep(
    build: Any,
    base: list[str],
    sweeps: list[str],
    model: Model,
    slo_ms: float,
    runs_dir: Path,
    workload_name: str,
    measured: Any,
    context: dict[str, Any],
) -> None:
    from mlscale.results import new_run_dir
    from mlscale.simulate import output, runner
    from mlscale.simulate import sweep as grid_sweep
    from mlscale.simulate.engine import DispatcherModel
    from mlscale.simulate.latency import LatencyTable

    settings = grid_sweep.grid([grid_sweep.parse_axis(text) for text in sweeps])
    scenarios = [build(base + grid_sweep.as_sets(setting)) for setting in settings]  # bad values fail first
    latency: LatencyTable | None = None

    def one(setting: dict[str, Any]) -> tuple[Any, float]:
        nonlocal latency
        chosen = scenarios[settings.index(setting)]
        if model.for_requests(chosen.requests) is Model.FLUID and latency is None:
            profile = chosen.calibration.profile
            latency = LatencyTable.measure(
                profile, DispatcherModel(), poisson=chosen.arrival is Arrival.POISSON, seed=chosen.seed
            )
        simulated = runner.run(chosen, model, slo_ms, latency)
        return simulated.summary, simulated.wall_seconds

    with console.status("sweeping") as status:
        points = grid_sweep.run_grid(
            settings,
            one,
            lambda i, n, s: status.update(f"simulating {i + 1} of {n}: {grid_sweep.label(s)}"),
        )
    marker = _measured_point(measured, workload_name, slo_ms)
    out = new_run_dir(runs_dir, f"{workload_name}-sweep", time.time())
    output.write_sweep(
        out,
        points,
        marker,
        {
            "workload": workload_name,
            "sweeps": sweeps,
            "base_sets": base,
            "calibrated_from": context["calibrated_from"],
            "simulation": context["simulation"],
        },
    )
    console.print(f"setting: {grid_sweep.keys(points[0].setting)}")
    console.print(
        summary_table(
            [(grid_sweep.short_label(p.setting), p.summary) for p in points], [p.on_front for p in points]
        )
    )
    console.print(LEGEND)
    console.print("*: on the Pareto front (no other setting has fewer replica-seconds and fewer SLO s)")
    if marker is not None:
        console.print(f"the measured run: {marker[0]:,.0f} replica-s, {marker[1]:.0f} SLO-broken s")
    console.print(f"  {out / 'pareto.png'}\n  {out / 'sweep.json'}")


def _measured_point(measured: Any, workload_name: str, slo_ms: float) -> tuple[float, float] | None:
    """The calibrating run's own (replica-seconds, SLO-broken seconds), when it ran this workload."""
    from mlscale.report.build import ReportOptions, statistics
    from mlscale.report.policies import run_measures

    if measured is None or (measured.meta.get("workload") or {}).get("name") != workload_name:
        return None
    measures = run_measures(statistics(measured, ReportOptions(slo_ms=slo_ms)))
    if measures["replica_seconds"] is None:
        return None
    return float(measures["replica_seconds"]), float(measures["slo_violation_seconds"] or 0)
