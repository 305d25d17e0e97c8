"""What the HPA scales on and what it saw: metric specs shaped like ``autoscaling/v2``'s, and one
sync's observations from the metric APIs (``metrics.k8s.io``, ``custom.metrics.k8s.io``,
``external.metrics.k8s.io``). Data only, no I/O: the backends fill ``Observed``, the pure
calculators in ``replicas.py`` read it.

Values are Kubernetes milli-units (``Quantity.MilliValue()``): 0.5 CPU is 500, a queue of 12
requests is 12000, as the HPA controller computes with them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from mlscale.errors import ConfigError

SOURCE_TYPES = ("Resource", "ContainerResource", "Pods", "Object", "External")
TargetType = Literal["Utilization", "AverageValue", "Value"]

_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip


def quantity_value(text: str) -> Decimal:
    """A Kubernetes quantity ("500m", "1.5", "2Gi") in its base unit, exactly; ValueError if it is
    none. The one parser of quantities: ``milli_value`` here, ``backends.base.cpu_millicores``."""
    text = text.strip()
    suffix = next((s for s in sorted(_SUFFIXES, key=len, reverse=True) if s and text.endswith(s)), "")
    try:
        number = Decimal(text[: len(text) - len(suffix)] if suffix else text)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from exc
    if not number.is_finite() or number < 0:
        raise ValueError(f"{text!r} is not a finite quantity >= 0")
    return number * _SUFFIXES[suffix]


def milli_value(quantity: Any, where: str = "quantity") -> int:
    """A Kubernetes quantity ("500m", "1.5", "2Gi", 15) as milli-units, rounded up like MilliValue()."""
    refused = f"{where} must be a Kubernetes quantity >= 0 such as 500m, 2 or 1Gi, not {quantity!r}"
    text = str(quantity).strip() if isinstance(quantity, str | int | float) else ""
    if isinstance(quantity, bool) or not text:
        raise ConfigError(refused)
    try:
        return math.ceil(quantity_value(text) * 1000)
    except ValueError as exc:
        raise ConfigError(refused) from exc


@dataclass(frozen=True)
class MetricTarget:
    type: TargetType
    value_milli: int | None = None
    """``value`` or ``averageValue``, in milli-units."""
    utilization: int | None = None
    """``averageUtilization``: percent of the pods' request."""


@dataclass(frozen=True)
class MetricSpec:
    """One entry of ``spec.metrics``. ``type`` is kept as written: Kubernetes skips an unknown
    type as an invalid metric (InvalidMetricSourceType) rather than failing the whole HPA."""

    type: str
    name: str = ""
    """The resource (cpu, memory) for Resource/ContainerResource; the metric's name otherwise."""
    target: MetricTarget | None = None
    container: str = ""
    """ContainerResource: the container whose usage and request count."""
    described_object: str = ""
    """Object: the object the metric describes, as Kind/name (e.g. Service/mlscale-dispatcher)."""
    selector: Mapping[str, str] = field(default_factory=dict)
    """``metric.selector.matchLabels`` (Object, External)."""

    @property
    def label(self) -> str:
        """The metric as the controller names it in events and conditions (computeReplicasForMetric)."""
        utilization = self.target is not None and self.target.type == "Utilization"
        if self.type in ("Resource", "ContainerResource"):
            if not utilization:
                return f"{self.name} resource"
            container = "container " if self.type == "ContainerResource" else ""
            return f"{self.name} {container}resource utilization (percentage of request)"
        if self.type == "Pods":
            return f"pods metric {self.name}"
        if self.type == "Object":
            return f"{self.described_object.split('/')[0]} metric {self.name}"
        if self.type == "External":
            return f"external metric {self.name}({dict(self.selector)})"
        return f"{self.type} metric"


def cpu_utilization(percent: int) -> MetricSpec:
    """The original design's metric: mean CPU utilization of the pods, percent of their request."""
    return MetricSpec("Resource", "cpu", MetricTarget("Utilization", utilization=percent))


# ---- one sync's observations --------------------------------------------------------------------


@dataclass(frozen=True)
class PodUsage:
    """One pod's entry in ``metrics.k8s.io``: usage per container and resource, in milli-units."""

    containers: Mapping[str, Mapping[str, int]]
    timestamp: float = 0.0
    window: float = 15.0


