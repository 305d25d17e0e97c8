"""``queue``: KEDA on the dispatcher's queue, as a ScaledObject with one ``prometheus`` trigger.

KEDA (2.16, the chart's pinned version) scales in two halves, both here: every
``pollingInterval`` its executor activates the target from zero when the metric is above
``activationThreshold`` and takes it back to zero once ``cooldownPeriod`` has passed since it was
last active (``keda.request_scale``); above zero, the HPA KEDA generates for the ScaledObject
scales on the same metric, served to it as an External metric with an AverageValue target of
``threshold`` per replica (``hpa.decide``, every sync period, with the ScaledObject's
``advanced.horizontalPodAutoscalerConfig.behavior``). ``keda_hpa_spec`` is that generated HPA;
the real-control-plane test runs it in kube-controller-manager. The metric is the dispatcher's
queue depth plus its mean requests in flight (``QUERY``; the local backend takes the mean since its
last read, a second before).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mlscale.autoscaling.behavior import HPAState, record_scale
from mlscale.autoscaling.config import HPAConfig, parse_hpa_config
from mlscale.autoscaling.hpa import decide
from mlscale.autoscaling.keda import KEDAConfig, KEDAState, is_active, request_scale
from mlscale.autoscaling.metrics import Observed
from mlscale.autoscaling.policies.base import Snapshot, Step, record

METRIC_NAME = "s0-prometheus"
"""KEDA's name for the first trigger's External metric (``s{index}-{scaler}``)."""
SELECTOR_LABEL = "scaledobject.keda.sh/name"
QUERY = "sum(mlscale_dispatcher_queue_depth) + sum(rate(mlscale_dispatcher_busy_seconds_total[1m]))"
"""The trigger's Prometheus query: the work waiting, plus the mean in service (an instant reading
of the in-flight gauge is 0 most of the time at low load, and KEDA would scale to zero under it)."""


@dataclass(frozen=True)
class QueueSettings:
    """``autoscaling.queue`` in values.yaml, named as the ScaledObject's fields."""

    threshold: float = 2.0
    """Target per replica (queue + in flight); KEDA's ``metadata.threshold``."""
    activation_threshold: float = 0.0
    polling_interval: float = 5.0
    cooldown_period: float = 30.0
    min_replica_count: int = 0
    max_replica_count: int = 5
    behavior: dict[str, Any] | None = None
    """``advanced.horizontalPodAutoscalerConfig.behavior``; None: Kubernetes' defaults."""
    sync_period_seconds: float = 15.0
    """The HPA controller's sync period (the generated HPA is an ordinary HPA)."""


def keda_hpa_spec(settings: QueueSettings, scaled_object: str) -> dict[str, Any]:
    """The ``spec`` of the HPA KEDA generates for the ScaledObject (``keda-hpa-<name>``), in the
    shape values.yaml's ``autoscaling`` section takes, so one parser reads both."""
    target = f"{settings.threshold:g}"
    spec: dict[str, Any] = {
        "minReplicas": max(settings.min_replica_count, 1),  # the HPA half never holds zero
        "maxReplicas": settings.max_replica_count,
        "metrics": [{
            "type": "External",
            "external": {
                "metric": {"name": METRIC_NAME, "selector": {"matchLabels": {SELECTOR_LABEL: scaled_object}}},
                "target": {"type": "AverageValue", "averageValue": target},
            },
        }],
        "syncPeriodSeconds": settings.sync_period_seconds,
    }  # fmt: skip
    if settings.behavior:
        spec["behavior"] = settings.behavior
    return spec


@dataclass(frozen=True)
class QueueState:
    hpa: HPAState = field(default_factory=HPAState)
    keda: KEDAState = field(default_factory=KEDAState)
    next_poll: float = -math.inf
    next_sync: float = -math.inf


@dataclass(frozen=True)
class QueuePolicy:
    settings: QueueSettings
    hpa: HPAConfig
    time_scale: float = 1.0
    name: str = "queue"
    reads_load: bool = True

    @classmethod
    def make(cls, settings: QueueSettings, scaled_object: str, time_scale: float = 1.0) -> QueuePolicy:
        config = parse_hpa_config(keda_hpa_spec(settings, scaled_object), "autoscaling.queue")
        return cls(settings, replace(config, time_scale=time_scale), time_scale)

    @property
    def tick_seconds(self) -> float:
        return self.time_scale  # one second: polls and syncs fall due on their own periods

    @property
    def keda(self) -> KEDAConfig:
        return KEDAConfig(
            min_replica_count=self.settings.min_replica_count,
            cooldown_period=self.settings.cooldown_period * self.time_scale,
            polling_interval=self.settings.polling_interval * self.time_scale,
        )

    def start(self, now: float) -> QueueState:
        return QueueState()

    def step(self, snapshot: Snapshot, state: QueueState) -> tuple[Step, QueueState]:
        now, current, load = snapshot.now, snapshot.current, snapshot.load
        if now >= state.next_poll:
            active = load is not None and is_active([load], self.settings.activation_threshold)
            activation, keda = request_scale(current, active, load is None, now, state.keda, self.keda)
            state = replace(state, keda=keda, next_poll=now + self.keda.polling_interval)
            if activation.replicas is not None and activation.replicas != current:
                desired = min(activation.replicas, self.settings.max_replica_count)
                return Step(desired, record(snapshot, self.name, desired, activation.reason,
                                            metric=METRIC_NAME, value=load)), state  # fmt: skip
        if current == 0 or now < state.next_sync:
            return Step(current, None), state
        state = replace(state, next_sync=now + self.hpa.scaled(self.hpa.sync_period_seconds))
        observed = Observed(external={METRIC_NAME: [round(load * 1000)]} if load is not None else {},
                            timestamp=now)  # fmt: skip
        decision, hpa = decide(current, snapshot.pods, observed, now, state.hpa, self.hpa,
                               status_replicas=snapshot.status_replicas)  # fmt: skip
        return Step(decision.desired, {**asdict(decision), "policy": self.name, "value": load}), replace(
            state, hpa=hpa
        )

    def scaled(self, state: QueueState, before: int, after: int, now: float) -> QueueState:
        return replace(state, hpa=record_scale(state.hpa, before, after, now, self.hpa))
