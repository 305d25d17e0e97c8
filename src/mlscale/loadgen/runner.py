"""One load test, in phases: listen for outcomes, send the schedule open-loop, drain, reconcile,
write the run directory. Progress goes to a callback (the CLI's live view, ``--serve``'s status);
nothing here draws.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import platform
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn

from mlscale import __version__
from mlscale.errors import InputError, LoadTestInterrupted, MlscaleError
from mlscale.images import ImagePool
from mlscale.loadgen.merge import final_rows, timeline_rows
from mlscale.loadgen.options import LoadTestOptions
from mlscale.loadgen.progress import LiveSnapshot, Tally, late_count
from mlscale.loadgen.receiver import OutcomeStore, receiver_app
from mlscale.loadgen.sampler import Sampler, SystemProbe
from mlscale.loadgen.sender import SendStats, SentRequest, send_open_loop
from mlscale.results import FINAL_OUTCOMES, new_run_dir, write_run
from mlscale.web import EmbeddedServer
from mlscale.workload import Workload
from mlscale_http import guarded_protocol

Progress = Callable[[LiveSnapshot], None]


@dataclass
class LoadTestResult:
    run_dir: Path
    counts: dict[str, int]
    sent: int
    late: int
    lag_p99_ms: float
    duplicates: int


async def fetch_missing(url: str, store: OutcomeStore, token: str | None) -> bool:
    """Catch up from the dispatcher's /results (it wants the result token, when it has one). False
    when the dispatcher did not answer."""
    cursor = 0
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5), headers=headers) as session:
            while True:
                async with session.get(f"{url}/results", params={"after": cursor, "limit": 1000}) as response:
                    page = await response.json()
                if not page["records"]:
                    return True
                store.add(page["records"])
                cursor = page["next"]
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
        return False


async def dispatcher_idle(url: str) -> bool:
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


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for the outcome receiver, or an InputError naming --listen."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise InputError(f"--listen {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(
            f"--listen {host}:{port}: cannot listen there for outcomes ({exc.strerror or exc}); "
            "give another --listen HOST:PORT (and the dispatcher's --result-url to match)"
        ) from exc
    return sock


class LoadTest:
    """One run. With ``store`` given, outcomes arrive through someone else's ``/storeLatency``
    (``--serve``); otherwise the run serves its own on ``options.listen_host:listen_port``."""

    def __init__(
        self,
        workload: Workload,
        offsets: list[float],
        images: ImagePool,
        options: LoadTestOptions,
        *,
        probe: SystemProbe | None = None,
        progress: Progress | None = None,
        store: OutcomeStore | None = None,
        plan: list[float] | None = None,
    ) -> None:
        self.workload, self.offsets, self.images, self.options = workload, offsets, images, options
        self.planned = plan
        """Requests/s of each second (``ScheduleOptions.plan``), announced to the system at the start."""
        self.plan_announced = False
        self.progress = progress
        self.own_store = store is None
        self.store = store or OutcomeStore()
        # Unguessable (96 bits): whoever enqueued a run's next id first would decide its outcome.
        self.run_id = secrets.token_hex(12)
        self.store.expected = {f"{self.run_id}-{i}" for i in range(len(offsets))}
        self.start_at = time.time() + 0.5  # a moment to set up, so the first sends are on time
        self.sent: list[SentRequest] = []
        """Filled as requests leave."""
        self.sampler = Sampler(options.dispatcher_url, self.start_at, probe)
        self.tally = Tally(self.start_at, options.late_ms)

    def snapshot(self) -> LiveSnapshot:
        return self.tally.snapshot(
            time.time(), self.offsets, self.sent, self.store.by_id.values(), self.sampler.samples,
            self.options.meta.get("system"),
        )  # fmt: skip

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.snapshot())

    async def _announce(self) -> bool:
        """Tell the system the plan; False when there is no system or it did not take it."""
        announce = getattr(self.sampler.probe, "announce", None)
        if announce is None or self.planned is None:
            return False
        try:
            await asyncio.to_thread(announce, self.planned, self.start_at)
        except MlscaleError:
            return False
        return True

    async def run(self) -> LoadTestResult:
        server = await self._listen() if self.own_store else None  # first: a taken port leaves no run
        run_dir = new_run_dir(self.options.runs_dir, self.workload.name, self.start_at)
        self.plan_announced = await self._announce()
        self.sampler.start()
        interrupted = False
        try:
            stats = await self._send()
            await self._drain()
            await self._hold_to_the_end()
            self._report()  # the last frame shows the run complete, not the second before its end
        except asyncio.CancelledError:
            # Ctrl-C: keep what was sent and what came back, written as a partial run.
            interrupted = True
            stats = await self._salvage()
        finally:
            await self.sampler.stop()
            if server is not None:
                server.should_exit = True
                await server.task  # type: ignore[attr-defined]
        counts, lag_p99 = await self._write(run_dir, stats, interrupted)
        if interrupted:
            raise LoadTestInterrupted(run_dir)
        return LoadTestResult(run_dir, counts, stats.sent, stats.late, lag_p99, self.store.duplicates)

    async def _listen(self) -> uvicorn.Server:
        options = self.options
        app = receiver_app(self.store, options.result_token)
        config = uvicorn.Config(
            app,
            host=options.listen_host,
            port=options.listen_port,
            log_level="warning",
            lifespan="off",
            http=guarded_protocol(),
        )
        server = EmbeddedServer(config)
        # Bound here, not by Uvicorn, which logs a taken port and calls sys.exit(1).
        listener = listening_socket(options.listen_host, options.listen_port)
        task = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started:
            if task.done():
                task.result()
                raise MlscaleError(
                    f"could not listen on {options.listen_host}:{options.listen_port} for /storeLatency"
                )
            await asyncio.sleep(0.01)
        server.task = task  # type: ignore[attr-defined]
        return server

    async def _send(self) -> SendStats:
        """Phase 1: the schedule, open-loop; progress once a second."""
        sender = asyncio.create_task(
            send_open_loop(
                self.options.dispatcher_url,
                self.offsets,
                self.images,
                self.run_id,
                start_at=self.start_at,
                late_ms=self.options.late_ms,
                on_sent=self.sent.append,
            )
        )
        try:
            while not sender.done():
                self._report()
                await asyncio.wait([sender], timeout=1.0)
        except asyncio.CancelledError:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            raise
        self.sent, stats = sender.result()
        return stats

    async def _drain(self) -> None:
        """Phase 2: wait for every accepted request's outcome (bounded), then ask for the missing."""
        sent, store, url = self.sent, self.store, self.options.dispatcher_url
        accepted = {r.id for r in sent if r.enqueue_status == 202}
        # An enqueue that timed out may still have been queued (an overloaded dispatcher answered
        # 202 after the client gave up): wait for those too, until the dispatcher is idle.
        uncertain = {r.id for r in sent if _uncertain(r)}
        deadline = time.monotonic() + self.options.drain_timeout
        while time.monotonic() < deadline:
            if accepted <= store.by_id.keys() and (
                uncertain <= store.by_id.keys() or await dispatcher_idle(url)
            ):
                break
            self._report()
            await asyncio.sleep(0.2)
        if not (accepted | uncertain) <= store.by_id.keys():
            await fetch_missing(url, store, self.options.result_token)

    async def _hold_to_the_end(self) -> None:
        """A workload's last seconds at rate 0 are part of it (idle-burst ends idle, where scaling
        to zero shows): keep sampling the system until the planned end."""
        if not self.planned:
            return
        end = self.start_at + len(self.planned)
        while time.time() < end:
            self._report()
            await asyncio.sleep(min(0.5, max(0.0, end - time.time())))

    async def _salvage(self) -> SendStats:
        """After Ctrl-C: what left is recorded as sent; what never got an answer, as interrupted."""
        for request in self.sent:
            if request.enqueue_status is None and request.enqueue_error is None:
                request.enqueue_error = "interrupted"
        stats = SendStats(sent=len(self.sent), late=late_count(self.sent, self.options.late_ms))
        stats.lags_ms = [(r.sent_at - r.intended_at) * 1000 for r in self.sent]
        await fetch_missing(self.options.dispatcher_url, self.store, self.options.result_token)
        return stats

    async def _write(self, run_dir: Path, stats: SendStats, partial: bool) -> tuple[dict[str, int], float]:
        """Phases 3 and 4: one row per request with exactly one outcome, the timeline, run.json."""
        rows = final_rows(self.sent, self.store.by_id)
        timeline = timeline_rows(rows, self.start_at, self.sampler.samples)
        counts = {outcome: 0 for outcome in FINAL_OUTCOMES}
        for row in rows:
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        lags = sorted(stats.lags_ms)
        lag_p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else math.nan
        meta = self._meta(len(rows), counts, stats, lags, lag_p99, partial)
        decisions = await self.sampler.decisions_since(self.start_at - 1)
        if decisions is not None:
            meta["autoscaler"] = decisions
        write_run(run_dir, rows, timeline, meta, self.sampler.replica_rows())
        return counts, lag_p99

    def _meta(
        self,
        recorded: int,
        counts: dict[str, int],
        stats: SendStats,
        lags: list[float],
        lag_p99: float,
        partial: bool,
    ) -> dict[str, Any]:
        workload = self.workload
        return {
            **self.options.meta,
            "workload": {
                "name": workload.name,
                "description": workload.description,
                "rates": list(workload.rates),
                "step_seconds": workload.step_seconds,
                "unit": workload.unit,
                "source": workload.source,
            },
            "dispatcher_url": self.options.dispatcher_url,
            "plan_announced": self.plan_announced,
            "start_at": self.start_at,
            "end_at": time.time(),
            "requests": recorded,
            "planned_requests": len(self.offsets),
            "counts": counts,
            "send": {
                "sent": stats.sent,
                "late": stats.late,
                "late_threshold_ms": self.options.late_ms,
                "lag_p50_ms": lags[len(lags) // 2] if lags else None,
                # NaN is not JSON: a run of 0 requests broke its report
                "lag_p99_ms": lag_p99 if lags else None,
            },
            "duplicate_outcomes": self.store.duplicates,
            "partial": partial,
            "versions": {"mlscale": __version__, "python": platform.python_version()},
        }