@dataclass(frozen=True)
class Observed:
    """What the metric APIs answered in one sync. A name that is absent is a failed query (the
    adapter has no such metric); ``resource=None`` is a metrics.k8s.io that did not answer.
    Entries may name pods that are not in the pod list: the calculators ignore those, as
    Kubernetes does."""

    resource: Mapping[str, PodUsage] | None = field(default_factory=dict)
    pods: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Pods metrics by name, then pod: custom.metrics.k8s.io's per-pod values."""
    objects: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Object metrics by (Kind/name, metric name)."""
    external: Mapping[str, Sequence[int]] = field(default_factory=dict)
    """External metrics by name: every series the selector matched."""
    timestamp: float = 0.0


def pod_usage(cpu_milli: int, at: float, window: float, container: str = "app") -> PodUsage:
    """A one-container pod's CPU sample, the shape the local backend and most tests have."""
    return PodUsage({container: {"cpu": cpu_milli}}, at, window)


# ---- spec.metrics from values.yaml, validated ------------------------------------------------------


def _target(raw: Any, where: str, allowed: Sequence[str]) -> MetricTarget:
    if not isinstance(raw, dict) or raw.get("type") not in allowed:
        raise ConfigError(f"{where}.target.type must be one of {', '.join(allowed)}")
    kind = raw["type"]
    if kind == "Utilization":
        value = raw.get("averageUtilization")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"{where}.target.averageUtilization must be a whole percent >= 1, not {value!r}"
            )
        return MetricTarget("Utilization", utilization=value)
    key = "value" if kind == "Value" else "averageValue"
    if key not in raw:
        raise ConfigError(f"{where}.target.{key} is required for a {kind} target")
    milli = milli_value(raw[key], f"{where}.target.{key}")
    if milli <= 0:
        raise ConfigError(f"{where}.target.{key} must be > 0, not {raw[key]!r}")
    return MetricTarget(kind, value_milli=milli)


def _identifier(raw: Any, where: str) -> tuple[str, dict[str, str]]:
    metric = raw.get("metric") if isinstance(raw, dict) else None
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str) or not metric["name"]:
        raise ConfigError(f"{where}.metric.name is required")
    selector = metric.get("selector") or {}
    labels = selector.get("matchLabels") or {} if isinstance(selector, dict) else None
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(f"{where}.metric.selector.matchLabels must map label names to strings")
    return metric["name"], {str(k): v for k, v in labels.items()}


def parse_metric(raw: Any, where: str) -> MetricSpec:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in SOURCE_TYPES:
        raise ConfigError(f"{where}.type must be one of {', '.join(SOURCE_TYPES)}, not {kind!r}")
    key = kind[0].lower() + kind[1:]
    body = raw.get(key)
    if not isinstance(body, dict):
        raise ConfigError(f"{where}.{key} is required for a {kind} metric")
    at = f"{where}.{key}"
    if kind in ("Resource", "ContainerResource"):
        if body.get("name") not in ("cpu", "memory"):
            raise ConfigError(f"{at}.name must be cpu or memory, not {body.get('name')!r}")
        container = body.get("container", "")
        if kind == "ContainerResource" and (not isinstance(container, str) or not container):
            raise ConfigError(f"{at}.container is required")
        target = _target(body.get("target"), at, ("Utilization", "AverageValue"))
        return MetricSpec(
            kind, body["name"], target, container=container if kind == "ContainerResource" else ""
        )
    name, selector = _identifier(body, at)
    if kind == "Pods":
        return MetricSpec(kind, name, _target(body.get("target"), at, ("AverageValue",)))
    target = _target(body.get("target"), at, ("Value", "AverageValue"))
    if kind == "External":
        return MetricSpec(kind, name, target, selector=selector)
    described = body.get("describedObject")
    if not isinstance(described, dict) or not described.get("kind") or not described.get("name"):
        raise ConfigError(f"{at}.describedObject needs kind and name")
    return MetricSpec(kind, name, target, described_object=f"{described['kind']}/{described['name']}",
                      selector=selector)  # fmt: skip


def parse_metrics(raw: Any, where: str) -> tuple[MetricSpec, ...]:
    """``autoscaling.metrics`` as listed; empty or absent (HPAConfig.metrics: the CPU target alone)."""
    if raw is None or raw == []:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}.metrics must be a list of HPA metric specs")
    return tuple(parse_metric(item, f"{where}.metrics[{index}]") for index, item in enumerate(raw))
