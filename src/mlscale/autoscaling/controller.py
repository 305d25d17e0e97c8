"""The autoscaling loop: every sync period, gather metrics, ask the policy, apply, record.

The policy is pure (``hpa.decide``); this module owns the clock and the I/O through a small
``ScaleTarget`` interface, so the same loop drives local processes or anything else.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any, Protocol

from mlscale.autoscaling.behavior import HPAState, record_scale
from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.hpa import decide
from mlscale.autoscaling.metrics import Observed
from mlscale.autoscaling.replicas import Pod


class ScaleTarget(Protocol):
    def current_replicas(self) -> int: ...

    def pods(self) -> list[Pod]: ...

    def observed(self) -> Observed:
        """This sync's answers of the metric APIs (CPU, and the Pods/Object/External metrics listed)."""
        ...

    async def scale_to(self, replicas: int) -> None: ...


class Controller:
    def __init__(self, target: ScaleTarget, config: HPAConfig) -> None:
        self.target = target
        self.config = config
        self.state = HPAState()
        self.decisions: list[dict[str, Any]] = []
        self.desired = target.current_replicas()

    async def sync(self) -> dict[str, Any]:
        now = time.time()
        current = self.target.current_replicas()
        pods = self.target.pods()
        decision, self.state = decide(current, pods, self.target.observed(), now, self.state, self.config,
                                      status_replicas=sum(not p.deleted for p in pods))  # fmt: skip
        if decision.desired != current:
            await self.target.scale_to(decision.desired)
            self.state = record_scale(self.state, current, decision.desired, now, self.config)
        self.desired = decision.desired
        record = asdict(decision)
        self.decisions.append(record)
        return record

    async def run(self, stop: asyncio.Event) -> None:
        period = self.config.scaled(self.config.sync_period_seconds)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), period)
            except TimeoutError:
                await self.sync()
