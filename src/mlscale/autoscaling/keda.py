"""KEDA's activation of a ScaledObject, as a pure function: ``RequestScale`` of kedacore/keda
``pkg/scaling/executor/scale_scaledobjects.go`` (KEDA 2, with idle replicas, fallback, paused
replicas, paused scale-in/out and forced activation).

KEDA scales in two halves. Between zero (or ``idleReplicaCount``) and ``minReplicaCount`` this
executor decides, every ``pollingInterval``, from whether any trigger is *active* (its metric above
``activationThreshold``): activate from zero, or deactivate once ``cooldownPeriod`` has passed
since the last active poll. Above that, an HPA over an External metric with an AverageValue
target scales (``hpa.py``), its ``behavior`` taken from
``advanced.horizontalPodAutoscalerConfig``. No clock reads and no I/O: ``now`` comes in, and the
last active time is the state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_COOLDOWN_SECONDS = 300.0
DEFAULT_POLLING_SECONDS = 30.0


@dataclass(frozen=True)
class KEDAConfig:
    """The ScaledObject's fields this half reads (KEDA's defaults)."""

    min_replica_count: int = 0
    idle_replica_count: int | None = None
    cooldown_period: float = DEFAULT_COOLDOWN_SECONDS
    polling_interval: float = DEFAULT_POLLING_SECONDS
    """How often the caller polls the triggers (the executor itself runs once per poll)."""
    fallback_replicas: int | None = None
    """``fallback.replicas``: the count to hold while a scaler fails and none is active."""
    paused_replicas: int | None = None
    """The ``autoscaling.keda.sh/paused-replicas`` annotation: hold this count, scale nothing."""
    paused_scale_in: bool = False
    paused_scale_out: bool = False
    force_activation: bool = False


@dataclass(frozen=True)
class KEDAState:
    last_active: float | None = None
    """``status.lastActiveTime``; None: never seen active (scaled outside KEDA, or new)."""


@dataclass(frozen=True)
class Activation:
    replicas: int | None
    """The count to set on the target; None: leave it (the HPA, if any, scales)."""
    active: bool
    reason: str
    """The Active condition's reason: ScalerActive, ScalerNotActive, ScalerCooldown or ScalerPaused."""


def is_active(values: list[float], activation_threshold: float) -> bool:
    """A trigger is active when its metric is above its activation threshold (KEDA 2.9+)."""
    return any(value > activation_threshold for value in values)


def request_scale(
    current: int, active: bool, failing: bool, now: float, state: KEDAState, config: KEDAConfig
) -> tuple[Activation, KEDAState]:
    """One poll: what to set on the scale target, the Active condition, and the last active time."""
    if config.paused_replicas is not None:
        return Activation(config.paused_replicas, False, "ScalerPaused"), state
    if active or config.force_activation:
        state = replace(state, last_active=now)
        idle_below_min = config.idle_replica_count is not None and current < config.min_replica_count
        if (idle_below_min or current == 0) and not config.paused_scale_out:
            return Activation(max(config.min_replica_count, 1), True, "ScalerActive"), state
        return Activation(None, True, "ScalerActive"), state
    if failing and config.fallback_replicas:
        return Activation(config.fallback_replicas, False, "ScalerNotActive"), state
    above_idle = config.idle_replica_count is not None and current > config.idle_replica_count
    if above_idle or (current > 0 and config.min_replica_count == 0):
        if config.paused_scale_in:
            return Activation(None, False, "ScalerNotActive"), state
        if state.last_active is None or state.last_active + config.cooldown_period < now:
            floor = (
                config.idle_replica_count
                if config.idle_replica_count is not None
                else config.min_replica_count
            )
            return Activation(floor, False, "ScalerNotActive"), state
        return Activation(None, False, "ScalerCooldown"), state
    if current < config.min_replica_count and config.idle_replica_count is None:
        return Activation(config.min_replica_count, False, "ScalerNotActive"), state
    return Activation(None, False, "ScalerNotActive"), state
