"""``up``, ``status``, ``down`` and ``demo`` through the real CLI, against a fake backend: what the
CLI asks of the library, and what it prints and exits with."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner, Result

from mlscale import cli_loadtest, cli_system, defaults
from mlscale.backends import BackendName, UpOptions
from mlscale.backends.base import ClusterDetails, Dashboard, ReplicaStatus, SystemStatus
from mlscale.cli import app
from mlscale.errors import NotUp
from mlscale.net import free_port
from tests.fakes import serving

runner = CliRunner()


def a_status(**changes: Any) -> SystemStatus:
    status = SystemStatus(
        backend="local",
        dispatcher_url="http://127.0.0.1:8000",
        replicas=[
            ReplicaStatus("replica-1", "http://127.0.0.1:9001", True, cpu_milli=250, cpu_utilization=50)
        ],
        desired_replicas=1,
        min_replicas=1,
        max_replicas=5,
        target_cpu_utilization=70,
    )
    for key, value in changes.items():
        setattr(status, key, value)
    return status


class FakeBackend:
    name = "fake"

    def __init__(self, status: SystemStatus | None = None, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.current = status or a_status()
        self.fail = fail

    def _call(self, name: str, argument: Any = None) -> None:
        self.calls.append((name, argument))
        if self.fail is not None:
            raise self.fail

    def up(self) -> SystemStatus:
        self._call("up")
        return self.current

    def status(self) -> SystemStatus:
        self._call("status")
        return self.current

    def decisions(self) -> list[dict[str, Any]]:
        self._call("decisions")
        return []

    def down(self, *, delete_cluster: bool = False) -> None:
        self._call("down", delete_cluster)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[UpOptions | None]:
    """Every open_backend call's options; the backend is the test's ``FakeBackend``."""
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    seen: list[UpOptions | None] = []
    backend = FakeBackend()

    def open_backend(up: UpOptions | None = None, console: object = None) -> FakeBackend:
        seen.append(up)
        return backend

    monkeypatch.setattr(cli_system, "open_backend", open_backend)
    monkeypatch.setattr(cli_system, "fake", backend, raising=False)
    return seen


def test_up_passes_typed_options_and_prints_the_system(opened: list[UpOptions | None]) -> None:
    result = runner.invoke(
        app, ["up", "--backend", "kubernetes", "--max-replicas", "3", "--no-minikube", "--namespace", "exp"]
    )
    assert result.exit_code == 0, result.output
    (options,) = opened
    assert options is not None
    assert options.backend is BackendName.KUBERNETES
    assert options.max_replicas == 3
    assert (options.cluster.minikube, options.cluster.namespace) == (False, "exp")
    assert "replica-1" in result.output
    assert "up. Next: mlscale loadtest" in result.output


def test_up_refuses_an_unknown_backend_before_opening_one(opened: list[UpOptions | None]) -> None:
    result = runner.invoke(app, ["up", "--backend", "nomad"])
    assert result.exit_code == 2
    assert "nomad" in result.output
    assert opened == []


def test_up_refuses_a_time_scale_out_of_range_with_a_message(opened: list[UpOptions | None]) -> None:
    result = runner.invoke(app, ["up", "--time-scale", "2"])
    assert result.exit_code == 2
    assert "--time-scale must be in (0, 1]" in result.output
    assert "Traceback" not in result.output


def test_status_prints_the_table_and_the_dashboard(
    opened: list[UpOptions | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboard = Dashboard("Grafana", "admin", "s3cret", "kubectl -n exp port-forward svc/m-grafana 3000:80")
    reach = "kubectl -n exp port-forward svc/m-prometheus 9090:9090"
    cluster = ClusterDetails("exp", "m", dashboard=dashboard, prometheus=reach)
    cluster_status = a_status(backend="kubernetes", cluster=cluster)
    monkeypatch.setattr(cli_system, "open_backend", lambda up=None, console=None: FakeBackend(cluster_status))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "Grafana: user admin, password s3cret (kubectl -n exp port-forward" in result.output
    assert f"Prometheus: http://127.0.0.1:9090 after `{reach}`" in " ".join(result.output.split())
    as_json = runner.invoke(app, ["status", "--json"])
    assert SystemStatus.from_json(json.loads(as_json.output)) == cluster_status


def test_status_when_nothing_is_up_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = FakeBackend(fail=NotUp("no local system is up; run `mlscale up` first"))
    monkeypatch.setattr(cli_system, "open_backend", lambda up=None, console=None: failing)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert "error: no local system is up" in result.output
    assert "Traceback" not in result.output


def test_down_passes_delete_cluster_through_the_protocol(opened: list[UpOptions | None]) -> None:
    result = runner.invoke(app, ["down", "--delete-cluster"])
    assert result.exit_code == 0, result.output
    backend: FakeBackend = cli_system.fake  # type: ignore[attr-defined]
    assert backend.calls == [("down", True)]
    assert opened == [None]  # down opens the system that is up, not one named on its command line


def fake_dispatcher(listener: str) -> Starlette:
    """Answers /enqueue with 202 and posts the outcome to the load tester at once, as the real
    dispatcher does after inference."""

    async def enqueue(request: Request) -> Response:
        body = await request.json()
        now = time.time()
        record = {
            "id": body["id"],
            "outcome": "ok",
            "sent_at": body["sent_at"],
            "finished_at": now,
            "infer_ms": 1.0,
        }
        async with httpx.AsyncClient() as client:
            await client.post(f"{listener}/storeLatency", json={"records": [record]})
        return JSONResponse({"queued": True}, 202)

    async def stats(request: Request) -> Response:
        return JSONResponse({"queue_depth": 0, "in_flight": 0, "report": {"unsent": 0}})

    return Starlette(routes=[Route("/enqueue", enqueue, methods=["POST"]), Route("/stats", stats)])


def test_demo_runs_up_loadtest_down_report_in_order(
    opened: list[UpOptions | None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = free_port()
    monkeypatch.setattr(defaults, "LISTEN_PORT", port)
    workload = tmp_path / "tiny.txt"
    workload.write_text("3,3\n")
    with serving(fake_dispatcher(f"http://127.0.0.1:{port}")) as dispatcher:
        monkeypatch.setattr(defaults, "DISPATCHER_URL", dispatcher.url)
        result = runner.invoke(
            app, ["demo", "--workload", str(workload), "--runs-dir", str(tmp_path / "runs"), "--no-live"]
        )
    assert result.exit_code == 0, result.output
    backend: FakeBackend = cli_system.fake  # type: ignore[attr-defined]
    assert [name for name, _ in backend.calls] == ["up", "down"]
    (up,) = [o for o in opened if o is not None]
    assert (up.backend, up.weights) == (BackendName.LOCAL, "none")
    (run_dir,) = (tmp_path / "runs").iterdir()
    stats = json.loads((run_dir / "stats.json").read_text())
    assert stats["counts"]["ok"] == 6
    assert (run_dir / "report.html").is_file()
    assert "replica timeline" in result.output


def test_demo_tears_down_when_the_load_test_fails(
    opened: list[UpOptions | None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["demo", "--workload", str(tmp_path / "missing.txt"), "--no-live"])
    assert result.exit_code == 2
    assert "no such workload file" in result.output
    backend: FakeBackend = cli_system.fake  # type: ignore[attr-defined]
    assert [name for name, _ in backend.calls] == ["up", "down"]


def test_mlscale_debug_shows_the_chained_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> None:
        try:
            raise ConnectionRefusedError("connect to 127.0.0.1:41234 refused")
        except OSError as exc:
            raise NotUp("the local system's control API did not answer") from exc

    class Failing(FakeBackend):
        def status(self) -> SystemStatus:
            unreachable()
            raise AssertionError("unreachable")

    monkeypatch.setattr(cli_system, "open_backend", lambda up=None, console=None: Failing())
    quiet = runner.invoke(app, ["status"])
    assert quiet.exit_code == 1
    assert "ConnectionRefusedError" not in quiet.output
    loud = runner.invoke(app, ["status"], env={"MLSCALE_DEBUG": "1", "COLUMNS": "200"})
    assert loud.exit_code == 1
    assert "ConnectionRefusedError: connect to 127.0.0.1:41234 refused" in loud.output
    assert "error: the local system's control API did not answer" in loud.output


def tiny_loadtest(tmp_path: Path) -> Result:
    port = free_port()
    workload = tmp_path / "tiny.txt"
    workload.write_text("2,2\n")
    with serving(fake_dispatcher(f"http://127.0.0.1:{port}")) as dispatcher:
        return runner.invoke(
            app,
            ["loadtest", str(workload), "--dispatcher", dispatcher.url, "--listen", f"127.0.0.1:{port}",
             "--runs-dir", str(tmp_path / "runs")],
        )  # fmt: skip


def test_loadtest_in_a_terminal_draws_the_live_view(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The live path: the runner's progress callback redraws the view, sized to the terminal."""
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80, height=24, color_system=None)
    monkeypatch.setattr(cli_loadtest, "console", terminal)
    result = tiny_loadtest(tmp_path)
    assert result.exit_code == 0, result.output
    drawn = screen.getvalue()
    assert "╭─ load /s" in drawn  # the view's panels
    assert "sent 4 of 4" in drawn  # the last frame: every planned request sent
    assert "…" not in drawn


def test_loadtest_into_a_log_prints_a_plain_line_a_second(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    result = tiny_loadtest(tmp_path)  # CliRunner's output is not a terminal
    assert result.exit_code == 0, result.output
    progress = [
        line for line in result.output.splitlines() if re.match(r"\d+/\d+ s · sent \d+/4 · per s", line)
    ]
    assert progress, result.output
    assert any("sent 4/4" in line for line in progress), progress
    assert "╭" not in result.output  # no frame of a redrawn view left in the log
