"""``mlscale loadtest`` through the CLI, against the real dispatcher and inference service."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from harness.services import ServiceProcess, free_port, start_dispatcher
from mlscale.cli import app
from mlscale.results import REQUEST_COLUMNS, TIMELINE_COLUMNS
from tests.fakes import serving

runner = CliRunner()


@pytest.fixture
def system(tmp_path: Path, replicas: dict[str, ServiceProcess]) -> Iterator[tuple[ServiceProcess, int]]:
    port = free_port()
    dispatcher = start_dispatcher(
        tmp_path / "d.log",
        "--upstream",
        replicas["main"].url,
        "--result-url",
        f"http://127.0.0.1:{port}/storeLatency",
        "--concurrency",
        "4",
    )
    try:
        yield dispatcher, port
    finally:
        dispatcher.stop()


def loadtest(workload: Path, dispatcher: str, port: int, runs: Path, *extra: str) -> Path:
    result = runner.invoke(
        app,
        [
            "loadtest",
            str(workload),
            "--dispatcher",
            dispatcher,
            "--listen",
            f"127.0.0.1:{port}",
            "--runs-dir",
            str(runs),
            "--no-live",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = runs.iterdir()
    return run_dir


def test_counts_match_the_workload_and_every_request_has_one_record(
    tmp_path: Path, system: tuple[ServiceProcess, int]
) -> None:
    dispatcher, port = system
    workload = tmp_path / "w.txt"
    workload.write_text("# test\n3,6,0,4,0,0\n")
    run_dir = loadtest(workload, dispatcher.url, port, tmp_path / "runs")
    requests = pd.read_parquet(run_dir / "requests.parquet")
    timeline = pd.read_parquet(run_dir / "timeline.parquet")
    meta = json.loads((run_dir / "run.json").read_text())
    # The Parquet files carry the documented schema.
    assert list(requests.columns) == list(REQUEST_COLUMNS)
    assert list(timeline.columns) == list(TIMELINE_COLUMNS)
    assert requests["id"].is_unique
    assert len(requests) == 13
    assert list(timeline["intended"][:4]) == [3, 6, 0, 4]
    start = meta["start_at"]
    assert Counter((requests["intended_at"] - start).astype(int)) == Counter({0: 3, 1: 6, 3: 4})
    assert set(requests["outcome"]) == {"ok"}
    assert (requests["latency_ms"] >= requests["latency_sent_ms"] - 1e-6).all()
    assert (requests["latency_ms"] > requests["infer_ms"]).all()
    assert meta["counts"]["ok"] == 13
    assert meta["send"]["sent"] == 13
    # The last two seconds plan nothing, yet they are part of the workload: the run lasts them.
    assert meta["end_at"] - start >= 6
    assert timeline["second"].max() >= 5


def test_arrivals_are_spread_within_each_second(tmp_path: Path) -> None:
    arrivals: list[float] = []
    lock = threading.Lock()

    async def enqueue(request: Request) -> Response:
        await request.body()
        with lock:
            arrivals.append(time.time())
        return Response(b'{"id": "x", "queue_depth": 0}', 202)

    async def results(request: Request) -> Response:
        return Response(b'{"records": [], "next": 0, "truncated": false}')

    stamp_app = Starlette(routes=[Route("/enqueue", enqueue, methods=["POST"]), Route("/results", results)])
    workload = tmp_path / "w.txt"
    workload.write_text("20,20")
    with serving(stamp_app) as stamp:
        run_dir = loadtest(workload, stamp.url, free_port(), tmp_path / "runs", "--drain-timeout", "0")
    start = json.loads((run_dir / "run.json").read_text())["start_at"]
    offsets = sorted(t - start for t in arrivals)
    assert len(offsets) == 40
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert max(gaps) < 0.2  # 50 ms apart by schedule; a burst would leave a ~1 s gap
    quarters = Counter(int((o % 1) * 4) for o in offsets)
    assert all(quarters[q] >= 6 for q in range(4)), quarters
    outcomes = pd.read_parquet(run_dir / "requests.parquet")["outcome"]
    assert set(outcomes) == {"lost"}  # accepted, never reported: counted, not dropped silently


def reported_outcomes(url: str, count: int, timeout: float = 20) -> bool:
    """Wait until the dispatcher at ``url`` has posted ``count`` outcomes; False if it never did."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/stats").json()["report"]["posted"] >= count:
                    return True
            time.sleep(0.05)
    return False


