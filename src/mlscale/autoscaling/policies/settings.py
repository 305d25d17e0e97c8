"""Which policy scales, and its settings: ``autoscaling.policy`` and the ``queue``, ``kpa`` and
``oracle`` sections of values.yaml, each validated with a message that names the field."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.policies.base import POLICY_NAMES
from mlscale.autoscaling.policies.kpa import KPASettings
from mlscale.autoscaling.policies.oracle import OracleSettings
from mlscale.autoscaling.policies.queue import QueueSettings
from mlscale.errors import ConfigError

# values.yaml key -> (field, minimum, whole number)
QUEUE_KEYS = {
    "threshold": ("threshold", 0.001, False),
    "activationThreshold": ("activation_threshold", 0.0, False),
    "pollingInterval": ("polling_interval", 1.0, True),
    "cooldownPeriod": ("cooldown_period", 0.0, True),
    "minReplicaCount": ("min_replica_count", 0, True),
}
KPA_KEYS = {
    "containerConcurrency": ("container_concurrency", 0.001, False),
    "targetUtilizationPercentage": ("target_utilization_percentage", 1.0, False),
    "stableWindowSeconds": ("stable_window", 6.0, False),
    "panicWindowPercentage": ("panic_window_percentage", 1.0, False),
    "panicThresholdPercentage": ("panic_threshold_percentage", 110.0, False),
    "maxScaleUpRate": ("max_scale_up_rate", 1.001, False),
    "maxScaleDownRate": ("max_scale_down_rate", 1.001, False),
    "scaleToZeroGracePeriodSeconds": ("scale_to_zero_grace_period", 0.0, False),
    "tickIntervalSeconds": ("tick_interval", 0.5, False),
    "minScale": ("min_scale", 0, True),
}
ORACLE_KEYS = {
    "minReplicas": ("min_replicas", 0, True),
    "leadSeconds": ("lead_seconds", 0.0, False),
    "startupSeconds": ("startup_seconds", 0.0, False),
    "sloMilliseconds": ("slo_ms", 1.0, False),
    "sloPercentile": ("slo_percentile", 1.0, False),
    "flatOutPercent": ("flat_out_percent", 1.0, False),
}


@dataclass(frozen=True)
class PolicySettings:
    name: str
    queue: QueueSettings
    kpa: KPASettings
    oracle: OracleSettings


def _number(raw: Any, where: str, minimum: float, whole: bool) -> float:
    if isinstance(raw, str) and not whole:  # KEDA writes thresholds as strings ("2")
        try:
            raw = float(raw)
        except ValueError as exc:
            raise ConfigError(f"{where} must be a number, not {raw!r}") from exc
    ok = isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw) and raw >= minimum
    if not ok or (whole and raw != int(raw)):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{where} must be {kind} >= {minimum:g}, not {raw!r}")
    return int(raw) if whole else float(raw)


Keys = dict[str, tuple[str, float, bool]]


def _section(raw: Any, where: str, keys: Keys, known: set[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    unknown = sorted(set(raw) - set(keys) - known)
    if unknown:
        names = ", ".join(sorted([*keys, *known]))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {names})")
    return {
        field: _number(raw[key], f"{where}.{key}", minimum, whole)
        for key, (field, minimum, whole) in keys.items()
        if key in raw and raw[key] is not None
    }


def parse_policy_settings(section: Any, hpa: HPAConfig, where: str = "autoscaling") -> PolicySettings:
    section = section if isinstance(section, dict) else {}
    name = section.get("policy") or "cpu"
    if name not in POLICY_NAMES:
        raise ConfigError(f"{where}.policy must be one of {', '.join(POLICY_NAMES)}, not {name!r}")
    queue_raw = section.get("queue")
    queue = QueueSettings(
        **_section(queue_raw, f"{where}.queue", QUEUE_KEYS, {"behavior", "serverAddress"}),
        max_replica_count=hpa.max_replicas,
        behavior=(queue_raw or {}).get("behavior") or None,
        sync_period_seconds=hpa.sync_period_seconds,
    )
    kpa = KPASettings(
        **_section(section.get("kpa"), f"{where}.kpa", KPA_KEYS, set()), max_scale=hpa.max_replicas
    )
    oracle = OracleSettings(**_section(section.get("oracle"), f"{where}.oracle", ORACLE_KEYS, set()))
    for key, value in (("sloPercentile", oracle.slo_percentile), ("flatOutPercent", oracle.flat_out_percent)):
        if value > 100:
            raise ConfigError(f"{where}.oracle.{key} must be at most 100, not {value:g}")
    floors = {"queue.minReplicaCount": queue.min_replica_count, "kpa.minScale": kpa.min_scale,
              "oracle.minReplicas": oracle.min_replicas}  # fmt: skip
    for key, floor in floors.items():
        if floor > hpa.max_replicas:
            raise ConfigError(f"{where}.{key} ({floor}) is above maxReplicas ({hpa.max_replicas})")
    return PolicySettings(name, queue, kpa, oracle)


def with_floor(settings: PolicySettings, floor: int) -> PolicySettings:
    """Every policy's fewest replicas set to ``floor`` (``up --min-replicas``: 1 keeps them warm)."""
    return replace(
        settings,
        queue=replace(settings.queue, min_replica_count=floor),
        kpa=replace(settings.kpa, min_scale=floor),
        oracle=replace(settings.oracle, min_replicas=floor),
    )
