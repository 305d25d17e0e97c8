"""Load generator: the highest open-loop rate one ``mlscale loadtest`` process holds, in one run.

Target: the no-op server (its own process) standing in for the dispatcher. Baseline for scale:
Debian's ``hey`` (Go, 50 connections, unthrottled) against the same server, which shows what the
server and this machine can take. Then ``mlscale loadtest`` as its own process at rising rates,
each held ``BENCH_SECONDS``: a rate holds when every request was sent and answered 202 and the
send lag (actual minus intended send time) has p99 <= 5 ms. The body is a real 224x224 JPEG
(the model's input size) in base64, the same for both.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from harness.services import IMAGES, free_port, start_module, wait_ready

HOLD_S = float(os.environ.get("BENCH_SECONDS", "5"))
RATES = (500, 1000, 2000, 3000, 4000, 5000, 6000, 8000)
LAG_P99_LIMIT_MS = 5.0


def small_photo(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "chelsea-224.jpg"
    with Image.open(IMAGES / "chelsea.png") as image:
        out = io.BytesIO()
        image.convert("RGB").resize((224, 224)).save(out, "JPEG", quality=90)
    path.write_bytes(out.getvalue())
    return path


def hey_max_rate(url: str, body_file: Path) -> float | None:
    if not shutil.which("hey"):
        return None
    result = subprocess.run(
        ["hey", "-z", f"{HOLD_S:g}s", "-c", "50", "-m", "POST", "-T", "application/json",
         "-D", str(body_file), f"{url}/enqueue"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    return float(match.group(1)) if match else None


def run_loadtest(url: str, workload: Path, images: Path, runs: Path) -> dict[str, Any]:
    """``mlscale loadtest`` as its own process, no drain: its run.json."""
    command = [
        sys.executable, "-m", "mlscale", "loadtest", str(workload), "--dispatcher", url,
        "--images", str(images), "--listen", f"127.0.0.1:{free_port()}", "--runs-dir", str(runs),
        "--drain-timeout", "0", "--no-live",
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, check=True)
    (run_dir,) = runs.iterdir()
    meta: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return meta


def loadtest_at(url: str, rate: int, images: Path, work: Path) -> dict[str, float]:
    workload = work / f"rate{rate}.txt"
    workload.write_text(",".join([str(rate)] * int(HOLD_S)))
    meta = run_loadtest(url, workload, images, work / f"runs{rate}")
    return {
        "sent": meta["send"]["sent"],
        "accepted": meta["requests"] - meta["counts"]["rejected"] - meta["counts"]["enqueue_error"],
        "expected": rate * int(HOLD_S),
        "lag_p50_ms": meta["send"]["lag_p50_ms"],
        "lag_p99_ms": meta["send"]["lag_p99_ms"],
        "late": meta["send"]["late"],
    }


TRACE_RATE = 2000
"""Mean requests/s of the replayed trace: Poisson arrivals with bursts, as a trace has them."""


def trace_replay(url: str, images: Path, work: Path) -> dict[str, float]:
    """A timestamp trace (the CSV format ``loadtest`` replays at its own times) of ``HOLD_S`` seconds,
    exponential gaps with one burst a second of 50 simultaneous requests."""
    import random

    rng, t, times = random.Random(5), 0.0, []
    while t < HOLD_S:
        t += rng.expovariate(TRACE_RATE)
        times.append(t)
    times += [second + 0.5 for second in range(int(HOLD_S)) for _ in range(50)]
    trace = work / "trace.csv"
    trace.write_text("timestamp\n" + "".join(f"{at:.6f}\n" for at in sorted(times)))
    meta = run_loadtest(url, trace, images, work / "runs-trace")
    return {"expected": len(times), "sent": meta["send"]["sent"], "lag_p99_ms": meta["send"]["lag_p99_ms"],
            "late": meta["send"]["late"]}  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = small_photo(work / "images")
        body_file = work / "body.json"
        body_file.write_text(json.dumps({"image": base64.b64encode(photo.read_bytes()).decode()}))
        server = start_module("bench.noop_upstream", [], work / "noop.log", free_port())
        try:
            wait_ready(server, 30)
            print(
                f"body: one {photo.stat().st_size / 1024:.0f} KiB JPEG, "
                f"{body_file.stat().st_size} bytes as JSON"
            )
            baseline = hey_max_rate(server.url, body_file)
            if baseline is None:
                print("baseline: hey is not installed (apt install hey); no baseline in this run")
            else:
                print(f"baseline: hey, 50 connections, unthrottled, {HOLD_S:g}s: {baseline:,.0f} requests/s")
            best = 0
            for rate in RATES:
                result = loadtest_at(server.url, rate, photo.parent, work)
                holds = (
                    result["sent"] == result["expected"] == result["accepted"]
                    and result["lag_p99_ms"] <= LAG_P99_LIMIT_MS
                )
                ratio = f", {rate / baseline:.2f} of hey's max" if baseline else ""
                print(
                    f"mlscale loadtest at {rate}/s for {HOLD_S:g}s: "
                    f"sent {result['sent']}/{result['expected']}, "
                    f"accepted {result['accepted']}, send lag p50 {result['lag_p50_ms']:.2f} ms "
                    f"p99 {result['lag_p99_ms']:.2f} ms, late(>10 ms) {result['late']}{ratio} "
                    f"-> {'holds' if holds else 'does not hold'}",
                    flush=True,
                )
                if not holds:
                    break
                best = rate
            replay = trace_replay(server.url, photo.parent, work)
            replay_holds = replay["sent"] == replay["expected"] and replay["lag_p99_ms"] <= LAG_P99_LIMIT_MS
            print(
                f"trace replay (timestamp CSV, {TRACE_RATE}/s Poisson + 50-request bursts, {HOLD_S:g}s): "
                f"sent {replay['sent']}/{replay['expected']}, send lag p99 {replay['lag_p99_ms']:.2f} ms, "
                f"late(>10 ms) {replay['late']} -> {'holds' if replay_holds else 'does not hold'}",
                flush=True,
            )
            print(
                "highest open-loop rate held by one mlscale loadtest process "
                f"(lag p99 <= {LAG_P99_LIMIT_MS:g} ms): "
                f"{best}/s (goal >= 2000/s)"
                + (f"; hey's unthrottled max against the same server: {baseline:,.0f}/s" if baseline else "")
            )
        finally:
            server.stop()
