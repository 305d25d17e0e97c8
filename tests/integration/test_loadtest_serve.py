"""``mlscale loadtest --serve``: the original design's HTTP API, driving the real dispatcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd

from harness.services import IMAGES, ServiceProcess, free_port, start_dispatcher, wait_exit, wait_ready
from mlscale.images import load_images
from mlscale.loadgen.options import LoadTestOptions
from mlscale.loadtest_api import LoadTestService
from tests.fakes import ThreadedServer


def test_run_load_test_then_generate_report(tmp_path: Path, replicas: dict[str, ServiceProcess]) -> None:
    service = LoadTestService(
        load_images(IMAGES),
        LoadTestOptions(dispatcher_url="", drain_timeout=20, runs_dir=tmp_path / "runs"),
        defaults=None,
        announce=lambda line: None,
    )
    server = ThreadedServer(service.app())
    dispatcher = start_dispatcher(
        tmp_path / "d.log",
        "--upstream",
        replicas["main"].url,
        "--result-url",
        f"{server.url}/storeLatency",
        "--concurrency",
        "4",
    )
    service.options = replace(service.options, dispatcher_url=dispatcher.url)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            early = client.post("/generateReport", json={"totalRequests": 5})
            assert early.status_code == 409
            assert early.json()["error"] == "no_run"
            assert client.get("/runLoadTest").json() == {"state": "idle"}

            started = client.post("/runLoadTest", json={"maxImages": 7, "workload": "4,4,4"})
            assert started.status_code == 202, started.text
            assert started.json()["requests"] == 7
            busy = client.post("/runLoadTest", json={"workload": [1]})
            assert busy.status_code == 409
            assert busy.json()["error"] == "run_in_progress"

            report = client.post("/generateReport", json={"totalRequests": 7})
            assert report.status_code == 200, report.text
            stats = report.json()
            assert stats["total"] == stats["recorded"] == 7
            assert stats["counts"]["ok"] == 7
            assert stats["success_rate"] == 1.0
            ok = stats["latency_ms"]["ok"]["from_intended"]
            assert 0 < ok["p50"] <= ok["p99"]
            assert "warning" not in stats
            written = {Path(f).name for f in stats["files"]}
            assert {"stats.json", "timeline.png", "latency.png", "report.html"} <= written
            assert all(Path(f).stat().st_size > 0 for f in stats["files"])
            requests = pd.read_parquet(Path(stats["run_dir"]) / "requests.parquet")
            assert len(requests) == 7
            assert requests["id"].is_unique
            status = client.get("/runLoadTest").json()
            assert status["state"] == "finished"
            assert status["sent"] == status["outcomes"] == 7

            mismatch = client.post("/generateReport", json={"totalRequests": 1000}).json()
            assert "totalRequests=1000" in mismatch["warning"]
            assert mismatch["counts"]["lost"] == 993  # expected but never recorded
            assert mismatch["success_rate"] == 7 / 1000
    finally:
        server.stop()
        dispatcher.stop()


def test_bad_requests_get_400_with_a_reason(tmp_path: Path) -> None:
    service = LoadTestService(
        load_images(IMAGES),
        LoadTestOptions(dispatcher_url="http://127.0.0.1:9", runs_dir=tmp_path),
        defaults=None,
    )
    server = ThreadedServer(service.app()).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            for body, words in (
                ({"workload": "5,-1"}, "negative"),
                ({"workload": "5", "maxImages": 0}, "maxImages"),
                ({"workload": "5", "arrival": "burst"}, "arrival"),
                ({"workload": {"a": 1}}, "workload"),
                ({"maxImages": 3}, "without one"),
                ({"workload": "5", "bogus": 1}, "bogus"),
            ):
                response = client.post("/runLoadTest", json=body)
                assert response.status_code == 400, body
                assert words in response.json()["detail"], response.json()
            broken = client.post("/runLoadTest", content=b"{not json")
            assert broken.status_code == 400
            assert broken.json()["error"] == "invalid_json"
            bad_total = client.post("/generateReport", json={"totalRequests": "ten"})
            assert bad_total.status_code == 400
            assert client.get("/runLoadTest").json() == {"state": "idle"}  # nothing was started
    finally:
        server.stop()


def test_the_cli_serves_the_api_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlscale",
                "loadtest",
                "--serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--images",
                str(IMAGES),
                "--runs-dir",
                str(tmp_path),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "MLSCALE_STATE_DIR": str(tmp_path / "state")},
        )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(service, timeout=60, path="/healthz")
        token_file = tmp_path / "state" / "serve-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        refused = httpx.get(f"{service.url}/runLoadTest")
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
        wrong = httpx.get(f"{service.url}/runLoadTest", headers=[(b"authorization", b"Bearer \xe9")])
        assert wrong.status_code == 401
        auth = {"authorization": f"Bearer {token_file.read_text()}"}
        assert httpx.get(f"{service.url}/runLoadTest", headers=auth).json() == {"state": "idle"}
        assert token_file.read_text() not in service.log()
        process.send_signal(signal.SIGINT)
        assert wait_exit(service, 20) == 0
        assert "Traceback" not in service.log()
    finally:
        service.stop()


def test_the_api_answers_while_a_run_is_far_behind_schedule(tmp_path: Path) -> None:
    """Found by the fuzzer: a run of 1e6/s at a closed port never yielded the event loop, and
    --serve stopped answering (its /healthz timed out after 5 s)."""
    service = LoadTestService(
        load_images(IMAGES),
        LoadTestOptions(dispatcher_url=f"http://127.0.0.1:{free_port()}", drain_timeout=0, runs_dir=tmp_path),
        defaults=None,
        announce=lambda line: None,
        serve_token="t",
    )
    server = ThreadedServer(service.app()).start()
    auth = {"authorization": "Bearer t"}
    try:
        with httpx.Client(base_url=server.url, timeout=2) as client:
            started = client.post("/runLoadTest", json={"workload": [100000] * 5}, headers=auth)
            assert started.status_code == 202, started.text
            slowest = 0.0
            for _ in range(20):
                began = time.monotonic()
                assert client.get("/healthz").status_code == 200
                slowest = max(slowest, time.monotonic() - began)
                time.sleep(0.1)
            assert client.get("/runLoadTest", headers=auth).json()["state"] == "running"
    finally:
        server.stop()
    assert slowest < 1.0, slowest