def test_a_dispatcher_killed_mid_run_yields_lost_records_not_a_hang(
    tmp_path: Path, system: tuple[ServiceProcess, int]
) -> None:
    """Killed once it has reported five outcomes (not at a fixed time: the CLI's start-up is
    0.6-1.5 s depending on what the process has imported), with most of the run still to send."""
    dispatcher, port = system
    workload = tmp_path / "w.txt"
    workload.write_text("10,10,10,10,10,10")
    reported = threading.Event()

    def kill_after_five_reported() -> None:
        if reported_outcomes(dispatcher.url, 5):
            reported.set()
        dispatcher.stop()

    killer = threading.Thread(target=kill_after_five_reported, daemon=True)
    killer.start()
    started = time.monotonic()
    run_dir = loadtest(workload, dispatcher.url, port, tmp_path / "runs", "--drain-timeout", "2")
    killer.join(timeout=30)
    assert reported.is_set(), "the dispatcher never reported five outcomes"
    assert time.monotonic() - started < 40
    requests = pd.read_parquet(run_dir / "requests.parquet")
    assert len(requests) == 60
    assert requests["id"].is_unique
    outcomes = Counter(requests["outcome"])
    assert outcomes["enqueue_error"] >= 10  # sends after the kill: connection refused
    assert outcomes["ok"] >= 5
    assert sum(outcomes.values()) == 60


