"""``mlscale tune``: thin; ``mlscale.tune`` searches, ``mlscale.simulate`` scores each trial."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlscale import cli_simulate, cli_workload
from mlscale.cli_console import console
from mlscale.cli_params import choices
from mlscale.errors import InputError
from mlscale.simulate.runner import Model
from mlscale.workload import Arrival
from mlscale.workload.source import SourceOptions

if TYPE_CHECKING:
    from mlscale.tune.search import Trial
    from mlscale.tune.space import SLO


@cli_workload.takes_a_source
def tune(
    calibrate: Annotated[
        Path, typer.Option(metavar="RUN|FILE", help="a measured run directory (or a calibration .json)")
    ],
    slo: Annotated[str, typer.Option(metavar="pNN<=X", help="the latency objective, e.g. p95<=300ms")],
    source: SourceOptions,
    slo_seconds: Annotated[
        str, typer.Option(metavar="SHARE", help="of the seconds with arrivals, the share it must hold in")
    ] = "99%",
    policies: Annotated[str, typer.Option(metavar="P,P,...", help="which to search: cpu, queue, kpa")] = (
        "cpu,queue,kpa"
    ),
    budget: Annotated[int, typer.Option(min=1, max=10_000, metavar="N", help="trials (simulations)")] = 60,
    seed: Annotated[int, typer.Option(metavar="SEED", help="the search's and the simulations' seed")] = 1,
    jobs: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="simulations at once \\[every core]")
    ] = None,
    batch: Annotated[
        int,
        typer.Option(
            min=1, max=256, metavar="N", help="trials proposed at a time (the result depends on it)"
        ),
    ] = 8,
    values: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Helm values file over the chart's")
    ] = None,
    arrival: Annotated[
        Arrival, typer.Option(metavar=choices(Arrival), help="spacing within each step")
    ] = Arrival.POISSON,
    model: Annotated[Model, typer.Option(metavar=choices(Model), help="per request, fluid, or by size")] = (
        Model.AUTO
    ),
    runs_dir: Annotated[Path, typer.Option(metavar="DIR", help="where the search is written")] = Path("runs"),
) -> None:
    """The cheapest autoscaling settings that meet an SLO on a workload, searched by simulation:
    the Pareto front of cost against SLO-broken seconds, and a values file to deploy."""
    from mlscale.simulate import scenario
    from mlscale.simulate.runner import PER_REQUEST_LIMIT
    from mlscale.tune import output, search, space

    chosen_policies = space.parse_policies(policies)
    objective = space.parse_slo(slo, slo_seconds)
    if not source.files and not source.fetches:
        raise InputError("give a WORKLOAD file (e.g. workloads/spike.txt), or --prometheus URL --query Q")
    workload = cli_workload.resolve(source)
    calibration, calibrated, _ = cli_simulate.load_calibration(calibrate)
    build = functools.partial(
        scenario.build, workload, calibration, values_file=values, seed=seed, arrival=arrival,
        calibrated=calibrated, max_arrivals=None if model is Model.REQUESTS else PER_REQUEST_LIMIT,
    )  # fmt: skip
    build(policy=chosen_policies[0])  # a bad values file or calibration fails here, once
    problem = search.Problem(build, model, objective)
    workers = jobs or search.default_jobs()
    began = time.perf_counter()
    with console.status("searching") as status:

        def progress(done: int, total: int, best: search.Trial | None) -> None:
            cheapest = "" if best is None else f"; best so far {best.summary.replica_seconds:,.0f} replica-s"
            status.update(f"trial {done} of {total} on {_processes(workers)}{cheapest}")

        trials = search.search(problem, chosen_policies, objective, budget=budget, seed=seed, jobs=workers,
                               batch=batch, progress=progress)  # fmt: skip
    chosen = search.best(trials)
    assert chosen is not None
    out = runs_dir / time.strftime(f"%Y%m%dT%H%M%SZ-{workload.name}-tune", time.gmtime())
    context = {"workload": workload.label, "calibrated_from": str(calibrate),
               "policies": list(chosen_policies), "budget": budget, "seed": seed, "batch": batch,
               "jobs": workers}  # fmt: skip
    files = output.write(out, trials, chosen, objective, context)
    _print(trials, chosen, objective, time.perf_counter() - began, workers)
    console.print("\n".join(f"  {f}" for f in files), highlight=False)


def _print(trials: list[Trial], chosen: Trial, objective: SLO, wall: float, workers: int) -> None:
    front = sorted((t for t in trials if t.on_front), key=lambda t: (t.summary.replica_seconds, t.number))
    alike: dict[tuple[float, int], list[Trial]] = {}
    for t in front:  # trials that simulate to the same point: one row, the first, and how many more
        alike.setdefault((t.summary.replica_seconds, t.slo_broken_seconds), []).append(t)
    rows = [(f"#{same[0].number} {same[0].policy}" + (f" +{len(same) - 1}" if len(same) > 1 else ""),
             same[0].summary) for same in alike.values()]  # fmt: skip
    console.print(f"{len(trials)} trials in {wall:.1f} s on {_processes(workers)}; the Pareto front:")
    console.print(cli_simulate.summary_table(rows))
    console.print(cli_simulate.LEGEND)
    verdict = "meets" if chosen.feasible else "does NOT meet (no trial did)"
    console.print(
        f"recommended: trial {chosen.number}, {chosen.policy}, {chosen.summary.replica_seconds:,.0f} "
        f"replica-s, {chosen.slo_broken_seconds} SLO-broken s: {verdict} {objective.text}",
        highlight=False,
    )
    for key, value in chosen.setting.items():
        console.print(f"  {key}={value}", highlight=False)


def _processes(count: int) -> str:
    return f"{count} process{'es' if count > 1 else ''}"
