"""Engines side by side, in one run: Keras (the baseline) against its LiteRT and ONNX exports.

For each engine at 1 and 2 model threads, ``BENCH_REPEAT`` times (interleaved, for the spread):
- in-process: decode + model + top-5 in a fresh process (TF's thread count is fixed per process),
  just before and just after the HTTP run (their mean: the machine's speed drifts);
- HTTP: the real service under ``CLIENTS`` closed-loop clients;
both as images/s and as images per CPU-second of the process (per core: what a replica's CPU
request buys), and their ratio; start-up from process start to ``/readyz`` 200, cold (the export
made first, in a fresh cache) and with the export cached, with the service's own phases; RSS of
the ready replica after the load; and the inference images' sizes when a Docker daemon answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.inference import DURATION_S, http_rate, photos_800x600, pipeline_rates
from harness.services import ServiceProcess, free_port, start_module, wait_ready

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
CLIENTS = 4
ENGINES = ("keras", "litert", "onnx")
THREADS = (1, 2)


def in_process(engine: str, threads: int, model_file: str | None) -> dict[str, float]:
    """The pipeline in a fresh process: images/s and images per CPU-second."""
    command = [
        sys.executable,
        "-m",
        "bench.engines",
        "--child",
        "--engine",
        engine,
        "--threads",
        str(threads),
    ]
    if model_file:
        command += ["--model-file", model_file]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child(engine: str, threads: int, model_file: str | None) -> None:
    from mlscale_inference.engines import load_engine

    model = load_engine(engine, "none", model_file, threads)
    print(json.dumps(pipeline_rates(model, photos_800x600())))


def startup_phases(url: str) -> dict[str, float]:
    phases = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("mlscale_inference_startup_seconds{"):
            phases[line.split('phase="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return phases


def start(engine: str, threads: int, model_file: str | None, logs: Path) -> tuple[ServiceProcess, float]:
    """A replica, and seconds from its process start to /readyz 200."""
    args = ["--weights", "none", "--engine", engine, "--threads", str(threads), "--max-pending", "64",
            "--log-level", "warning", *(["--model-file", model_file] if model_file else [])]  # fmt: skip
    began = time.perf_counter()
    service = start_module("mlscale_inference", args, logs / f"{engine}-{threads}.log", free_port())
    wait_ready(service, timeout=300)
    return service, time.perf_counter() - began


def export(engine: str, cache: Path) -> tuple[str | None, float]:
    """The engine's exported file in ``cache`` and the seconds the export took (0 for keras)."""
    if engine == "keras":
        return None, 0.0
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlscale_inference.export", "--engine", engine,
                           "--weights", "none", "--cache-dir", str(cache)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip().splitlines()[-1], time.perf_counter() - began


def measure(engine: str, threads: int, cache: Path, logs: Path, bodies: list[bytes]) -> dict[str, Any]:
    fresh = Path(tempfile.mkdtemp(dir=cache))
    model_file, export_s = export(engine, fresh)  # cold: a cache without it
    service, cold_s = start(engine, threads, model_file, logs)
    service.stop()
    before = in_process(engine, threads, model_file)
    service, ready_s = start(engine, threads, model_file, logs)  # the export cached now
    try:
        phases = startup_phases(service.url)
        process = psutil.Process(service.process.pid)
        asyncio.run(http_rate(service.url, bodies, CLIENTS))  # warm connections and allocator
        cpu0 = process.cpu_times()
        rate, p50 = asyncio.run(http_rate(service.url, bodies, CLIENTS))
        cpu1 = process.cpu_times()
        cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        rss_mb = process.memory_info().rss / 2**20
    finally:
        service.stop()
    after = in_process(engine, threads, model_file)
    # In-process runs bracket the HTTP one: this machine's speed drifts by 5-10 % within minutes,
    # and their mean is what the same minute's HTTP run is compared with.
    local = {key: (before[key] + after[key]) / 2 for key in before}
    http_per_cpu = rate * DURATION_S / cpu_s if cpu_s > 0 else float("nan")
    return {
        "engine": engine, "threads": threads,
        "in_process_per_s": local["images_per_s"], "in_process_per_cpu_s": local["images_per_cpu_s"],
        "http_per_s": rate, "http_per_cpu_s": http_per_cpu, "http_p50_ms": p50,
        "http_over_in_process": http_per_cpu / local["images_per_cpu_s"],
        "cold_ready_s": export_s + cold_s, "export_s": export_s, "ready_s": ready_s,
        "phases": phases, "rss_mb": rss_mb,
    }  # fmt: skip


