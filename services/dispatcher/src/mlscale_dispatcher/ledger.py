"""Every accepted request's one outcome: kept for ``GET /results`` and posted to the result URL.

Records get a sequence number (the ``/results`` cursor) when they are written. The reporter
posts them in batches (up to ``report_batch`` records or every ``report_interval`` seconds) and
retries a failed post with exponential backoff, so nothing is lost while the receiver is slow
or down, as long as the bounded buffer holds; what overflows it is counted and still served by
``/results``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("mlscale_dispatcher.ledger")

OUTCOMES = ("ok", "error", "timeout", "dropped")

Record = dict[str, Any]
Poster = Callable[[list[Record]], Awaitable[None]]


@dataclass
class ReportCounters:
    posted: int = 0
    failed_posts: int = 0
    overflowed: int = 0


class Ledger:
    def __init__(self, keep: int, buffer: int) -> None:
        self._kept: deque[Record] = deque(maxlen=keep)
        self._unsent: deque[Record] = deque()
        self._buffer = buffer
        self._seq = 0
        self._wake = asyncio.Event()
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.report = ReportCounters()

    def write(self, record: Record, report: bool) -> None:
        self._seq += 1
        record["seq"] = self._seq
        self.counts[record["outcome"]] += 1
        self._kept.append(record)
        if report:
            if len(self._unsent) >= self._buffer:
                self._unsent.popleft()
                self.report.overflowed += 1
            self._unsent.append(record)
            self._wake.set()

    @property
    def unsent(self) -> int:
        return len(self._unsent)

    def since(self, cursor: int, limit: int) -> tuple[list[Record], int, bool]:
        """Records after ``cursor`` (at most ``limit``), the next cursor, and whether some were evicted."""
        oldest = self._kept[0]["seq"] if self._kept else self._seq + 1
        truncated = cursor + 1 < oldest and cursor < self._seq
        start = max(0, cursor + 1 - oldest)
        records = [self._kept[i] for i in range(start, min(len(self._kept), start + limit))]
        return records, records[-1]["seq"] if records else max(cursor, 0), truncated

    async def report_forever(self, post: Poster, batch: int, interval: float) -> None:
        """Post unsent records until cancelled; a failed post is retried with backoff (max 5 s)."""
        backoff = interval
        while True:
            if not self._unsent:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(interval if len(self._unsent) < batch else 0)
            chunk = [self._unsent[i] for i in range(min(batch, len(self._unsent)))]
            try:
                await post(chunk)
            except Exception as exc:  # any failure of the receiver: keep the records, try later
                self.report.failed_posts += 1
                log.warning(
                    "result post failed; will retry", extra={"error": repr(exc), "backoff_s": backoff}
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = interval
            for _ in chunk:  # the buffer may have overflowed meanwhile: drop only what was posted
                if self._unsent and self._unsent[0] is _:
                    self._unsent.popleft()
            self.report.posted += len(chunk)

    async def flush(self, post: Poster, batch: int, deadline: float) -> bool:
        """At shutdown: post everything left, retrying until ``deadline`` (loop time). True if all went."""
        loop = asyncio.get_running_loop()
        while self._unsent and loop.time() < deadline:
            chunk = [self._unsent[i] for i in range(min(batch, len(self._unsent)))]
            try:
                await asyncio.wait_for(post(chunk), max(0.05, deadline - loop.time()))
            except Exception:
                self.report.failed_posts += 1
                await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))
                continue
            for _ in chunk:
                self._unsent.popleft()
            self.report.posted += len(chunk)
        return not self._unsent
