"""Faults under load on the local backend, measured: SIGKILL and SIGSTOP a replica, SIGKILL the
dispatcher. One system (2 replicas, time scale 0.2) serves the three scenarios in turn, each under
15 requests/s from the real `mlscale loadtest`; the fault lands while the load runs.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.services import IMAGES, free_port
from mlscale.cli import app

runner = CliRunner()
RATE = 15
MAX_PENDING = 16  # the inference service's default: at most this many requests die with a replica


def status() -> dict[str, Any]:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def wait_for(condition: Callable[[dict[str, Any]], bool], timeout: float) -> tuple[dict[str, Any], float]:
    """Poll status until ``condition`` holds; returns it and the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        now = status()
        if condition(now):
            return now, time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {json.dumps(status(), indent=1)[:3000]}")


class System:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dispatcher_port, self.listen_port = free_port(), free_port()

    def load(self, seconds: int, fault_at: float, fault: Callable[[], None], name: str) -> pd.DataFrame:
        """`mlscale loadtest` at RATE for ``seconds``; ``fault`` runs ``fault_at`` s into it."""
        workload = self.root / f"{name}.txt"
        workload.write_text(f"{RATE}\n")
        timer = threading.Timer(fault_at, fault)
        timer.start()
        try:
            result = runner.invoke(app, [
                "loadtest", str(workload), "--step-seconds", str(seconds),
                "--dispatcher", f"http://127.0.0.1:{self.dispatcher_port}",
                "--listen", f"127.0.0.1:{self.listen_port}", "--images", str(IMAGES),
                "--runs-dir", str(self.root / "runs" / name), "--no-live", "--drain-timeout", "20",
            ])  # fmt: skip
        finally:
            timer.join()
        assert result.exit_code == 0, result.output
        (run_dir,) = (self.root / "runs" / name).iterdir()
        return pd.read_parquet(run_dir / "requests.parquet")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    root = tmp_path_factory.mktemp("chaos")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MLSCALE_STATE_DIR", str(root / "state"))
        system = System(root)
        result_url = f"http://127.0.0.1:{system.listen_port}/storeLatency"
        port = str(system.dispatcher_port)
        up = runner.invoke(app, ["up", "--time-scale", "0.2", "--min-replicas", "2",
                                 "--dispatcher-port", port, "--result-url", result_url])  # fmt: skip
        assert up.exit_code == 0, up.output
        try:
            wait_for(lambda s: sum(r["ready"] for r in s["replicas"]) >= 2, 180)
            yield system
        finally:
            down = runner.invoke(app, ["down"])
            assert down.exit_code == 0, down.output


def replica(now: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in now["replicas"] if r["id"] == name)


def test_a_killed_replica_is_restarted_and_costs_at_most_its_pending_requests(system: System) -> None:
    target = status()["replicas"][0]
    seen: dict[str, Any] = {}

    def kill() -> None:
        os.kill(target["pid"], signal.SIGKILL)
        seen["killed_at"] = time.monotonic()

    requests = system.load(25, 8.0, kill, "replica-kill")
    (run_dir,) = (system.root / "runs" / "replica-kill").iterdir()
    timeline = pd.read_parquet(run_dir / "timeline.parquet")
    assert timeline["restarts"].max() == timeline["restarts"].min() + 1  # the run's timeline shows it
    back, _ = wait_for(
        lambda s: replica(s, target["id"])["ready"] and replica(s, target["id"])["restarts"] >= 1, 120
    )
    outcomes = Counter(requests["outcome"])
    assert len(requests) == 25 * RATE
    assert set(outcomes) <= {"ok", "error"}, outcomes
    assert outcomes["error"] <= MAX_PENDING, outcomes  # only what was on the killed replica
    restarted = replica(back, target["id"])
    assert restarted["pid"] != target["pid"]
    assert restarted["restarts"] == 1


def test_a_stopped_replica_leaves_the_upstreams_and_comes_back(system: System) -> None:
    target = status()["replicas"][-1]
    timings: dict[str, float] = {}

    def freeze() -> None:
        os.kill(target["pid"], signal.SIGSTOP)
        timings["stopped_at"] = time.monotonic()
        try:
            _, timings["left_after"] = wait_for(lambda s: not replica(s, target["id"])["ready"], 30)
        finally:
            time.sleep(max(0.0, 15 - (time.monotonic() - timings["stopped_at"])))
            os.kill(target["pid"], signal.SIGCONT)

    requests = system.load(30, 5.0, freeze, "replica-stop")
    back, _ = wait_for(lambda s: replica(s, target["id"])["ready"], 30)
    # Readiness: period 5 s x failure threshold 2, each probe timing out after 1 s.
    assert timings["left_after"] <= 5 * 2 + 1 + 1
    assert replica(back, target["id"])["restarts"] == 0  # liveness (3 x 10 s) had not run out
    assert Counter(requests["outcome"]) == Counter({"ok": 30 * RATE})
    assert requests["dispatcher_total_ms"].max() < 30_000  # nobody waited past the request timeout


def test_a_killed_dispatcher_is_restarted_and_every_request_has_one_row(system: System) -> None:
    before = status()["dispatcher"]
    marks: dict[str, float] = {}

    def kill() -> None:
        marks["killed_at"] = time.time()
        os.kill(before["pid"], signal.SIGKILL)
        _, marks["restart_s"] = wait_for(
            lambda s: s["dispatcher"]["ready"] and s["dispatcher"]["pid"] != before["pid"], 30
        )
        marks["ready_at"] = time.time()

    requests = system.load(20, 6.0, kill, "dispatcher-kill")
    assert marks["restart_s"] <= 5.0, marks
    assert requests["id"].is_unique
    assert len(requests) == 20 * RATE
    outcomes = Counter(requests["outcome"])
    assert set(outcomes) <= {"ok", "lost", "enqueue_error"}, outcomes
    after = requests[requests["sent_at"] > marks["ready_at"]]
    assert len(after) > 0
    assert set(after["outcome"]) == {"ok"}  # everything sent after the restart was served
    lost_or_refused = requests[requests["outcome"] != "ok"]
    assert lost_or_refused["sent_at"].max() <= marks["ready_at"]  # only what the kill caught
    assert status()["dispatcher"]["restarts"] == before["restarts"] + 1
