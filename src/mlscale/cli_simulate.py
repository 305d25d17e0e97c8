"""``mlscale simulate``: thin; ``mlscale.simulate`` calibrates, models and writes the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from mlscale import cli_report
from mlscale.autoscaling.policies.base import PolicyName
from mlscale.cli_console import console
from mlscale.errors import InputError
from mlscale.workload import Arrival


def simulate(
    workload_file: Annotated[Path, typer.Argument(help="per-second rates, e.g. workloads/spike.txt")],
    calibrate: Annotated[
        Path, typer.Option(help="a measured run directory to take the replica's profile from")
    ],
    policy: Annotated[PolicyName | None, typer.Option(help="the policy (default: the values')")] = None,
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="a.b.c=value over the values, as helm --set")
    ] = None,
    values: Annotated[Path | None, typer.Option(help="Helm values file over the chart's")] = None,
    arrival: Annotated[Arrival, typer.Option(help="spacing within each second")] = Arrival.UNIFORM,
    seed: Annotated[int, typer.Option(help="arrivals, service draws and routing")] = 1,
    runs_dir: Annotated[Path, typer.Option(help="where the simulated run goes")] = Path("runs"),
) -> None:
    """The system as a model in simulated time, with the backends' own policy code: a run directory
    that `mlscale report` reads like a measured one."""
    from mlscale.locations import local_or_shipped
    from mlscale.report.load import load_run
    from mlscale.results import new_run_dir
    from mlscale.simulate import rundir, scenario
    from mlscale.simulate.calibration import calibrate as calibrate_from
    from mlscale.workload import load_workload

    path = local_or_shipped(workload_file, "workloads")
    if not path.is_file():
        raise InputError(f"{workload_file}: no such workload file")
    measured = load_run(calibrate)
    calibration = calibrate_from(measured)
    capacity = ((measured.meta.get("system") or {}).get("calibration") or {}).get("capacity_at_target_rps")
    chosen = scenario.build(load_workload(path), calibration, values_file=values, sets=set_values or (),
                            policy=policy.value if policy else None, seed=seed, arrival=arrival,
                            capacity_rps=capacity)  # fmt: skip
    began = time.perf_counter()
    with console.status(f"simulating {len(chosen.arrivals):,} requests"):
        result = chosen.simulation().run()
    wall = time.perf_counter() - began
    started = time.time()
    out = new_run_dir(runs_dir, f"{chosen.workload.name}-sim", started)
    system = {**(measured.meta.get("system") or {}), "backend": "simulated", "policy": chosen.policy.name,
              "calibrated_from": str(measured.path), "simulation": calibration.sources,
              "wall_seconds": round(wall, 3)}  # fmt: skip
    workload = {
        "name": chosen.workload.name,
        "rates": list(chosen.workload.rates),
        "unit": chosen.workload.unit,
    }
    meta = {
        "system": system,
        "workload": workload,
        "options": {"arrival": arrival.value, "random_seed": seed},
    }
    rundir.write(result, out, meta, started, calibration.profile.request_milli)
    console.print(f"simulated {len(chosen.arrivals):,} requests in {wall:.2f} s of wall time: {out}")
    cli_report.report([out])
