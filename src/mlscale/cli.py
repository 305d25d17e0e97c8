"""The ``mlscale`` command: thin, it parses, calls the library and prints."""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlscale import __version__, cli_report, cli_system
from mlscale.errors import InputError, MlscaleError
from mlscale.eventloop import run_async

if TYPE_CHECKING:
    from mlscale.images import ImagePool
    from mlscale.workload import Workload

app = typer.Typer(
    name="mlscale",
    help="Run and study autoscaled ML inference: bring the system up, load it, report, tear it down.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)


@app.callback()
def main() -> None:
    """Run and study autoscaled ML inference."""


def _guarded(command: Callable[..., None]) -> Callable[..., None]:
    """MlscaleError -> a message and its exit code, never a traceback."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except MlscaleError as exc:
            errors.print(f"[red]error:[/] {exc}")
            raise typer.Exit(exc.exit_code) from None

    return run


app.command()(_guarded(cli_system.up))
app.command()(_guarded(cli_system.status))
app.command()(_guarded(cli_system.down))
app.command()(_guarded(cli_report.report))


@app.command()
def version() -> None:
    """Print mlscale's version and the Python it runs on."""
    console.print(f"mlscale {__version__} (Python {platform.python_version()})")


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise typer.BadParameter(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:3003)")
    return host or "127.0.0.1", int(port)


@app.command()
def loadtest(
    workload_file: Annotated[
        Path | None, typer.Argument(help="per-second rates, e.g. workloads/ramp.txt (optional with --serve)")
    ] = None,
    dispatcher: Annotated[
        str | None, typer.Option(help="the dispatcher's base URL [default: the running system's, else :8000]")
    ] = None,
    images: Annotated[Path, typer.Option(help="folder of .jpg/.jpeg/.png to send")] = Path("images"),
    step_seconds: Annotated[float, typer.Option(min=0.001, help="hold each rate this many seconds")] = 1.0,
    scale: Annotated[float, typer.Option(min=0.0, help="multiply every rate")] = 1.0,
    max_images: Annotated[int | None, typer.Option(min=1, help="stop after N requests")] = None,
    arrival: Annotated[str, typer.Option(help="uniform or poisson spacing within each second")] = "uniform",
    random_seed: Annotated[int | None, typer.Option(help="seed for poisson arrivals")] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT for /storeLatency [default: 127.0.0.1:3003; 0.0.0.0:3003 for kubernetes]"
        ),
    ] = None,
    drain_timeout: Annotated[float, typer.Option(min=0.0, help="seconds to wait for outcomes")] = 30.0,
    runs_dir: Annotated[Path, typer.Option(help="where run directories go")] = Path("runs"),
    live: Annotated[bool, typer.Option(help="show the live table")] = True,
    serve: Annotated[
        bool, typer.Option(help="serve the original design's API (/runLoadTest, /generateReport) instead")
    ] = False,
    capacity: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="requests/s one replica serves at the CPU target, for `# unit: replicas` workloads "
            "[default: the running system's calibration]",
        ),
    ] = None,
    result_token: Annotated[
        str | None,
        typer.Option(
            envvar="MLSCALE_RESULT_TOKEN",
            help="token the dispatcher's outcome posts carry [default: .mlscale/result-token, made by up]",
        ),
    ] = None,
) -> None:
    """Fire a workload at the dispatcher, open-loop, and record every request's outcome."""
    from mlscale.images import load_images
    from mlscale.loadgen.run import LoadTestOptions, run_load_test
    from mlscale.workload import load_workload, schedule

    if arrival not in ("uniform", "poisson"):
        raise typer.BadParameter(f"--arrival must be uniform or poisson, not {arrival!r}")
    if workload_file is None and not serve:
        raise typer.BadParameter("give a WORKLOAD file (e.g. workloads/ramp.txt), or --serve")
    dispatcher, listen = _endpoints(dispatcher, listen)
    host, port = _listen(listen)
    token = _result_token(result_token, host)
    try:
        workload = load_workload(workload_file) if workload_file is not None else None
        pool = load_images(images)
        if serve:
            _serve_loadtest(
                workload,
                pool,
                host,
                port,
                dispatcher,
                drain_timeout,
                runs_dir,
                (max_images, step_seconds, scale, arrival, random_seed),
                token,
            )
            return
        assert workload is not None
        per_unit = _requests_per_unit(workload, capacity)
        offsets = schedule(
            workload,
            step_seconds=step_seconds,
            scale=scale * per_unit,
            arrival=arrival,  # type: ignore[arg-type]
            seed=random_seed,
            max_requests=max_images,
        )
        sample, decisions, system = _backend_probes()
        options = LoadTestOptions(
            backend_sample=sample,
            backend_decisions=decisions,
            dispatcher_url=dispatcher.rstrip("/"),
            listen_host=host,
            listen_port=port,
            drain_timeout=drain_timeout,
            runs_dir=runs_dir,
            live=live,
            result_token=token,
            meta={
                "options": {
                    "step_seconds": step_seconds,
                    "scale": scale,
                    "max_images": max_images,
                    "arrival": arrival,
                    "random_seed": random_seed,
                    "images": str(images),
                    "unit": workload.unit,
                    "requests_per_unit": per_unit,
                },
                **({"system": system} if system else {}),
            },
        )
        result = run_async(run_load_test(workload, offsets, pool, options, console))
    except MlscaleError as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(exc.exit_code) from None
    summary = Table(title=f"run {result.run_dir}")
    for outcome in result.counts:
        summary.add_column(outcome, justify="right")
    summary.add_row(*(str(n) for n in result.counts.values()))
    console.print(summary)
    console.print(f"sent {result.sent}, late {result.late}, send lag p99 {result.lag_p99_ms:.1f} ms")


