"""``mlscale compare``: the same workload under each policy, ``up`` -> ``loadtest`` -> ``down``,
repeated, then one comparison report (``report --compare``). Thin: every step is the command a
user would run by hand."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from mlscale import cli_loadtest, cli_report, cli_system
from mlscale.autoscaling.policies.base import PolicyName
from mlscale.cli_console import console
from mlscale.errors import InputError
from mlscale.workload import Arrival


def parse_policies(text: str) -> list[PolicyName]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = [p.value for p in PolicyName]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(f"--policies takes a comma-separated list of {', '.join(known)}; not {text!r}")
    if len(set(names)) != len(names):
        raise InputError(f"--policies names a policy twice: {text!r}")
    return [PolicyName(n) for n in names]


def compare(
    workload_file: Annotated[Path, typer.Argument(help="per-second rates, e.g. workloads/spike.txt")],
    policies: Annotated[
        str, typer.Option(help="comma-separated: cpu, queue, kpa, oracle")
    ] = "cpu,queue,kpa,oracle",
    repeat: Annotated[int, typer.Option(min=1, max=20, help="runs per policy (the spread needs 3)")] = 1,
    arrival: Annotated[Arrival, typer.Option(help="spacing within each second")] = Arrival.POISSON,
    random_seed: Annotated[int, typer.Option(help="the same arrivals for every run")] = 1,
    values: Annotated[Path | None, typer.Option(help="Helm values file with the autoscaling section")] = None,
    weights: Annotated[str, typer.Option(help="imagenet, none or a weights file")] = "none",
    min_replicas: Annotated[
        int | None, typer.Option(min=1, help="every policy's fewest replicas (1: no scale to zero)")
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="where the runs and the comparison go")] = Path("runs"),
    slo_ms: Annotated[float, typer.Option(min=0.001, help="latency SLO per second of arrival, ms")] = 1000.0,
    live: Annotated[bool, typer.Option(help="show the live table during each run")] = False,
) -> None:
    """Each policy on the same workload and seed (local backend), then one report that ranks them."""
    from mlscale.backends import BackendName
    from mlscale.locations import local_or_shipped

    chosen = parse_policies(policies)
    workload = local_or_shipped(workload_file, "workloads")
    if not workload.is_file():
        raise InputError(f"{workload_file}: no such workload file")
    folder = runs_dir / time.strftime("compare-%Y%m%dT%H%M%SZ", time.gmtime())
    plan = [(r, p) for r in range(1, repeat + 1) for p in chosen]  # interleaved: drift hits all alike
    run_dirs: list[Path] = []
    for index, (round_, policy) in enumerate(plan, 1):
        console.rule(f"[{index}/{len(plan)}] policy {policy.value}, run {round_} of {repeat}")
        target = folder / f"{policy.value}-{round_}"
        cli_system.up(
            backend=BackendName.LOCAL,
            weights=weights,
            policy=policy,
            values=values,
            min_replicas=min_replicas,
        )
        try:
            cli_loadtest.loadtest(
                workload_file=workload, live=live, runs_dir=target, arrival=arrival, random_seed=random_seed
            )
        finally:
            cli_system.down()
        run_dirs.append(next(target.iterdir()))
    cli_report.report(run_dirs=run_dirs, compare=True, out=folder, slo_ms=slo_ms)
