"""Ten times one replica's capacity into a dispatcher with a small queue, with probes alongside.

Shared by ``tests/integration/test_overload.py`` (every request's final row must match what the
dispatcher did with it) and ``bench/overload.py`` (how fast rejections and health answers stay).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from typer.testing import CliRunner

from harness.services import IMAGES, b64, free_port, jpeg_bytes, start_dispatcher, start_module, wait_ready
from mlscale.cli import app

OVERLOAD = 10
MAX_QUEUE = 20
PROBE_EVERY_S = 0.05


@dataclass
class OverloadRun:
    capacity_rps: float
    rate: float
    requests: pd.DataFrame
    dispatcher_stats: dict[str, Any]
    probe_ms: dict[str, list[float]] = field(default_factory=dict)
    probe_failures: dict[str, int] = field(default_factory=dict)


def measure_capacity(url: str, count: int = 20) -> float:
    """Requests/s one replica serves back to back."""
    body = {"image": b64(jpeg_bytes(640, 480))}
    with httpx.Client(timeout=30) as client:
        client.post(f"{url}/infer", json=body)
        started = time.monotonic()
        for _ in range(count):
            client.post(f"{url}/infer", json=body).raise_for_status()
    return count / (time.monotonic() - started)


def probe(url: str, paths: tuple[str, ...], stop: threading.Event, run: OverloadRun) -> None:
    with httpx.Client(timeout=2.0) as client:
        while not stop.is_set():
            for path in paths:
                started = time.perf_counter()
                try:
                    client.get(url + path).raise_for_status()
                    run.probe_ms.setdefault(path, []).append((time.perf_counter() - started) * 1000)
                except httpx.HTTPError:
                    run.probe_failures[path] = run.probe_failures.get(path, 0) + 1
            stop.wait(PROBE_EVERY_S)


def overload(root: Path, seconds: int = 15) -> OverloadRun:
    replica = start_module("mlscale_inference", ["--weights", "none", "--log-level", "warning"],
                           root / "replica.log", free_port())  # fmt: skip
    try:
        wait_ready(replica, timeout=180)
        capacity = measure_capacity(replica.url)
        listen = free_port()
        result_url = f"http://127.0.0.1:{listen}/storeLatency"
        dispatcher = start_dispatcher(root / "dispatcher.log", "--upstream", replica.url,
                                      "--max-queue", str(MAX_QUEUE), "--result-url", result_url)  # fmt: skip
        try:
            rate = round(OVERLOAD * capacity, 1)
            workload = root / "overload.txt"
            workload.write_text(f"{rate}\n")
            run = OverloadRun(capacity, rate, pd.DataFrame(), {})
            stop = threading.Event()
            prober = threading.Thread(target=probe, args=(dispatcher.url, ("/healthz", "/stats"), stop, run))
            prober.start()
            try:
                result = CliRunner().invoke(app, [
                    "loadtest", str(workload), "--step-seconds", str(seconds), "--dispatcher", dispatcher.url,
                    "--listen", f"127.0.0.1:{listen}", "--images", str(IMAGES),
                    "--runs-dir", str(root / "runs"), "--no-live", "--drain-timeout", "60",
                ])  # fmt: skip
            finally:
                stop.set()
                prober.join()
            assert result.exit_code == 0, result.output
            (run_dir,) = (root / "runs").iterdir()
            run.requests = pd.read_parquet(run_dir / "requests.parquet")
            run.dispatcher_stats = httpx.get(f"{dispatcher.url}/stats", timeout=10).json()
            return run
        finally:
            dispatcher.stop()
    finally:
        replica.stop()


def p99(values: list[float] | pd.Series) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]) if len(ordered) else float("nan")