def _endpoints(dispatcher: str | None, listen: str | None) -> tuple[str, str]:
    """Unset, they follow the running system: its dispatcher URL, and on kubernetes a listener the
    cluster's pods reach (they post outcomes to host.minikube.internal:3003)."""
    from mlscale.backends.base import read_state

    state = read_state() or {}
    on_cluster = state.get("backend") == "kubernetes"
    return (
        dispatcher or str(state.get("dispatcher_url") or "http://127.0.0.1:8000"),
        listen or ("0.0.0.0:3003" if on_cluster else "127.0.0.1:3003"),
    )


def _requests_per_unit(workload: Workload, capacity: float | None) -> float:
    """1 for a workload in requests/s; for one in replicas, what one replica serves at the target."""
    if workload.unit == "rps":
        return 1.0
    if capacity is not None:
        return capacity
    from mlscale.backends.base import read_state

    calibration = (read_state() or {}).get("calibration")
    if not calibration:
        raise InputError(
            f"{workload.name} is in replicas (`# unit: replicas`): run `mlscale up` first, which measures "
            "what one replica serves, or give --capacity REQUESTS_PER_S"
        )
    per_unit = float(calibration["capacity_at_target_rps"])
    console.print(
        f"{workload.name}: 1 replica = {per_unit:.1f} requests/s (one replica at the "
        f"{calibration['target_cpu_utilization']} % CPU target, measured by `mlscale up`: "
        f"{calibration['cpu_ms_per_request']:.1f} ms CPU per request)"
    )
    return per_unit


def _result_token(given: str | None, host: str) -> str | None:
    """The token outcome posts must carry; a listener beyond loopback must have one."""
    from mlscale.tokens import read_token

    token = given or read_token("result")
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise typer.BadParameter(
            f"listening on {host} lets anyone who reaches it post outcomes: give --result-token "
            "(the dispatcher's MLSCALE_DISPATCHER_RESULT_TOKEN), or bring the system up with "
            "`mlscale up`, which makes one and gives it to the dispatcher (on kubernetes, as a Secret)"
        )
    return token


