"""The drain: ``concurrency`` forwarders move jobs from the queue to the inference tier.

Each job ends in exactly one outcome record: ``ok``; ``error`` (an upstream status other than
200, or every attempt refused); ``timeout``; or ``dropped`` (still queued or in flight when
the grace period after SIGTERM ran out). A 503 or a connection error is retried on another
upstream with backoff, up to ``max_attempts``. While no upstream is configured (the last replica
died or is not ready yet) a job waits for one, up to ``request_timeout``, without using attempts.

The number of workers follows the upstreams (``per_upstream`` each) unless ``concurrency`` fixes
it: three fixed workers can keep at most three of five replicas busy. A worker survives any
exception from a job (the job ends in ``error``, the crash is logged and counted): a header
value that aiohttp refused once killed workers one by one, and the queue stopped draining
without a word (issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from mlscale_dispatcher.config import Settings
from mlscale_dispatcher.ledger import Ledger, Record
from mlscale_dispatcher.metrics import DispatcherMetrics
from mlscale_dispatcher.upstreams import Upstream, UpstreamPool

log = logging.getLogger("mlscale_dispatcher.forwarder")


@dataclass
class Job:
    id: str
    image: bytes
    """The image, decoded from the base64 /enqueue took (held so: a quarter smaller, and no
    replica decodes base64)."""
    sent_at: float | None
    enqueued_at: float = field(default_factory=time.time)
    enqueued_mono: float = field(default_factory=time.monotonic)
    finished: bool = False  # set by the one record this job gets


class RateLimiter:
    """Token bucket with a burst of one: at most ``rate`` starts per second, evenly spaced."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)


class Attempt:
    """What one call to an upstream came to."""

    def __init__(self, kind: str, status: int | None = None, body: Any = None, error: str | None = None):
        self.kind = kind  # "ok" | "retry" | "error" | "timeout"
        self.status = status
        self.body = body
        self.error = error


