"""Uvicorn with the dispatcher's SIGTERM contract.

On the first SIGTERM the dispatcher refuses new work (503) but keeps draining its queue for
``grace_period`` seconds, or until it is idle; then the app's shutdown records what is left as
``dropped`` and reports it before the process exits. A second signal cuts the grace short.
"""

from __future__ import annotations

import time
from types import FrameType

import uvicorn

from mlscale_dispatcher.state import DispatcherState


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: DispatcherState) -> None:
        super().__init__(config)
        self.dispatcher = state
        self.grace_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.grace_started is None:
            self.grace_started = time.monotonic()
            self.dispatcher.draining = True
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.grace_started is not None and not self.should_exit:
            waited = time.monotonic() - self.grace_started
            if self.dispatcher.idle() or waited >= self.dispatcher.settings.grace_period:
                self.should_exit = True
        return await super().on_tick(counter)
