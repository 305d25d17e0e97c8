"""``oracle``: asks, each second, for what the workload file will need by the time a replica it
starts now is ready (``oracle.oracle_replicas``). It knows the plan the load tester announced
(``Snapshot.plan``), the CPU one request costs and the replica start-up time, both measured by
``up``. Without a plan (no load test running) it holds ``minReplicas``. The lower bound the
other policies are measured against, not a product policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlscale.autoscaling.oracle import OracleConfig, oracle_replicas
from mlscale.autoscaling.policies.base import Snapshot, Step, record


@dataclass(frozen=True)
class OracleSettings:
    """``autoscaling.oracle`` in values.yaml."""

    min_replicas: int = 0
    lead_seconds: float = 2.0
    """Look this much further ahead than the start-up (the controller's tick and the dispatcher's
    upstream refresh)."""
    startup_seconds: float | None = None
    """Decision to ready; None: the start-up of the first replica, as measured."""


@dataclass(frozen=True)
class OraclePolicy:
    config: OracleConfig
    time_scale: float = 1.0
    name: str = "oracle"
    reads_load: bool = False

    @property
    def tick_seconds(self) -> float:
        return self.time_scale

    def start(self, now: float) -> None:
        return None

    def step(self, snapshot: Snapshot, state: None) -> tuple[Step, None]:
        plan = snapshot.plan
        if plan is None:
            desired = self.config.min_replicas
            return Step(desired, record(snapshot, self.name, desired, "NoPlan") if desired != snapshot.current
                        else None), None  # fmt: skip
        elapsed = snapshot.now - plan.start_at
        desired = oracle_replicas(plan.rates, elapsed, self.config)
        if desired == snapshot.current and int(elapsed) % 15:
            return Step(desired, None), None  # a record every 15 s, and on every change
        return Step(desired, record(snapshot, self.name, desired, "Plan", metric="planned rate")), None

    def scaled(self, state: None, before: int, after: int, now: float) -> None:
        return None
