"""One load test: serve /storeLatency, send the schedule open-loop, drain, reconcile, write the run."""

from __future__ import annotations

import asyncio
import contextlib
import math
import platform
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from rich.console import Console
from rich.live import Live

from mlscale import __version__
from mlscale.errors import MlscaleError
from mlscale.images import ImagePool
from mlscale.live import LiveSnapshot, render
from mlscale.loadgen.merge import MAX_LATENCY_US, final_rows, new_histogram, percentile_ms, timeline_rows
from mlscale.loadgen.receiver import OutcomeStore, receiver_app
from mlscale.loadgen.sender import SendStats, SentRequest, send_open_loop
from mlscale.results import FINAL_OUTCOMES, new_run_dir, write_run
from mlscale.web import EmbeddedServer
from mlscale.workload import Workload


@dataclass
class LoadTestOptions:
    dispatcher_url: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 3003
    drain_timeout: float = 30.0
    late_ms: float = 10.0
    runs_dir: Path = Path("runs")
    live: bool = True
    meta: dict[str, Any] = field(default_factory=dict)
    """Workload options etc., copied into run.json."""
    backend_sample: Callable[[], dict[str, Any]] | None = None
    """Replicas, desired replicas and CPU from the backend, sampled each second (blocking)."""
    backend_decisions: Callable[[], list[dict[str, Any]]] | None = None
    """The autoscaler's decisions, fetched once at the end into run.json."""
    result_token: str | None = None
    """The bearer token the dispatcher's outcome posts must carry (None: posts are not checked)."""


class LoadTestInterrupted(MlscaleError):
    """Ctrl-C during a run: what was recorded is written, marked partial."""

    exit_code = 130

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; the partial run is in {run_dir} (mlscale report {run_dir})")
        self.run_dir = run_dir


@dataclass
class LoadTestResult:
    run_dir: Path
    counts: dict[str, int]
    sent: int
    late: int
    lag_p99_ms: float
    duplicates: int


