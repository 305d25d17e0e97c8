"""The HPA's configuration, shaped like an ``autoscaling/v2`` HorizontalPodAutoscaler spec.

Its one home is the ``autoscaling:`` section of ``helm/mlscale/values.yaml``: the local backend
reads it from there and the chart renders the HPA from it, so both backends scale by the same
numbers. Defaults for fields the file leaves out are Kubernetes' own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from mlscale.autoscaling.metrics import MetricSpec, cpu_utilization, parse_metrics
from mlscale.errors import ConfigError
from mlscale.locations import values_file

PolicyType = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]


@dataclass(frozen=True)
class ScalingPolicy:
    type: PolicyType
    value: int
    period_seconds: float


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_seconds: float | None
    """None (scale-down only): the controller's --horizontal-pod-autoscaler-downscale-stabilization,
    as ``maybeInitScaleDownStabilizationWindow`` fills it (``HPAConfig.window_seconds``)."""
    select_policy: SelectPolicy = "Max"
    policies: tuple[ScalingPolicy, ...] = ()
    tolerance: float | None = None
    """``behavior.scaleUp/scaleDown.tolerance`` (Kubernetes 1.33+); None: the controller's own."""


# Kubernetes' defaults (autoscaling/v2 SetDefaults_HorizontalPodAutoscalerBehavior): the scale-down
# window is left unset there, for the controller's flag to fill.
DEFAULT_SCALE_UP = ScalingRules(0, "Max", (ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15)))
DEFAULT_SCALE_DOWN = ScalingRules(None, "Max", (ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True)
class HPAConfig:
    min_replicas: int = 1
    max_replicas: int = 5
    target_cpu_utilization: int = 70
    """Percent of each replica's CPU request (the CPU metric's target, and what calibration sizes for)."""
    metric_specs: tuple[MetricSpec, ...] = ()
    """``spec.metrics`` as listed in values.yaml; empty: the CPU target alone."""
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    # kube-controller-manager flags, with their defaults
    tolerance: float = 0.1
    sync_period_seconds: float = 15.0
    cpu_initialization_period_seconds: float = 300.0
    initial_readiness_delay_seconds: float = 30.0
    # metrics-server's resolution: how often a replica's CPU rate is sampled
    metric_resolution_seconds: float = 15.0
    time_scale: float = 1.0
    """Every period and window above is multiplied by this (e.g. 0.2 for a quick demo)."""
    one_window_stabilization: bool = False
    """Kubernetes 1.20's controller (what tests/k8s runs): one stabilization window, chosen by
    desired >= current (see behavior.stabilize), the absolute tolerance, and invalid metrics that
    stop a sync only when all are invalid. Off: today's, which bounds the recommendation by both
    windows, tests the tolerance per direction and lets no invalid metric allow a scale-down."""
    behavior: bool = True
    """The HPA has ``behavior``. Without it Kubernetes takes its older path (``normalizeDesiredReplicas``:
    only a downscale window, a scale-up cap of max(2 x current, 4), no scale-event records)."""
    downscale_stabilization_seconds: float = 300.0
    """``--horizontal-pod-autoscaler-downscale-stabilization``: the window of the path without behavior."""
    scale_up_limit_factor: float = 2.0
    """Go's ``scaleUpLimitFactor`` (not a flag): the path without behavior scales up to at most
    max(factor x current, 4). Kubernetes' own controller tests set it to 8."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        return self.metric_specs or (cpu_utilization(self.target_cpu_utilization),)

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    def window_seconds(self, rules: ScalingRules) -> float:
        """A direction's stabilization window, unscaled: its own, else the controller's
        downscale window (only a scale-down one can be unset)."""
        window = rules.stabilization_window_seconds
        return self.downscale_stabilization_seconds if window is None else window

    @property
    def up_tolerance(self) -> float:
        return self.tolerance if self.scale_up.tolerance is None else self.scale_up.tolerance

    @property
    def down_tolerance(self) -> float:
        return self.tolerance if self.scale_down.tolerance is None else self.scale_down.tolerance


def _int(section: dict[str, Any], key: str, where: str, default: int, minimum: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}.{key} must be a whole number >= {minimum}, not {value!r}")
    return value


def _seconds(section: dict[str, Any], key: str, where: str, default: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}.{key} must be a number of seconds >= 0, not {value!r}")
    return float(value)


def _tolerance(section: dict[str, Any], where: str, default: float | None = None) -> float:
    """A tolerance: a ratio of the metric to its target (0.1: within 10 %), not seconds."""
    value = section.get("tolerance", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ConfigError(f"{where}.tolerance must be a ratio in [0, 1), e.g. 0.1 for 10 %, not {value!r}")
    return float(value)


def _rules(raw: Any, where: str, default: ScalingRules) -> ScalingRules:
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    select = raw.get("selectPolicy", "Max")
    if select not in ("Max", "Min", "Disabled"):
        raise ConfigError(f"{where}.selectPolicy must be Max, Min or Disabled, not {select!r}")
    policies = []
    for index, item in enumerate(raw.get("policies") or []):
        at = f"{where}.policies[{index}]"
        if not isinstance(item, dict) or item.get("type") not in ("Pods", "Percent"):
            raise ConfigError(f"{at}.type must be Pods or Percent")
        policies.append(
            ScalingPolicy(
                item["type"], _int(item, "value", at, 0, 1), _seconds(item, "periodSeconds", at, 15)
            )
        )
        if not 0 < policies[-1].period_seconds <= 1800:
            raise ConfigError(f"{at}.periodSeconds must be in (0, 1800], not {item.get('periodSeconds')!r}")
    return ScalingRules(
        _seconds(raw, "stabilizationWindowSeconds", where, 0)
        if "stabilizationWindowSeconds" in raw
        else default.stabilization_window_seconds,
        select,
        tuple(policies) if policies else default.policies,
        _tolerance(raw, where) if "tolerance" in raw else None,
    )


def parse_hpa_config(section: Any, where: str = "autoscaling") -> HPAConfig:
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping")
    behavior = section.get("behavior") or {}
    if not isinstance(behavior, dict):
        raise ConfigError(f"{where}.behavior must be a mapping")
    cpu_target = _int(section, "targetCPUUtilizationPercentage", where, 70, 1)
    metrics = parse_metrics(section.get("metrics"), where)
    listed_cpu = [m.target.utilization for m in metrics if m.type == "Resource" and m.name == "cpu"
                  and m.target is not None and m.target.utilization is not None]  # fmt: skip
    config = HPAConfig(
        min_replicas=_int(section, "minReplicas", where, 1, 0),
        max_replicas=_int(section, "maxReplicas", where, 5, 1),
        target_cpu_utilization=listed_cpu[0] if listed_cpu else cpu_target,
        metric_specs=metrics,
        scale_up=_rules(behavior.get("scaleUp"), f"{where}.behavior.scaleUp", DEFAULT_SCALE_UP),
        scale_down=_rules(behavior.get("scaleDown"), f"{where}.behavior.scaleDown", DEFAULT_SCALE_DOWN),
        tolerance=_tolerance(section, where, 0.1),
        behavior=bool(behavior),  # the chart renders no behavior for an empty one either
        downscale_stabilization_seconds=_seconds(section, "downscaleStabilizationSeconds", where, 300),
        sync_period_seconds=_seconds(section, "syncPeriodSeconds", where, 15),
        metric_resolution_seconds=_seconds(section, "metricResolutionSeconds", where, 15),
    )
    return validate(config)


def validate(config: HPAConfig) -> HPAConfig:
    if config.min_replicas == 0 and not any(m.type in ("Object", "External") for m in config.metrics):
        # Kubernetes' own rule (HPAScaleToZero): only an Object or External metric can wake a target at 0.
        raise ConfigError("minReplicas 0 needs at least one Object or External metric; use minReplicas >= 1")
    if config.max_replicas < config.min_replicas:
        raise ConfigError(
            f"maxReplicas ({config.max_replicas}) must be >= minReplicas ({config.min_replicas})"
        )
    if config.sync_period_seconds <= 0 or config.metric_resolution_seconds <= 0:
        raise ConfigError("syncPeriodSeconds and metricResolutionSeconds must be > 0")
    if not 0 < config.time_scale <= 1:
        raise ConfigError(f"--time-scale must be in (0, 1], not {config.time_scale}")
    return config


def load_values(path: Path | None = None) -> dict[str, Any]:
    """``values.yaml``, the chart's own unless another path is given."""
    path = path or values_file()
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such values file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping at the top")
    return values


def merged_values(path: Path | None = None) -> dict[str, Any]:
    """The values the chart renders with, as helm merges them: the chart's ``values.yaml`` with
    the file at ``path`` over it (maps merge key by key; anything else is replaced)."""
    chart = load_values(None)
    return chart if path is None else _merge(chart, load_values(path))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        merged[key] = _merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def load_hpa_config(path: Path | None = None, **overrides: Any) -> HPAConfig:
    named = (path or values_file()).name
    config = parse_hpa_config(merged_values(path).get("autoscaling"), f"{named}: autoscaling")
    return validate(replace(config, **{k: v for k, v in overrides.items() if v is not None}))
