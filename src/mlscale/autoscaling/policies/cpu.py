"""``cpu``: the HorizontalPodAutoscaler as the chart renders it (``hpa.decide`` every sync period)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlscale.autoscaling.behavior import HPAState, record_scale
from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.hpa import decide
from mlscale.autoscaling.policies.base import Snapshot, Step


@dataclass(frozen=True)
class CPUPolicy:
    config: HPAConfig
    name: str = "cpu"
    reads_load: bool = False

    @property
    def tick_seconds(self) -> float:
        return self.config.scaled(self.config.sync_period_seconds)

    def start(self, now: float) -> HPAState:
        return HPAState()

    def step(self, snapshot: Snapshot, state: HPAState) -> tuple[Step, HPAState]:
        decision, state = decide(snapshot.current, snapshot.pods, snapshot.observed, snapshot.now, state,
                                 self.config, status_replicas=snapshot.status_replicas)  # fmt: skip
        return Step(decision.desired, {**asdict(decision), "policy": self.name}), state

    def scaled(self, state: HPAState, before: int, after: int, now: float) -> HPAState:
        return record_scale(state, before, after, now, self.config)
