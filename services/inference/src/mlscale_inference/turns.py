"""The model's turns on the event loop: one piece of work at a time, in arrival order.

Running the model on the loop saves the thread hand-off each request would otherwise cost, but a
loop that ran every admitted request back to back would make a health check wait for all of them.
Here one worker takes the queued pieces one by one and yields to the loop between two, so the
loop reads its sockets between inferences: a health check or a scrape waits for about two of them
(the one running and the next), however many requests are queued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ModelTurns:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[Callable[[], Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve(), name="model-turns")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` on the loop in its turn; its result, or what it raised."""
        if self._worker is None:
            raise RuntimeError("the model's turns have not started (the app's lifespan starts them)")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))
        return await future

    async def _serve(self) -> None:
        while True:
            work, future = await self._queue.get()
            if not future.done():  # its request was cancelled while it waited: skip the work
                try:
                    future.set_result(work())
                except Exception as exc:  # the request's handler re-raises it as its own
                    future.set_exception(exc)
            await asyncio.sleep(0)  # the loop polls its sockets before the next turn