def _serve_loadtest(
    workload: Workload | None,
    pool: ImagePool,
    host: str,
    port: int,
    dispatcher: str,
    drain_timeout: float,
    runs_dir: Path,
    run_defaults: tuple[int | None, float, float, str, int | None],
    result_token: str | None,
) -> None:
    import uvicorn

    from mlscale.loadgen.run import LoadTestOptions
    from mlscale.loadgen.serve import LoadTestService, RunRequest

    max_images, step_seconds, scale, arrival, seed = run_defaults
    defaults = (
        RunRequest(workload, max_images, step_seconds, scale, arrival, seed) if workload is not None else None
    )
    options = LoadTestOptions(
        dispatcher_url=dispatcher.rstrip("/"),
        listen_host=host,
        listen_port=port,
        drain_timeout=drain_timeout,
        runs_dir=runs_dir,
        live=False,
        result_token=result_token,
    )
    from mlscale.tokens import ensure_token, token_path

    service = LoadTestService(pool, options, defaults, console, serve_token=ensure_token("serve"))
    console.print(
        f"load tester API on http://{host}:{port} (POST /runLoadTest, /generateReport); Ctrl-C stops\n"
        f"callers send 'Authorization: Bearer <token>', the token in {token_path('serve')}"
    )
    try:
        uvicorn.run(service.app(), host=host, port=port, log_level="warning", lifespan="off")
    except OSError as exc:
        raise MlscaleError(f"could not listen on {host}:{port}: {exc}") from None


def _backend_probes() -> tuple[
    Callable[[], dict[str, Any]] | None, Callable[[], list[dict[str, Any]]] | None, dict[str, Any] | None
]:
    """When a system is up, the load test samples its replicas and CPU and keeps its decisions.

    The third value describes the system (backend, HPA numbers, time scale) for run.json.
    """
    from mlscale.backends.base import read_state

    if read_state() is None:
        return None, None, None
    backend = cli_system.backend_for()

    def sample() -> dict[str, Any]:
        status = backend.status()
        return {
            "replicas": status.ready_replicas,
            "desired_replicas": status.desired_replicas,
            "cpu_utilization": status.mean_cpu_utilization,
            # Restarts so far of every process the backend runs (replicas and, locally, the dispatcher).
            "restarts": sum(r.restarts for r in status.replicas)
            + (status.dispatcher.restarts if status.dispatcher else 0),
            "replica_samples": [
                {
                    "replica": r.id,
                    "ready": r.ready and not r.terminating,
                    "cpu_utilization": r.cpu_utilization,
                    "restarts": r.restarts,
                }
                for r in status.replicas
            ],
        }

    now = backend.status()
    system = {
        "backend": now.backend,
        "min_replicas": now.min_replicas,
        "max_replicas": now.max_replicas,
        "target_cpu_utilization": now.target_cpu_utilization,
        "time_scale": now.time_scale,
        **({"calibration": now.calibration} if now.calibration else {}),
    }
    return sample, backend.decisions, system


@app.command()
def demo(
    workload: Annotated[Path, typer.Option(help="the workload to run")] = Path("workloads/demo.txt"),
    time_scale: Annotated[float, typer.Option(help="multiply every HPA period and window")] = 1.0,
    runs_dir: Annotated[Path, typer.Option(help="where the run directory goes")] = Path("runs"),
    live: Annotated[bool, typer.Option(help="show the live table")] = True,
) -> None:
    """The whole life on the local backend: up, load test, down, report (about six minutes)."""
    import pandas as pd

    from mlscale.results import read_run

    _guarded(cli_system.up)(backend="local", weights="none", time_scale=time_scale)
    try:
        loadtest(workload_file=workload, live=live, runs_dir=runs_dir, dispatcher="http://127.0.0.1:8000")
    finally:
        _guarded(cli_system.down)()
    run_dir = max(runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    _, timeline, _ = read_run(run_dir)
    table = Table(title="replica timeline (every 15 s)")
    for column in ("t (s)", "sent/s", "ok/s", "p50 (ms)", "queue", "replicas", "desired", "CPU % of request"):
        table.add_column(column, justify="right")
    for row in timeline.iloc[::15].itertuples():
        table.add_row(
            str(row.second), str(row.sent), str(row.completed_ok),
            "–" if row.latency_p50_ms != row.latency_p50_ms else f"{row.latency_p50_ms:.0f}",
            "–" if row.queue_depth is pd.NA else str(row.queue_depth),
            "–" if row.replicas is pd.NA else str(row.replicas),
            "–" if row.desired_replicas is pd.NA else str(row.desired_replicas),
            "–" if row.cpu_utilization != row.cpu_utilization else f"{row.cpu_utilization:.0f}",
        )  # fmt: skip
    console.print(table)
    _guarded(cli_report.report)(run_dirs=[run_dir])
    console.print(f"open {run_dir / 'report.html'} in a browser for every figure")
