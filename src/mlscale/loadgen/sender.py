"""Open-loop sending: each request leaves at its intended time, whatever earlier ones are doing.

Lateness is measured, never hidden: a request sent more than ``late_ms`` after its intended
time is counted as late (k6 calls these dropped iterations; here they are still sent), and
latency is also measured from the intended time, so a stalled generator cannot shrink it
(coordinated omission).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlscale.images import ImagePool
from mlscale.loadgen.http import BadResponse, HttpPool

YIELD_EVERY = 64
"""Sends between two yields to the event loop while behind schedule."""


@dataclass
class SentRequest:
    id: str
    image: str
    intended_at: float
    """Epoch seconds the schedule asked for."""
    sent_at: float = 0.0
    enqueue_status: int | None = None
    """HTTP status of /enqueue; None when the request never got an answer."""
    enqueue_error: str | None = None
    enqueue_ms: float | None = None


@dataclass
class SendStats:
    sent: int = 0
    late: int = 0
    lags_ms: list[float] = field(default_factory=list)


async def send_open_loop(
    url: str,
    offsets: list[float],
    images: ImagePool,
    run_id: str,
    *,
    start_at: float,
    late_ms: float = 10.0,
    request_timeout: float = 10.0,
    on_sent: Callable[[SentRequest], None] | None = None,
    connections: int = 512,
) -> tuple[list[SentRequest], SendStats]:
    """Send one /enqueue per offset (seconds after ``start_at``, an epoch time)."""
    requests: list[SentRequest] = []
    stats = SendStats()
    pool = HttpPool(url, limit=connections)
    # The loop clock (monotonic) drives the schedule; epoch times are derived once from it.
    loop = asyncio.get_running_loop()
    mono_start = loop.time() + (start_at - time.time())
    try:

        async def one(request: SentRequest, body: bytes) -> None:
            started = loop.time()
            try:
                status, _ = await pool.post_json("/enqueue", body, request_timeout)
                request.enqueue_status = status
                if status != 202:
                    request.enqueue_error = f"http_{status}"
            except TimeoutError:
                request.enqueue_error = "timeout"
            except (OSError, BadResponse) as exc:
                request.enqueue_error = type(exc).__name__
            request.enqueue_ms = (loop.time() - started) * 1000

        tasks: list[asyncio.Task[None]] = []
        # Full collections over the run's growing set of live requests stalled the schedule by
        # 20-100 ms at 2,000-3,000/s (bench/loadgen.py); the send phase makes little cyclic
        # garbage (peak RSS was lower with collection off), so it runs without the collector.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for index, offset in enumerate(offsets):
                due = mono_start + offset
                delay = due - loop.time()
                if delay > 0:
                    # uvloop rounds timers to the nearest millisecond: +0.5 ms makes waking early
                    # rare, and the yield loop below catches the rest without burning a core.
                    await asyncio.sleep(delay + 0.0005)
                elif index % YIELD_EVERY == 0:
                    # Behind schedule the loop never awaited: --serve's API (same event loop)
                    # stopped answering during a run of 1e6/s (found by the fuzzer).
                    await asyncio.sleep(0)
                while loop.time() < due:  # noqa: ASYNC110 - a sub-millisecond yield, not a wait for an event
                    await asyncio.sleep(0)
                now = loop.time()
                name, encoded = images.pick(index)
                request = SentRequest(f"{run_id}-{index}", name, start_at + offset)
                request.sent_at = start_at + (now - mono_start)
                lag = (now - due) * 1000
                stats.lags_ms.append(lag)
                if lag > late_ms:
                    stats.late += 1
                body = b'{"image":"%s","id":"%s","sent_at":%r}' % (
                    encoded.encode("ascii"),
                    request.id.encode(),
                    request.sent_at,
                )
                tasks.append(asyncio.create_task(one(request, body)))
                requests.append(request)
                stats.sent += 1
                if on_sent is not None:
                    on_sent(request)
            # The last enqueues run before the collector is back: its first pass after minutes
            # off held the final request's task for 0.5-0.7 s (in every demo, the run's max latency).
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            if collecting:
                gc.enable()
    finally:
        pool.close()
    return requests, stats


def as_row(request: SentRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "image": request.image,
        "intended_at": request.intended_at,
        "sent_at": request.sent_at,
        "send_lag_ms": (request.sent_at - request.intended_at) * 1000,
        "enqueue_status": request.enqueue_status,
        "enqueue_error": request.enqueue_error,
        "enqueue_ms": request.enqueue_ms,
    }
