"""The autoscaling loop: every tick, gather what the policy reads, ask it, apply, record.

Policies are pure (``policies.base.Policy``); this module owns the clock and the I/O through a
small ``ScaleTarget`` interface, so the same loop drives local processes or anything else.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from mlscale.autoscaling.metrics import Observed
from mlscale.autoscaling.policies import Plan, Policy, Snapshot
from mlscale.autoscaling.replicas import Pod


class ScaleTarget(Protocol):
    def current_replicas(self) -> int: ...

    def pods(self) -> list[Pod]: ...

    def observed(self) -> Observed:
        """This sync's answers of the metric APIs (CPU, and the Pods/Object/External metrics listed)."""
        ...

    async def load(self) -> float | None:
        """The dispatcher's queue depth plus in flight, read now; None when it does not answer."""
        ...

    def plan(self) -> Plan | None:
        """The workload the load tester announced, if one is running."""
        ...

    async def scale_to(self, replicas: int) -> None: ...


class Controller:
    def __init__(self, target: ScaleTarget, policy: Policy[Any]) -> None:
        self.target = target
        self.policy = policy
        self.state = policy.start(time.time())
        self.decisions: list[dict[str, Any]] = []
        self.desired = target.current_replicas()

    async def sync(self) -> dict[str, Any] | None:
        """One tick; the decision's record when the policy made one."""
        load = await self.target.load() if self.policy.reads_load else None
        now = time.time()
        current = self.target.current_replicas()
        target = self.target
        snapshot = Snapshot(now, current, target.pods(), target.observed(), load, target.plan())
        step, self.state = self.policy.step(snapshot, self.state)
        if step.desired != current:
            await self.target.scale_to(step.desired)
            self.state = self.policy.scaled(self.state, current, step.desired, now)
        self.desired = step.desired
        if step.record is not None:
            self.decisions.append(step.record)
        return step.record

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.policy.tick_seconds)
            except TimeoutError:
                await self.sync()
