"""Every HTTP API fuzzed by schemathesis against the OpenAPI document it serves.

Real processes on 127.0.0.1: an inference replica, a dispatcher in front of it, `mlscale loadtest
--serve` (its runs aimed at a closed port, so they fail fast and send nothing anywhere), and the
local supervisor of `mlscale up`. Each run fails on any 5xx, any status the document does not
list, any body that does not match its schema, and any request that takes over 5 s (a hang).

Fuzzing goes on for ``MLSCALE_FUZZ_SECONDS`` per operation taking input, and each of them must
have received ``MLSCALE_FUZZ_MIN_REQUESTS`` requests, counted from schemathesis' HTTP archive
(``nox -s fuzz``: 60 s and 2,000; CI: 10 s and 100). The counts go to ``MLSCALE_FUZZ_COUNTS``.
Operations that could act outside the test are fuzzed without their token, where every request
must be refused: ``PUT /upstreams`` (it would point the dispatcher at generated hosts) and the
supervisor's ``/shutdown``. ``/generateReport`` is fuzzed before any run is started: a valid
request waits for the run in progress to end (its documented behaviour, not a hang).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from harness.services import IMAGES, ServiceProcess, free_port, start_dispatcher, start_module, wait_ready
from mlscale.backends.state import read_state
from mlscale.cli import app

SECONDS = int(os.environ.get("MLSCALE_FUZZ_SECONDS", "10"))
MIN_REQUESTS = int(os.environ.get("MLSCALE_FUZZ_MIN_REQUESTS", "100"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
COUNTS = Path(os.environ.get("MLSCALE_FUZZ_COUNTS", "fuzz-counts.json"))

runner = CliRunner()


def schemathesis(
    base: str, report_dir: Path, *extra: str, fuzzed: tuple[str, ...] = (), weight: float = 1.0
) -> Counter[str]:
    """Run schemathesis; fail on any failure; return requests per "METHOD /path" it sent.

    ``fuzzed``: the operations taking input, each of which must have had ``MIN_REQUESTS``;
    ``weight``: more time for operations whose inputs are slow to generate (lists of records).
    """
    binary = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    budget = round(SECONDS * max(1, len(fuzzed)) * weight)  # --max-time is for the whole run
    command = [binary, "run", f"{base}/openapi.json", "--max-time", str(budget), "--checks", CHECKS,
               "--request-timeout", "5", "--seed", "13", "--no-color", "--report", "json,har",
               "--report-dir", str(report_dir), *extra]  # fmt: skip
    report_dir.mkdir(parents=True, exist_ok=True)  # also its working folder: its example cache goes there
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=budget * 5 + 300, check=False, cwd=report_dir
    )
    result = json.loads(next(report_dir.glob("json-*.json")).read_text())
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert result["failures"] == [], result["failures"]
    assert result["errors"] == [], result["errors"]
    assert result["test_cases"]["with_failures"] == 0
    assert result["test_cases"]["errored"] == 0
    archive = json.loads(next(report_dir.glob("har-*.json")).read_text())
    sent = Counter(
        f"{e['request']['method']} {urlsplit(e['request']['url']).path}" for e in archive["log"]["entries"]
    )
    record_counts(sent)
    short = {op: sent[op] for op in fuzzed if sent[op] < MIN_REQUESTS}
    assert not short, f"fewer than {MIN_REQUESTS} requests: {short}"
    return sent


def record_counts(sent: Counter[str]) -> None:
    """Requests per operation, added up over the runs, kept in a JSON file for the record."""
    counts = Counter(json.loads(COUNTS.read_text())) if COUNTS.exists() else Counter()
    counts.update(sent)
    COUNTS.write_text(json.dumps(dict(sorted(counts.items())), indent=1))


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    logs = tmp_path_factory.mktemp("fuzz-inference")
    service = start_module(
        "mlscale_inference", ["--weights", "none", "--log-level", "warning"], logs / "r.log", free_port()
    )
    try:
        wait_ready(service, timeout=180)
        yield service
    finally:
        service.stop()


def test_inference(replica: ServiceProcess, tmp_path: Path) -> None:
    schemathesis(replica.url, tmp_path, fuzzed=("POST /infer",))


def test_dispatcher(replica: ServiceProcess, tmp_path: Path) -> None:
    dispatcher = start_dispatcher(tmp_path / "d.log", "--upstream", replica.url, "--control-token", "c0ntrol")
    try:
        # Without the control token: PUT /upstreams must refuse everything (403).
        schemathesis(dispatcher.url, tmp_path / "all",
                     fuzzed=("POST /enqueue", "GET /results", "PUT /upstreams"))  # fmt: skip
    finally:
        dispatcher.stop()
    assert "Traceback" not in (tmp_path / "d.log").read_text()


def test_loadtest_serve(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state"
    state.mkdir()
    (state / "result-token").write_text("r3sult")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlscale", "loadtest", "--serve", "--listen", f"127.0.0.1:{port}",
             "--dispatcher", f"http://127.0.0.1:{free_port()}", "--drain-timeout", "0",
             "--images", str(IMAGES), "--runs-dir", str(tmp_path / "runs")],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLSCALE_STATE_DIR": str(state)},
        )  # fmt: skip
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(service, timeout=60, path="/healthz")
        serve = f"Authorization: Bearer {(state / 'serve-token').read_text()}"
        # First, with no run ever started: a valid /generateReport waits for the run in progress
        # (its documented behaviour), so it is fuzzed while there is none to wait for.
        schemathesis(service.url, tmp_path / "report", "-H", serve, "--include-path", "/generateReport",
                     fuzzed=("POST /generateReport",))  # fmt: skip
        schemathesis(service.url, tmp_path / "runs-api", "-H", serve,
                     "--exclude-path", "/storeLatency", "--exclude-path", "/generateReport",
                     fuzzed=("POST /runLoadTest",))  # fmt: skip
        schemathesis(service.url, tmp_path / "store", "-H", "Authorization: Bearer r3sult",
                     "--include-path", "/storeLatency", fuzzed=("POST /storeLatency",),
                     weight=2.5)  # fmt: skip
    finally:
        service.stop()
    assert "Traceback" not in log.read_text()


def test_supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    up = runner.invoke(app, ["up", "--dispatcher-port", str(free_port()), "--time-scale", "0.2"])
    assert up.exit_code == 0, up.output
    try:
        state = read_state()
        assert state is not None
        control = state["control_url"]
        token = (tmp_path / "state" / "control-token").read_text()
        schemathesis(control, tmp_path / "control", "-H", f"Authorization: Bearer {token}",
                     "--exclude-path", "/shutdown")  # fmt: skip
        # No token: every request must be refused (401), or the system would stop mid-test.
        schemathesis(control, tmp_path / "shutdown", "--include-path", "/shutdown")
    finally:
        down = runner.invoke(app, ["down"])
    assert down.exit_code == 0, down.output
