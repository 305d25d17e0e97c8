"""Once a second during a run: the dispatcher's queue depth and, when a system is up, what its
backend says (replicas, desired, CPU per replica), keyed by the run's second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

import aiohttp


class SystemProbe(Protocol):
    """What the load test reads from the system under test (``mlscale.backends.probe`` makes one)."""

    def sample(self) -> dict[str, Any]:
        """Replicas, desired replicas, CPU and per-replica samples, now (blocking)."""
        ...

    def decisions(self) -> list[dict[str, Any]]:
        """The autoscaler's decisions so far, for run.json (blocking)."""
        ...


class Sampler:
    def __init__(self, dispatcher_url: str, start_at: float, probe: SystemProbe | None) -> None:
        self.dispatcher_url = dispatcher_url
        self.start_at = start_at
        self.probe = probe
        self.samples: dict[int, dict[str, Any]] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Sampler:
        self._task = asyncio.create_task(self._poll())
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _poll(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while not self._stop.is_set():
                second = int(time.time() - self.start_at)
                await self._sample(session, second)
                # Tick on the run's second boundaries (plus a margin), not 1 s after the work:
                # a fixed pause after a slow poll drifted and left seconds without a sample.
                next_tick = self.start_at + max(second + 1, int(time.time() - self.start_at) + 1) + 0.2
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(0.05, next_tick - time.time()))

    async def _sample(self, session: aiohttp.ClientSession, second: int) -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            async with session.get(f"{self.dispatcher_url}/stats") as response:
                stats = await response.json()
            self.samples.setdefault(second, {})["queue_depth"] = stats["queue_depth"]
        if self.probe is not None:
            with contextlib.suppress(Exception):  # a backend hiccup must not end the run
                self.samples.setdefault(second, {}).update(await asyncio.to_thread(self.probe.sample))

    async def decisions_since(self, since: float) -> list[dict[str, Any]] | None:
        if self.probe is None:
            return None
        with contextlib.suppress(Exception):
            decisions = await asyncio.to_thread(self.probe.decisions)
            return [d for d in decisions if float(d["at"]) >= since]
        return None

    def replica_rows(self) -> list[dict[str, Any]]:
        return [
            {"second": second, **replica}
            for second, sample in sorted(self.samples.items())
            for replica in sample.get("replica_samples", [])
        ]