class BusyClock:
    """Request-seconds in flight so far (the integral of the in-flight count over time): its rate
    over a window is the mean concurrency, which an instant reading of the gauge is not at low load."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self.since = time.monotonic()

    def change(self, by: int) -> None:
        now = time.monotonic()
        self.total += self.count * (now - self.since)
        self.count, self.since = self.count + by, now

    def seconds(self) -> float:
        return self.total + self.count * (time.monotonic() - self.since)


class Forwarder:
    def __init__(
        self,
        settings: Settings,
        queue: asyncio.Queue[Job],
        pool: UpstreamPool,
        ledger: Ledger,
        metrics: DispatcherMetrics,
        session: aiohttp.ClientSession,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.pool = pool
        self.ledger = ledger
        self.metrics = metrics
        self.session = session
        self.limiter = RateLimiter(settings.drain_rate) if settings.drain_rate else None
        self.in_flight: dict[int, Job] = {}
        self.busy = BusyClock()
        self.workers: dict[int, asyncio.Task[None]] = {}
        self.report = settings.result_url is not None

    def wanted_workers(self) -> int:
        """Workers for the current upstreams: fixed, or ``per_upstream`` per replica (at least one's)."""
        if self.settings.concurrency is not None:
            return self.settings.concurrency
        return self.settings.per_upstream * max(1, len(self.pool))

    def resize(self) -> None:
        """Start workers up to ``wanted_workers``; extra ones leave after their current job."""
        wanted = self.wanted_workers()
        for index in range(wanted):
            task = self.workers.get(index)
            if task is None or task.done():
                self.workers[index] = asyncio.create_task(self.run_worker(index), name=f"forwarder-{index}")
        self.metrics.workers.set(wanted)

    async def run_worker(self, index: int) -> None:
        while index < self.wanted_workers():
            job = await self.queue.get()
            self.busy.change(+1)
            self.in_flight[id(job)] = job
            self.metrics.in_flight.set(len(self.in_flight))
            try:
                if self.limiter is not None:
                    await self.limiter.acquire()
                await self.forward(job)
            except Exception as exc:  # a bug or a library's surprise: the job ends, the worker lives
                self.metrics.worker_crashes.inc()
                log.exception("forwarding failed", extra={"request_id": job.id})
                self.record(job, "error", error=f"internal_{type(exc).__name__}")
            finally:
                self.busy.change(-1)
                self.in_flight.pop(id(job), None)
                self.metrics.in_flight.set(len(self.in_flight))
                self.queue.task_done()
                self.metrics.queue_depth.set(self.queue.qsize())
        self.workers.pop(index, None)

    async def watch_workers(self, period: float = 1.0) -> None:
        """Restart any worker that ended without being asked (counted and logged)."""
        while True:
            await asyncio.sleep(period)
            for index, task in list(self.workers.items()):
                if task.done() and not task.cancelled() and index < self.wanted_workers():
                    self.metrics.worker_crashes.inc()
                    log.error(
                        "forwarder died; restarting it",
                        extra={"worker": index, "error": repr(task.exception())},
                    )
                    self.workers.pop(index)
            self.resize()

    async def stop_workers(self) -> None:
        tasks = list(self.workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.workers.clear()

    async def forward(self, job: Job) -> None:
        dequeued = time.monotonic()
        queue_ms = (dequeued - job.enqueued_mono) * 1000
        self.metrics.queue_depth.set(self.queue.qsize())
        tried: set[str] = set()
        attempts = 0
        backoff = 0.05
        outcome: Attempt = Attempt("error", error="no_upstream")
        replica: str | None = None
        infer_ms: float | None = None
        deadline = dequeued + self.settings.request_timeout
        while attempts < self.settings.max_attempts and time.monotonic() < deadline:
            upstream = self.pool.pick(time.monotonic(), frozenset(tried))
            if upstream is None and tried:  # every upstream tried once: start over after backoff
                tried.clear()
                upstream = self.pool.pick(time.monotonic())
            if upstream is None:  # no ready upstream (start-up, the last one died): wait, keep the attempts
                changed = self.pool.changed
                outcome = Attempt("timeout", error="no_upstream")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), max(0.0, deadline - time.monotonic()))
                continue
            attempts += 1
            tried.add(upstream.url)
            started = time.monotonic()
            outcome = await self.call(upstream, job, deadline - started)
            infer_ms = (time.monotonic() - started) * 1000
            if outcome.kind != "retry":
                break
            self.pool.failed(upstream, time.monotonic(), unreachable=outcome.status is None)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
        if outcome.kind == "ok" and isinstance(outcome.body, dict):
            replica = outcome.body.get("replica")
        kind = "error" if outcome.kind == "retry" else outcome.kind
        self.record(
            job,
            kind,
            queue_ms=queue_ms,
            infer_ms=infer_ms,
            replica=replica,
            attempts=attempts,
            status=outcome.status,
            error=outcome.error,
        )

    async def call(self, upstream: Upstream, job: Job, time_left: float) -> Attempt:
        upstream.outstanding += 1
        try:
            # The image's bytes as they are: the replica (the tier that scales) decodes no base64.
            async with self.session.post(
                upstream.url + "/infer",
                data=job.image,
                params={"top_k": self.settings.top_k},
                headers={"content-type": "application/octet-stream", "x-request-id": job.id},
                timeout=aiohttp.ClientTimeout(total=max(0.001, time_left)),
            ) as response:
                payload = await response.read()
                status = response.status
        except TimeoutError:
            return Attempt("timeout", error="TimeoutError")
        except aiohttp.ClientError as exc:
            return Attempt("retry", error=type(exc).__name__)
        finally:
            upstream.outstanding -= 1
        if status == 200:
            upstream.served += 1
            try:
                return Attempt("ok", status, orjson.loads(payload))
            except orjson.JSONDecodeError:
                return Attempt("error", status, error="invalid_upstream_json")
        if status == 503:
            return Attempt("retry", status, error="upstream_503")
        try:
            detail = orjson.loads(payload).get("error")
        except (orjson.JSONDecodeError, AttributeError):
            detail = None
        return Attempt("error", status, error=detail or f"upstream_{status}")

    def record(
        self,
        job: Job,
        outcome: str,
        *,
        queue_ms: float | None = None,
        infer_ms: float | None = None,
        replica: str | None = None,
        attempts: int = 0,
        status: int | None = None,
        error: str | None = None,
    ) -> Record | None:
        if job.finished:  # exactly one outcome per job, even if a shutdown races a late answer
            return None
        job.finished = True
        now = time.time()
        total_ms = (time.monotonic() - job.enqueued_mono) * 1000
        record: Record = {
            "id": job.id,
            "outcome": outcome,
            "status": status,
            "error": None if outcome == "ok" else error,
            "replica": replica,
            "attempts": attempts,
            "queue_ms": _round(queue_ms),
            "infer_ms": _round(infer_ms),
            "total_ms": _round(total_ms),
            "sent_at": job.sent_at,
            "enqueued_at": job.enqueued_at,
            "finished_at": now,
        }
        self.ledger.write(record, self.report)
        self.metrics.observe(record)
        return record

    def drop_everything_left(self) -> int:
        """At the end of the grace period: one ``dropped`` record per queued or in-flight job."""
        dropped = 0
        for job in list(self.in_flight.values()):
            self.record(job, "dropped", error="shutdown")
            dropped += 1
        self.in_flight.clear()
        while not self.queue.empty():
            job = self.queue.get_nowait()
            self.record(job, "dropped", error="shutdown")
            dropped += 1
        return dropped


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
