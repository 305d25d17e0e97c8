"""``oracle``: plays the cheapest replica schedule that meets the SLO for the workload the load
tester announced (``Snapshot.plan``), computed once per plan by ``oracle.plan_replicas`` from what
``up`` measured: one replica's flat-out capacity, a request's service time and the start-up.
Without a plan (no load test running) it holds ``minReplicas``. The lower bound the other
policies are measured against, not a product policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlscale.autoscaling.oracle import OracleConfig, oracle_replicas, plan_replicas
from mlscale.autoscaling.policies.base import Plan, Snapshot, Step, record


@dataclass(frozen=True)
class OracleSettings:
    """``autoscaling.oracle`` in values.yaml."""

    min_replicas: int = 0
    lead_seconds: float = 2.0
    """Ask this much earlier than the start-up needs (the controller's tick and the dispatcher's
    upstream refresh)."""
    startup_seconds: float | None = None
    """Decision to ready; None: the start-up of the first replica, as measured."""
    slo_ms: float = 500.0
    """The SLO the schedule must meet in every second (``compare --slo-ms`` sets it)."""
    slo_percentile: float = 95.0
    flat_out_percent: float = 90.0
    """The share of one replica's measured flat-out capacity the plan counts on (Poisson arrivals
    queue at a replica kept busier; the fluid model does not see that)."""


@dataclass(frozen=True)
class OracleState:
    plan: Plan
    schedule: tuple[int, ...]
    """Replicas to ask for in each second of the plan."""


@dataclass(frozen=True)
class OraclePolicy:
    config: OracleConfig
    time_scale: float = 1.0
    name: str = "oracle"
    reads_load: bool = False

    @property
    def tick_seconds(self) -> float:
        return self.time_scale

    def start(self, now: float) -> OracleState | None:
        return None

    def step(self, snapshot: Snapshot, state: OracleState | None) -> tuple[Step, OracleState | None]:
        plan = snapshot.plan
        if plan is None:
            desired = self.config.min_replicas
            return Step(desired, record(snapshot, self.name, desired, "NoPlan") if desired != snapshot.current
                        else None), state  # fmt: skip
        if state is None or state.plan != plan:
            state = OracleState(plan, tuple(plan_replicas(plan.rates, self.config)))
        elapsed = snapshot.now - plan.start_at
        desired = oracle_replicas(state.schedule, elapsed, self.config)
        if desired == snapshot.current and int(elapsed) % 15:
            return Step(desired, None), state  # a record every 15 s, and on every change
        return Step(desired, record(snapshot, self.name, desired, "Plan", metric="planned arrivals")), state

    def scaled(self, state: OracleState | None, before: int, after: int, now: float) -> OracleState | None:
        return state