@pytest.mark.parametrize(("content", "message"), [("5,-1", ":1:3:"), ("", "empty"), ("1\n2,x", ":2:3:")])
def test_bad_workload_files_exit_2_with_file_line_and_column(
    tmp_path: Path, content: str, message: str
) -> None:
    workload = tmp_path / "bad.txt"
    workload.write_text(content)
    result = runner.invoke(app, ["loadtest", str(workload), "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "bad.txt" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_image_folders_exit_2(tmp_path: Path) -> None:
    workload = tmp_path / "w.txt"
    workload.write_text("1")
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "broken.JPEG").write_bytes(b"not really a jpeg")
    for folder, words in (
        (tmp_path / "missing", "no such image folder"),
        (empty, "no .jpg"),
        (corrupt, "broken.JPEG"),
    ):
        result = runner.invoke(app, ["loadtest", str(workload), "--images", str(folder)])
        assert result.exit_code == 2, result.output
        assert words in result.output  # whole: errors are not wrapped, whatever the path's length


def test_a_run_of_zero_requests_is_written_and_reported(tmp_path: Path) -> None:
    """Found by the fuzzer: a run that sent nothing wrote NaN into run.json, and its report failed."""
    workload = tmp_path / "zero.txt"
    workload.write_text("0,0\n")
    result = runner.invoke(app, [
        "loadtest", str(workload), "--dispatcher", f"http://127.0.0.1:{free_port()}",
        "--listen", f"127.0.0.1:{free_port()}", "--runs-dir", str(tmp_path / "runs"), "--no-live",
        "--drain-timeout", "0",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["send"]["lag_p99_ms"] is None
    report = runner.invoke(app, ["report", str(run_dir)])
    assert report.exit_code == 0, report.output
    assert json.loads((run_dir / "stats.json").read_text())["total"] == 0


DISPATCHER_ARGS = ("--concurrency", "4", "--result-token", "r3sult")


def _dispatcher_on(port: int, result_port: int, upstream: str, log: Path) -> ServiceProcess:
    from harness.services import start_module, wait_ready

    service = start_module(
        "mlscale_dispatcher",
        ["--upstream", upstream, "--result-url", f"http://127.0.0.1:{result_port}/storeLatency",
         *DISPATCHER_ARGS, "--log-level", "warning"],
        log, port,
    )  # fmt: skip
    wait_ready(service, timeout=30)
    return service


def test_a_dispatcher_restarted_mid_run_counts_no_duplicate_outcomes(
    tmp_path: Path, replicas: dict[str, ServiceProcess]
) -> None:
    """Killed after five outcomes and started again on its port, as the supervisor does: the
    catch-up read of the new one's /results (with the result token) brings back outcomes the
    callbacks already delivered, which are not duplicates."""
    port, result_port = free_port(), free_port()
    upstream = replicas["main"].url
    first = _dispatcher_on(port, result_port, upstream, tmp_path / "d1.log")
    second: list[ServiceProcess] = []

    def restart_after_five_reported() -> None:
        reported_outcomes(first.url, 5)
        first.stop()
        second.append(_dispatcher_on(port, result_port, upstream, tmp_path / "d2.log"))

    workload = tmp_path / "w.txt"
    workload.write_text("10,10,10,10,10,10")
    restarter = threading.Thread(target=restart_after_five_reported, daemon=True)
    restarter.start()
    try:
        run_dir = loadtest(workload, first.url, result_port, tmp_path / "runs", "--result-token", "r3sult")
        restarter.join(timeout=30)
        assert second, "the dispatcher was never restarted"
        served_after = httpx.get(f"{second[0].url}/stats").json()["outcomes"]["ok"]
    finally:
        for service in [first, *second]:
            service.stop()
    requests = pd.read_parquet(run_dir / "requests.parquet")
    assert len(requests) == 60
    assert served_after > 0  # the new dispatcher served part of the run: its /results was read
    assert Counter(requests["outcome"])["ok"] >= 5 + served_after
    assert json.loads((run_dir / "run.json").read_text())["duplicate_outcomes"] == 0


def test_a_tokenless_client_cannot_forge_a_concurrent_runs_outcomes(
    tmp_path: Path, replicas: dict[str, ServiceProcess]
) -> None:
    """Issue 31's attack: read everything open, learn the run's ids, enqueue them first with a
    broken image. /results now wants the result token and the ids are 96 random bits, so what the
    attacker can read names no id and what it guesses names none: every row stays the run's."""
    port, result_port = free_port(), free_port()
    dispatcher = _dispatcher_on(port, result_port, replicas["main"].url, tmp_path / "d.log")
    seen: dict[str, int] = {}
    stop = threading.Event()

    def attack() -> None:
        with httpx.Client(timeout=2) as client:
            round_ = 0
            while not stop.is_set():
                seen["results"] = client.get(f"{dispatcher.url}/results").status_code
                text = " ".join(client.get(f"{dispatcher.url}{path}").text for path in ("/stats", "/metrics"))
                guesses = {word for word in text.replace('"', " ").split() if "-" in word}  # anything id-like
                guesses |= {f"{round_:08x}-{i}" for i in range(60)}  # the old 8-hex-digit run ids
                for guess in guesses:
                    answer = client.post(f"{dispatcher.url}/enqueue", json={"image": "AAAA", "id": guess})
                    seen[str(answer.status_code)] = seen.get(str(answer.status_code), 0) + 1
                round_ += 1

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    workload = tmp_path / "w.txt"
    workload.write_text("10,10,10,10,10")
    try:
        run_dir = loadtest(
            workload, dispatcher.url, result_port, tmp_path / "runs", "--result-token", "r3sult"
        )
    finally:
        stop.set()
        attacker.join(timeout=10)
        dispatcher.stop()
    requests = pd.read_parquet(run_dir / "requests.parquet")
    assert seen["results"] == 401
    assert seen.get("202", 0) > 0  # the attacker's own jobs were taken, and failed on their own
    assert len(requests) == 50
    assert set(requests["outcome"]) == {"ok"}, Counter(requests["error"].dropna())
    assert all(len(i.rsplit("-", 1)[0]) == 24 for i in requests["id"])  # 96 random bits each


def test_a_timestamp_trace_is_replayed_at_its_own_times_sped_up(
    tmp_path: Path, system: tuple[ServiceProcess, int]
) -> None:
    """Bursts of simultaneous requests and gaps, as a trace has them; --speed 2 halves every offset.
    Its send lag is the bench's figure (nox -s bench -- loadgen: the trace replay line)."""
    dispatcher, port = system
    times = sorted([100 + 0.1 * i for i in range(20)] + [103.0] * 8 + [104.5 + 0.037 * i for i in range(30)])
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,where\n" + "".join(f"{t:.6f},shop\n" for t in reversed(times)))
    run_dir = loadtest(trace, dispatcher.url, port, tmp_path / "runs", "--speed", "2")
    requests = pd.read_parquet(run_dir / "requests.parquet")
    meta = json.loads((run_dir / "run.json").read_text())
    offsets = sorted(requests["intended_at"] - meta["start_at"])
    assert offsets == pytest.approx([(t - times[0]) / 2 for t in times], abs=1e-6)
    assert set(requests["outcome"]) == {"ok"}
    assert meta["send"]["sent"] == len(times)
    assert meta["send"]["lag_p99_ms"] is not None
    assert meta["workload"]["source"]["label"] == "request times, trace.csv, at 2×"
    assert meta["workload"]["source"]["format"] == "timestamps"
