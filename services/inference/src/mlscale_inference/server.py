"""Uvicorn, with a Kubernetes-style drain on SIGTERM.

Plain Uvicorn closes its socket on SIGTERM at once. A replica should instead say it is not
ready (so the dispatcher stops sending it work), finish what it admitted, then exit; a
second signal, or ``drain_timeout``, ends the wait.
"""

from __future__ import annotations

import time
from types import FrameType

import uvicorn

from mlscale_inference.app import ReplicaState


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ReplicaState) -> None:
        super().__init__(config)
        self.replica = state
        self.drain_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_started is None and self.replica.ready:
            self.drain_started = time.monotonic()
            self.replica.draining = True
            return
        super().handle_exit(sig, frame)  # second signal, or nothing to drain: exit now

    async def on_tick(self, counter: int) -> bool:
        if self.drain_started is not None and not self.should_exit:
            waited = time.monotonic() - self.drain_started
            if self.replica.pending == 0 or waited >= self.replica.settings.drain_timeout:
                self.should_exit = True
        return await super().on_tick(counter)
