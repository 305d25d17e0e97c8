"""``mlscale loadtest``: thin; it builds the options once and runs ``loadgen.runner`` (or serves the
same runner over HTTP with ``--serve``, ``loadtest_api``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.live import Live

from mlscale import cli_workload, defaults
from mlscale.cli_console import console
from mlscale.cli_params import choices, http_url, positive
from mlscale.cli_tables import terminal_table
from mlscale.errors import InputError, MlscaleError
from mlscale.eventloop import run_async
from mlscale.loadgen.options import MAX_PLANNED
from mlscale.workload import Arrival
from mlscale.workload.source import SourceOptions

if TYPE_CHECKING:
    from mlscale.images import ImagePool
    from mlscale.loadgen.options import LoadTestOptions, ScheduleOptions
    from mlscale.loadgen.runner import LoadTestResult
    from mlscale.workload import Workload


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise typer.BadParameter(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:3003)")
    return host or defaults.LISTEN_HOST, int(port)


@cli_workload.takes_a_source
def loadtest(
    source: SourceOptions,
    dispatcher: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="the dispatcher's base URL \\[default: the running system's, else :8000]",
            callback=http_url,
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="folder of .jpg/.jpeg/.png to send \\[default: ./images, else the samples]"
        ),
    ] = None,
    step_seconds: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", min=0.001, help="hold each rate this long \\[the file's: 1]"),
    ] = None,
    scale: Annotated[float, typer.Option(metavar="X", min=0.0, help="multiply every rate")] = 1.0,
    max_images: Annotated[int | None, typer.Option(metavar="N", min=1, help="stop after N requests")] = None,
    max_planned: Annotated[
        int,
        typer.Option(
            metavar="N", min=1, help="refuse a run that plans more requests (each takes ~1 KB while it runs)"
        ),
    ] = MAX_PLANNED,
    arrival: Annotated[
        Arrival, typer.Option(metavar=choices(Arrival), help="spacing within each second")
    ] = Arrival.UNIFORM,
    random_seed: Annotated[int | None, typer.Option(metavar="SEED", help="seed for poisson arrivals")] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="HOST:PORT for /storeLatency \\[default: 127.0.0.1:3003; 0.0.0.0:3003 for kubernetes]",
        ),
    ] = None,
    drain_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", min=0.0, help="seconds to wait for outcomes")
    ] = 30.0,
    runs_dir: Annotated[Path, typer.Option(metavar="DIR", help="where run directories go")] = Path("runs"),
    live: Annotated[
        bool, typer.Option(metavar="", help="show the live view (a line a second when not a terminal)")
    ] = True,
    serve: Annotated[
        bool,
        typer.Option(
            metavar="", help="serve the original design's API (/runLoadTest, /generateReport) instead"
        ),
    ] = False,
    capacity: Annotated[
        float | None,
        typer.Option(
            callback=positive,
            metavar="RPS",
            help="requests/s one unit of a `# unit: replicas` or `flat-out` workload is "
            "\\[default: the running system's calibration]",
        ),
    ] = None,
    result_token: Annotated[
        str | None,
        typer.Option(
            envvar="MLSCALE_RESULT_TOKEN",
            metavar="TOKEN",
            help="the token the dispatcher's outcome posts carry \\[default: the one `mlscale up` made]",
        ),
    ] = None,
) -> None:
    """Fire a workload at the dispatcher, open-loop, and record every request's outcome. WORKLOAD: a
    rate file (workloads/spike.txt), Azure Functions 2019 day files in sequence, an Azure Functions
    2021 or Azure LLM trace, a CSV of request times or a Prometheus query_range JSON; or --prometheus
    URL --query Q. `mlscale workload show` takes the same and shows it first."""
    from mlscale.images import load_images
    from mlscale.loadgen.options import LoadTestOptions, ScheduleOptions

    if not source.files and not source.fetches and not serve:
        raise typer.BadParameter(
            "give a WORKLOAD file (e.g. workloads/ramp.txt), --prometheus URL, or --serve"
        )
    dispatcher_url, host, port = _endpoints(dispatcher, listen)
    workload = cli_workload.resolve(source) if source.files or source.fetches else None
    folder = _images_folder(images)
    pool = load_images(folder)
    schedule = ScheduleOptions(step_seconds, scale, max_images, arrival, random_seed)
    options = LoadTestOptions(
        dispatcher_url=dispatcher_url,
        listen_host=host,
        listen_port=port,
        drain_timeout=drain_timeout,
        runs_dir=runs_dir,
        result_token=_result_token(result_token, host),
    )
    if serve:
        _serve(workload, pool, schedule, options)
        return
    assert workload is not None
    result = _run(workload, pool, schedule, options, capacity, live, str(folder), max_planned)
    counts = [[outcome, f"{n:,}"] for outcome, n in result.counts.items()]
    # The path on a line of its own: as the table's title it wrapped at the table's width.
    console.print(f"run {result.run_dir}", soft_wrap=True, highlight=False)
    console.print(terminal_table("outcomes", ("outcome", "requests"), counts, text=["outcome"]))
    console.print(f"sent {result.sent}, late {result.late}, send lag p99 {result.lag_p99_ms:.1f} ms")


def _run(
    workload: Workload,
    pool: ImagePool,
    schedule: ScheduleOptions,
    options: LoadTestOptions,
    capacity: float | None,
    live: bool,
    images_name: str,
    max_planned: int = MAX_PLANNED,
) -> LoadTestResult:
    from dataclasses import replace

    from mlscale.backends.probe import probe_running_system
    from mlscale.loadgen.runner import LoadTest, Progress

    probe = probe_running_system()
    system = probe.describe() if probe else None
    from mlscale.workload import fingerprint

    per_unit = requests_per_unit_of(workload, capacity, (system or {}).get("calibration"))
    scaled = replace(schedule, scale=schedule.scale * per_unit)
    if workload.label != workload.name:
        console.print(f"workload: {workload.label}", highlight=False, soft_wrap=True)
    planned = scaled.planned(workload)  # counted before the schedule is built: 2e9 took 2.7 GB
    if planned > max_planned:
        raise InputError(
            f"{workload.name} would send {planned:,} requests; the limit is {max_planned:,}: cut it with "
            "--max-images N, --scale or --step-seconds, or raise the limit with --max-planned N"
        )
    offsets, plan = scaled.offsets(workload), scaled.plan(workload)
    options = replace(
        options,
        meta={
            "options": {
                **schedule.describe(),
                "images": images_name,
                "unit": workload.unit,
                "requests_per_unit": per_unit,
            },
            "source": workload.source,
            "schedule": fingerprint(offsets, pool.names),
            **({"system": system} if system else {}),
        },
    )

    def run(progress: Progress | None) -> LoadTestResult:
        return run_async(
            LoadTest(workload, offsets, pool, options, probe=probe, progress=progress, plan=plan).run()
        )

    if not live:
        return run(None)
    if not console.is_terminal:
        from mlscale.live.plain import line

        return run(lambda now: console.print(line(now), markup=False, highlight=False, soft_wrap=True))
    from mlscale.live.view import LiveView

    with Live(console=console, refresh_per_second=1, transient=False) as view:
        # Live's own thread draws the view, not the event loop that sends.
        return run(lambda now: view.update(LiveView(now)))


def _images_folder(given: Path | None) -> Path:
    """The folder given, else ``images/`` here, else the sample images mlscale ships."""
    from mlscale.locations import local_or_shipped

    return given if given is not None else local_or_shipped(Path("images"))


def _endpoints(dispatcher: str | None, listen: str | None) -> tuple[str, str, int]:
    """Unset, they follow the running system: its dispatcher URL, and on kubernetes a listener the
    cluster's pods reach (they post outcomes to host.minikube.internal:3003)."""
    from mlscale.backends.state import read_state

    state = read_state() or {}
    on_cluster = state.get("backend") == "kubernetes"
    listen_host = defaults.CLUSTER_LISTEN_HOST if on_cluster else defaults.LISTEN_HOST
    host, port = _listen(listen or f"{listen_host}:{defaults.LISTEN_PORT}")
    return dispatcher or str(state.get("dispatcher_url") or defaults.DISPATCHER_URL), host, port


