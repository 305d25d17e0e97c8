"""Dispatcher: the sustained rate one process handles, and the latency it adds, in one run.

A no-op upstream (its own process) stands in for inference; outcomes are posted to a receiver
in this process. Baseline: the no-op upstream called directly. Then the dispatcher at a light
load (latency) and at rising open-loop rates, each held for a few seconds (throughput): a
rate holds when every request is accepted and every outcome is reported ``ok`` in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from harness.services import ServiceProcess, free_port, start_module, wait_ready

HOLD_S = float(os.environ.get("BENCH_SECONDS", "5"))
RATES = (1000, 2000, 3000, 4000)
BODY_TEMPLATE = '{"image":"aGVsbG8gd29ybGQ=","id":"%s"}'


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sink:
    def __init__(self) -> None:
        self.records: list[dict[str, object]] = []
        self.arrived = asyncio.Event()
        self.expected = 0

    async def store(self, request: web.Request) -> web.Response:
        self.records.extend(orjson.loads(await request.read())["records"])
        if len(self.records) >= self.expected:
            self.arrived.set()
        return web.Response(body=b"{}")


async def direct_latency(url: str, count: int) -> list[float]:
    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            start = time.perf_counter()
            async with session.post(f"{url}/infer", data=b'{"image":"aGVsbG8="}') as response:
                await response.read()
            out.append((time.perf_counter() - start) * 1000)
    return out


async def offer(url: str, rate: float, seconds: float, prefix: str) -> tuple[int, int]:
    """Open loop: send at ``rate``/s for ``seconds``; returns (accepted, refused)."""
    total = int(rate * seconds)
    accepted = refused = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal accepted, refused
            body = (BODY_TEMPLATE % f"{prefix}-{i}").encode()
            async with session.post(
                f"{url}/enqueue", data=body, headers={"content-type": "application/json"}
            ) as response:
                await response.read()
                if response.status == 202:
                    accepted += 1
                else:
                    refused += 1

        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return accepted, refused


async def offer_with_hey(url: str, rate: int, seconds: float, body_file: Path) -> tuple[int, int]:
    """hey (Go) as the load: 50 workers each capped at rate/50 per second, exactly rate*seconds requests."""
    workers = 50
    command = [
        "hey",
        "-n",
        str(int(rate * seconds)),
        "-c",
        str(workers),
        "-q",
        str(rate / workers),
        "-m",
        "POST",
        "-T",
        "application/json",
        "-D",
        str(body_file),
        f"{url}/enqueue",
    ]
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", result.stdout))
    accepted = int(codes.get("202", 0))
    return accepted, sum(int(n) for n in codes.values()) - accepted


async def scenario(upstream: ServiceProcess, log_dir: Path) -> None:
    sink = Sink()
    app = web.Application()
    app.add_routes([web.post("/storeLatency", sink.store)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    receiver_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", receiver_port).start()

    direct = await direct_latency(upstream.url, 2000)
    print(
        f"baseline: no-op upstream called directly: p50 {percentile(direct, 0.5):.2f} ms, "
        f"p99 {percentile(direct, 0.99):.2f} ms"
    )

    dispatcher = start_module(
        "mlscale_dispatcher",
        [
            "--upstream",
            upstream.url,
            "--result-url",
            f"http://127.0.0.1:{receiver_port}/storeLatency",
            "--concurrency",
            "32",
            "--log-level",
            "warning",
        ],
        log_dir / "dispatcher.log",
        free_port(),
    )
    try:
        await asyncio.to_thread(wait_ready, dispatcher, 30.0)
        sink.expected = int(200 * HOLD_S)
        await offer(dispatcher.url, 200, HOLD_S, "light")
        await asyncio.wait_for(sink.arrived.wait(), 10)
        total = [float(r["total_ms"]) for r in sink.records]  # type: ignore[arg-type]
        infer = [float(r["infer_ms"]) for r in sink.records]  # type: ignore[arg-type]
        p50, p99 = percentile(total, 0.5), percentile(total, 0.99)
        print(
            f"dispatcher at 200/s: enqueue->outcome p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"(its upstream call p50 {statistics.median(infer):.2f} ms); "
            f"added vs direct: p50 {p50 - percentile(direct, 0.5):+.2f} ms, "
            f"p99 {p99 - percentile(direct, 0.99):+.2f} ms"
        )
        best = 0
        hey = shutil.which("hey")
        body_file = log_dir / "body.json"
        body_file.write_text('{"image":"aGVsbG8gd29ybGQ="}')
        print(f"load for the rate steps: {'hey' if hey else 'aiohttp in this process (install hey: apt)'}")
        for rate in RATES:
            sink.records.clear()
            sink.arrived.clear()
            sink.expected = int(rate * HOLD_S)
            started = time.perf_counter()
            if hey:
                accepted, refused = await offer_with_hey(dispatcher.url, rate, HOLD_S, body_file)
            else:
                accepted, refused = await offer(dispatcher.url, rate, HOLD_S, f"r{rate}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sink.arrived.wait(), 5)
            elapsed = time.perf_counter() - started
            ok = sum(1 for r in sink.records if r["outcome"] == "ok")
            holds = refused == 0 and ok == sink.expected and elapsed < HOLD_S + 1.0
            best = rate if holds else best
            print(
                f"offered {rate}/s for {HOLD_S:.0f}s: accepted {accepted}, refused {refused}, "
                f"ok {ok}/{sink.expected}, all reported after {elapsed:.2f}s, "
                f"achieved {ok / elapsed:.0f}/s -> {'holds' if holds else 'does not hold'}"
            )
            if not holds:
                break
        print(f"sustained rate of one dispatcher process: {best}/s (goal >= 2000/s)")
    finally:
        dispatcher.stop()
        await runner.cleanup()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        upstream = start_module("bench.noop_upstream", [], Path(tmp) / "noop.log", free_port())
        try:
            wait_ready(upstream, 30)
            asyncio.run(scenario(upstream, Path(tmp)))
        finally:
            upstream.stop()