def image_sizes() -> dict[str, float] | str:
    try:
        import docker

        client = docker.from_env(timeout=5)
        return {tag: image.attrs["Size"] / 1e6 for image in client.images.list()
                for tag in image.tags if tag.startswith("mlscale-inference")}  # fmt: skip
    except Exception as exc:  # no daemon here: say so, sizes come from the image build
        return f"no Docker daemon answered ({type(exc).__name__}); sizes not measured in this run"


def spread(values: Sequence[float], digits: int = 1) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:7.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def report(rows: list[dict[str, Any]]) -> None:
    keys = [("in_process_per_cpu_s", "in-process img/CPU-s"), ("http_per_cpu_s", "HTTP img/CPU-s"),
            ("http_per_s", "HTTP img/s"), ("http_over_in_process", "HTTP / in-process"),
            ("ready_s", "start -> ready, cached s"), ("cold_ready_s", "start -> ready, cold s"),
            ("rss_mb", "RSS ready, MB")]  # fmt: skip
    for threads in THREADS:
        print(f"\n-- {threads} thread(s), {CLIENTS} HTTP clients, {REPEAT} runs: median (min-max) --")
        base = [r for r in rows if r["engine"] == "keras" and r["threads"] == threads]
        for key, label in keys:
            cells = []
            for engine in ENGINES:
                mine = [r[key] for r in rows if r["engine"] == engine and r["threads"] == threads]
                cell = spread(mine, 2 if key == "http_over_in_process" else 1)
                if engine != "keras" and key in ("in_process_per_cpu_s", "http_per_cpu_s", "http_per_s"):
                    # Paired: each run's engine against the Keras measured minutes before it.
                    ratios = [r[key] / b[key] for r, b in zip(
                        [r for r in rows if r["engine"] == engine and r["threads"] == threads], base,
                        strict=True)]  # fmt: skip
                    cell += f" = {spread(ratios, 2).strip()}x keras"
                cells.append(f"{engine}: {cell}")
            print(f"{label:>26}  " + "  ".join(cells))
        for engine in ENGINES:
            phases = [r["phases"] for r in rows if r["engine"] == engine and r["threads"] == threads]
            joined = ", ".join(f"{k} {statistics.median(p[k] for p in phases):.2f}" for k in phases[0])
            print(f"{'phases ' + engine:>26}  {joined} s")
    print(f"\ninference images: {image_sizes()}")


def _rounded(value: float) -> float:
    return round(value, 2)


def main() -> None:
    bodies = photos_800x600()  # raw, as the dispatcher forwards them
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache, logs = Path(tmp) / "cache", Path(tmp) / "logs"
        cache.mkdir()
        logs.mkdir()
        for run in range(REPEAT):
            for threads in THREADS:
                for engine in ENGINES:
                    row = measure(engine, threads, cache, logs, bodies)
                    rows.append(row)
                    brief = {k: v for k, v in row.items() if k != "phases"}
                    print(f"run {run + 1}/{REPEAT}: {json.dumps(brief, default=_rounded)}", flush=True)
    report(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--engine", default="keras")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-file")
    options = parser.parse_args()
    if options.child:
        child(options.engine, options.threads, options.model_file)
    else:
        main()
