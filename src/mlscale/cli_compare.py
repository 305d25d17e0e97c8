"""``mlscale compare``: the same workload under each policy, ``up`` -> ``loadtest`` -> ``down``,
repeated, then one comparison report (``report --compare``). Thin: every step is the command a
user would run by hand. Every run is sent one load: a workload in replicas or flat-out is sized
once, by ``--capacity`` or the first ``up``'s calibration, and every run gets that schedule."""

from __future__ import annotations

import inspect
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from mlscale import cli_loadtest, cli_report, cli_system, cli_workload, defaults
from mlscale.autoscaling.policies.base import PolicyName
from mlscale.cli_console import console
from mlscale.cli_params import choices, positive
from mlscale.errors import InputError
from mlscale.workload import Arrival, Workload
from mlscale.workload.source import SourceOptions


def parse_policies(text: str) -> list[PolicyName]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = [p.value for p in PolicyName]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(f"--policies takes a comma-separated list of {', '.join(known)}; not {text!r}")
    if len(set(names)) != len(names):
        raise InputError(f"--policies names a policy twice: {text!r}")
    return [PolicyName(n) for n in names]


@cli_workload.takes_a_source
def compare(
    source: SourceOptions,
    policies: Annotated[
        str, typer.Option(metavar="P,P,...", help="comma-separated: cpu, queue, kpa, oracle")
    ] = "cpu,queue,kpa,oracle",
    repeat: Annotated[
        int, typer.Option(min=1, max=20, metavar="N", help="runs per policy (the spread needs 3)")
    ] = 1,
    arrival: Annotated[
        Arrival, typer.Option(metavar=choices(Arrival), help="spacing within each second")
    ] = Arrival.POISSON,
    random_seed: Annotated[int, typer.Option(metavar="SEED", help="the same arrivals for every run")] = 1,
    values: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Helm values file with the autoscaling section")
    ] = None,
    weights: Annotated[str, typer.Option(metavar="imagenet|none|FILE", help="the model's weights")] = "none",
    min_replicas: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="every policy's fewest replicas (1: no scale to zero)"),
    ] = None,
    capacity: Annotated[
        float | None,
        typer.Option(
            metavar="RPS",
            callback=positive,
            help="requests/s one unit of a `# unit: replicas` or `flat-out` workload is, for every run "
            "\\[default: measured once, by the first run's `up`]",
        ),
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option(metavar="DIR", help="where the runs and the comparison go")
    ] = Path("runs"),
    slo_ms: Annotated[
        float,
        typer.Option(
            metavar="MS",
            callback=positive,
            help="latency SLO (p95 per second of arrival), ms; the oracle plans for it",
        ),
    ] = defaults.COMPARE_SLO_MS,
    live: Annotated[bool, typer.Option(metavar="", help="show the live view during each run")] = False,
    up_options: Annotated[
        str,
        typer.Option(
            "--up",
            metavar="OPTIONS",
            help='more options for every `up`, e.g. "--backend kubernetes --no-minikube --expose node-port"',
        ),
    ] = "",
    loadtest_options: Annotated[
        str,
        typer.Option(
            "--loadtest",
            metavar="OPTIONS",
            help='more options for every `loadtest`, e.g. "--listen HOST:PORT"',
        ),
    ] = "",
) -> None:
    """Each policy on the same load (one schedule for every run), then one report that ranks them.
    WORKLOAD and its options as `mlscale loadtest` takes them: read and sized once, saved beside the
    runs (workload.json), and every run sent it."""
    from mlscale.workload import saved

    chosen = parse_policies(policies)
    more_up = passed_on(cli_system.up, "--up", up_options, ("policy", "values", "min_replicas", "weights"))
    more_loadtest = passed_on(
        cli_loadtest.loadtest, "--loadtest", loadtest_options,
        ("live", "runs_dir", "arrival", "random_seed", "capacity", *cli_workload.SOURCE_OPTIONS),
    )  # fmt: skip
    workload = cli_workload.resolve(source)
    folder = runs_dir / time.strftime("compare-%Y%m%dT%H%M%SZ", time.gmtime())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workload.json"
    path.write_text(saved.dumps(workload))
    console.print(f"workload: {workload.label} (saved as {path}, sent to every run)", highlight=False)
    run_values = _with_oracle_slo(values, slo_ms, folder)
    plan = [(r, p) for r in range(1, repeat + 1) for p in chosen]  # interleaved: drift hits all alike
    per_unit = capacity
    run_dirs: list[Path] = []
    for index, (round_, policy) in enumerate(plan, 1):
        console.rule(f"[{index}/{len(plan)}] policy {policy.value}, run {round_} of {repeat}")
        target = folder / f"{policy.value}-{round_}"
        cli_system.up(**more_up, weights=weights, policy=policy, values=run_values, min_replicas=min_replicas)
        try:
            if per_unit is None:
                per_unit = _measured_once(workload)
            cli_loadtest.loadtest(
                **more_loadtest,
                workload_files=[path],
                live=live,
                runs_dir=target,
                arrival=arrival,
                random_seed=random_seed,
                capacity=per_unit,
            )
        finally:
            cli_system.down()
        run_dirs.append(next(target.iterdir()))
    cli_report.report(run_dirs=run_dirs, compare=True, out=folder, slo_ms=slo_ms)


def passed_on(command: Callable[..., Any], flag: str, text: str, owned: tuple[str, ...]) -> dict[str, Any]:
    """``text`` parsed as the options of ``command`` (``up`` or ``loadtest``): the keyword arguments
    it was given, the rest left to its defaults. The comparison sets ``owned`` itself."""
    app = typer.Typer()
    app.command()(command)
    try:
        with typer.main.get_command(app).make_context(flag, shlex.split(text)) as context:
            params = dict(context.params)
    except (typer.TyperException, ValueError) as exc:  # a click error, or shlex's unclosed quote
        raise InputError(f"{flag} {text!r}: {exc}") from exc
    # An argument list not given parses as (), where the function's default is None.
    given = {
        name: value
        for name, value in params.items()
        if value != _default(command, name) and not (value == () and _default(command, name) is None)
    }
    if taken := [name for name in given if name in owned]:
        raise InputError(f"{flag} may not set {', '.join(taken)}: compare sets it for every run")
    return given


def _default(command: Callable[..., Any], name: str) -> Any:
    return inspect.signature(command).parameters[name].default


def _measured_once(workload: Workload) -> float | None:
    """What one unit of the workload is by the running system's calibration (the first run's):
    every later run is sent the same. None for a workload in requests/s."""
    from mlscale.backends.state import read_state

    if workload.unit == "rps":
        return None
    calibration = (read_state() or {}).get("calibration")
    per_unit = cli_loadtest.requests_per_unit_of(workload, None, calibration)
    console.print(f"one load for every run: this first `up`'s {per_unit:.1f} requests/s a unit")
    return per_unit


def _with_oracle_slo(values: Path | None, slo_ms: float, folder: Path) -> Path:
    """The values every run comes up with: the user's file (if any) with the oracle planning for
    the comparison's SLO, written beside the runs."""
    from mlscale.autoscaling.config import load_values

    merged: dict[str, Any] = load_values(values) if values is not None else {}
    autoscaling = merged.setdefault("autoscaling", {}) or {}
    merged["autoscaling"] = autoscaling
    oracle = autoscaling.setdefault("oracle", {}) or {}
    autoscaling["oracle"] = {**oracle, "sloMilliseconds": slo_ms}
    written = folder / "values.yaml"
    written.write_text(yaml.safe_dump(merged, sort_keys=False))
    return written
