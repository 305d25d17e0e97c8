"""The local backend scaling for real: up, overload, scale out, load stops, scale in, down.

Real dispatcher and inference processes (weights none) on 127.0.0.1, the real HPA on their
measured CPU, with ``--time-scale 0.2`` (sync 3 s, scale-up window 6 s, scale-down 12 s).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlscale.backends.base import read_state
from mlscale.cli import app
from tests.support import IMAGES, free_port

runner = CliRunner()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def status() -> dict[str, object]:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_scales_out_under_load_and_back_in_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    dispatcher_port, listen_port = free_port(), free_port()
    up = runner.invoke(app, ["up", "--time-scale", "0.2", "--dispatcher-port", str(dispatcher_port),
                             "--result-url", f"http://127.0.0.1:{listen_port}/storeLatency"])  # fmt: skip
    assert up.exit_code == 0, up.output
    state = read_state()
    assert state is not None
    pids = {int(state["supervisor_pid"])}
    try:
        again = runner.invoke(app, ["up", "--dispatcher-port", str(free_port())])
        assert again.exit_code == 1
        assert "already up" in again.output

        workload = tmp_path / "overload.txt"
        workload.write_text("35\n")  # above one 500m replica's capacity (~20/s on this machine)
        result = runner.invoke(app, [
            "loadtest", str(workload), "--step-seconds", "40",
            "--dispatcher", f"http://127.0.0.1:{dispatcher_port}",
            "--listen", f"127.0.0.1:{listen_port}", "--images", str(IMAGES),
            "--runs-dir", str(tmp_path / "runs"),
            "--no-live", "--drain-timeout", "60",
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
        (run_dir,) = (tmp_path / "runs").iterdir()
        requests = pd.read_parquet(run_dir / "requests.parquet")
        timeline = pd.read_parquet(run_dir / "timeline.parquet")
        meta = json.loads((run_dir / "run.json").read_text())
        outcomes = Counter(requests["outcome"])
        # Nothing lost while replicas came and went: every one of the 1,400 requests answered.
        assert len(requests) == 1400
        assert outcomes == Counter({"ok": 1400}), outcomes
        assert timeline["replicas"].max() >= 3, timeline[["second", "replicas", "desired_replicas"]]
        assert any(d["desired"] > d["current"] for d in meta["autoscaler"])

        # Load over: back to one replica once the (scaled) 12 s scale-down window has passed.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            now = status()
            pids |= {int(r["pid"]) for r in now["replicas"]}  # type: ignore[attr-defined]
            pids.add(int(now["extra"]["dispatcher_pid"]))  # type: ignore[index]
            if len(now["replicas"]) == 1:  # type: ignore[arg-type]
                break
            time.sleep(1)
        assert len(now["replicas"]) == 1, now  # type: ignore[arg-type]
    finally:
        down = runner.invoke(app, ["down"])
    assert down.exit_code == 0, down.output
    assert read_state() is None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    assert not [pid for pid in pids if alive(pid)], "processes left behind by `mlscale down`"