def requests_per_unit_of(
    workload: Workload, capacity: float | None, calibration: dict[str, Any] | None
) -> float:
    """1 for a workload in requests/s; for one in replicas or flat-out, what one unit is in requests/s
    (``capacity``, else the running system's ``calibration``), said when it was measured."""
    from mlscale.workload.sizing import requests_per_unit_of as per_unit_of

    per_unit, note = per_unit_of(workload, capacity, calibration)
    if note:
        console.print(note, highlight=False)
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


def _serve(
    workload: Workload | None, pool: ImagePool, schedule: ScheduleOptions, options: LoadTestOptions
) -> None:
    import uvicorn

    from mlscale.loadtest_api import LoadTestService, RunRequest
    from mlscale.tokens import ensure_token, token_path
    from mlscale_http import guarded_protocol

    defaults_run = RunRequest(workload, schedule) if workload is not None else None
    service = LoadTestService(
        pool, options, defaults_run, serve_token=ensure_token("serve"), announce=console.print
    )
    host, port = options.listen_host, options.listen_port
    console.print(
        f"load tester API on http://{host}:{port} (POST /runLoadTest, /generateReport); Ctrl-C stops\n"
        f"callers send 'Authorization: Bearer <token>', the token in {token_path('serve')}"
    )
    try:
        uvicorn.run(service.app(), host=host, port=port, log_level="warning", lifespan="off",
                    http=guarded_protocol())  # fmt: skip
    except OSError as exc:
        raise MlscaleError(f"could not listen on {host}:{port}: {exc}") from exc