async def _serve_receiver(store: OutcomeStore, host: str, port: int, token: str | None) -> uvicorn.Server:
    app = receiver_app(store, token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise MlscaleError(f"could not listen on {host}:{port} for /storeLatency; is the port taken?")
        await asyncio.sleep(0.01)
    server.task = task  # type: ignore[attr-defined]
    return server


async def _fetch_missing(url: str, store: OutcomeStore) -> bool:
    """Catch up from the dispatcher's /results. False when the dispatcher did not answer."""
    cursor = 0
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                async with session.get(f"{url}/results", params={"after": cursor, "limit": 1000}) as response:
                    page = await response.json()
                if not page["records"]:
                    return True
                store.add(page["records"])
                cursor = page["next"]
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
        return False


async def _dispatcher_idle(url: str) -> bool:
    """Nothing queued, in flight or waiting to be reported: no outcome is still to come."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session,
            session.get(f"{url}/stats") as response,
        ):
            stats = await response.json()
        return not (stats["queue_depth"] or stats["in_flight"] or stats["report"]["unsent"])
    except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError):
        return False


def _uncertain(request: SentRequest) -> bool:
    """The enqueue got no answer, yet the dispatcher may have accepted it (its outcome may come)."""
    return request.enqueue_status is None and request.enqueue_error is not None


async def run_load_test(
    workload: Workload,
    offsets: list[float],
    images: ImagePool,
    options: LoadTestOptions,
    console: Console | None = None,
    *,
    store: OutcomeStore | None = None,
    sent_live: list[SentRequest] | None = None,
) -> LoadTestResult:
    """Run one load test and write its run directory.

    With ``store`` given, outcomes arrive through someone else's ``/storeLatency`` (``--serve``
    mode); otherwise this serves its own on ``options.listen_host:listen_port`` for the run.
    ``sent_live`` is filled as requests leave, for progress reports.
    """
    console = console or Console()
    run_id = uuid.uuid4().hex[:8]
    server = None
    if store is None:
        store = OutcomeStore()
        server = await _serve_receiver(store, options.listen_host, options.listen_port, options.result_token)
    store.expected = {f"{run_id}-{i}" for i in range(len(offsets))}
    start_at = time.time() + 0.5  # a moment to set up, so the first sends are on time
    run_dir = new_run_dir(options.runs_dir, workload.name, start_at)
    duration = offsets[-1] if offsets else 0.0
    samples: dict[int, dict[str, Any]] = {}
    sent_live = [] if sent_live is None else sent_live
    stop_polling = asyncio.Event()

    async def poll_stats() -> None:
        timeout = aiohttp.ClientTimeout(total=1)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop_polling.is_set():
                second = int(time.time() - start_at)
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                    async with session.get(f"{options.dispatcher_url}/stats") as response:
                        stats = await response.json()
                    samples.setdefault(second, {})["queue_depth"] = stats["queue_depth"]
                if options.backend_sample is not None:
                    with contextlib.suppress(Exception):  # a backend hiccup must not end the run
                        samples.setdefault(second, {}).update(await asyncio.to_thread(options.backend_sample))
                # Tick on the run's second boundaries (plus a margin), not 1 s after the work:
                # a fixed pause after a slow poll drifted and left seconds without a sample.
                next_tick = start_at + max(second + 1, int(time.time() - start_at) + 1) + 0.2
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_polling.wait(), max(0.05, next_tick - time.time()))

    def snapshot(send: SendStats) -> LiveSnapshot:
        now = time.time()
        second = int(now - start_at) - 1
        window = new_histogram()
        last = {"intended": 0, "sent": 0, "accepted": 0, "completed": 0, "failed": 0}
        for request in sent_live:
            if int(request.sent_at - start_at) == second:
                last["sent"] += 1
                last["accepted"] += request.enqueue_status == 202
            if int(request.intended_at - start_at) == second:
                last["intended"] += 1
        for record in store.by_id.values():
            done = float(record["finished_at"])
            if now - done <= 10 and record["outcome"] == "ok" and record.get("sent_at"):
                window.record_value(min(MAX_LATENCY_US, max(1, int((done - float(record["sent_at"])) * 1e6))))
            if int(done - start_at) == second:
                last["completed" if record["outcome"] == "ok" else "failed"] += 1
        sample = samples.get(second, {}) or samples.get(second - 1, {})
        return LiveSnapshot(
            now - start_at,
            duration,
            send.sent,
            len(offsets),
            send.late,
            last,
            percentile_ms(window, 50),
            percentile_ms(window, 95),
            percentile_ms(window, 99),
            sample.get("queue_depth"),
            {
                k: sample[k]
                for k in ("replicas", "desired_replicas", "cpu_utilization", "restarts")
                if k in sample
            }
            or None,
        )

    poller = asyncio.create_task(poll_stats())
    send_stats = SendStats()
    live = Live(console=console, refresh_per_second=1, transient=False) if options.live else None
    interrupted = False
    sender = asyncio.create_task(
        send_open_loop(
            options.dispatcher_url,
            offsets,
            images,
            run_id,
            start_at=start_at,
            late_ms=options.late_ms,
            on_sent=sent_live.append,
        )
    )
    try:
        if live is not None:
            live.start()
        while not sender.done():
            if live is not None:
                live.update(render(snapshot(_stats_of(sent_live, start_at, options.late_ms))))
            await asyncio.wait([sender], timeout=1.0)
        sent, send_stats = sender.result()
        accepted = {r.id for r in sent if r.enqueue_status == 202}
        # An enqueue that timed out may still have been queued (an overloaded dispatcher answered
        # 202 after the client gave up): wait for those too, until the dispatcher is idle.
        uncertain = {r.id for r in sent if _uncertain(r)}
        deadline = time.monotonic() + options.drain_timeout
        while time.monotonic() < deadline:
            if accepted <= store.by_id.keys() and (
                uncertain <= store.by_id.keys() or await _dispatcher_idle(options.dispatcher_url)
            ):
                break
            if live is not None:
                live.update(render(snapshot(send_stats)))
            await asyncio.sleep(0.2)
        if not (accepted | uncertain) <= store.by_id.keys():
            await _fetch_missing(options.dispatcher_url, store)
    except asyncio.CancelledError:
        # Ctrl-C: keep what was sent and what came back, written as a partial run.
        interrupted = True
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        sent = list(sent_live)
        for request in sent:
            if request.enqueue_status is None and request.enqueue_error is None:
                request.enqueue_error = "interrupted"
        send_stats = _stats_of(sent, start_at, options.late_ms)
        send_stats.lags_ms = [(r.sent_at - r.intended_at) * 1000 for r in sent]
        await _fetch_missing(options.dispatcher_url, store)
    finally:
        if live is not None:
            live.stop()
        stop_polling.set()
        await poller
        if server is not None:
            server.should_exit = True
            await server.task  # type: ignore[attr-defined]
    rows = final_rows(sent, store.by_id)
    timeline = timeline_rows(rows, start_at, samples)
    counts = {outcome: 0 for outcome in FINAL_OUTCOMES}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    lags = sorted(send_stats.lags_ms)
    lag_p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else math.nan
    meta = {
        **options.meta,
        "workload": {
            "name": workload.name,
            "description": workload.description,
            "rates": list(workload.rates),
        },
        "dispatcher_url": options.dispatcher_url,
        "start_at": start_at,
        "end_at": time.time(),
        "requests": len(rows),
        "planned_requests": len(offsets),
        "counts": counts,
        "send": {
            "sent": send_stats.sent,
            "late": send_stats.late,
            "late_threshold_ms": options.late_ms,
            "lag_p50_ms": lags[len(lags) // 2] if lags else None,
            "lag_p99_ms": lag_p99 if lags else None,  # NaN is not JSON: a run of 0 requests broke its report
        },
        "duplicate_outcomes": store.duplicates,
        "partial": interrupted,
        "versions": {"mlscale": __version__, "python": platform.python_version()},
    }
    if options.backend_decisions is not None:
        with contextlib.suppress(Exception):
            decisions = await asyncio.to_thread(options.backend_decisions)
            meta["autoscaler"] = [d for d in decisions if float(d["at"]) >= start_at - 1]
    replica_rows = [
        {"second": second, **replica}
        for second, sample in sorted(samples.items())
        for replica in sample.get("replica_samples", [])
    ]
    write_run(run_dir, rows, timeline, meta, replica_rows)
    if interrupted:
        raise LoadTestInterrupted(run_dir)
    return LoadTestResult(run_dir, counts, send_stats.sent, send_stats.late, lag_p99, store.duplicates)


def _stats_of(sent: list[SentRequest], start_at: float, late_ms: float) -> SendStats:
    stats = SendStats(sent=len(sent))
    stats.late = sum(1 for r in sent if (r.sent_at - r.intended_at) * 1000 > late_ms)
    return stats
