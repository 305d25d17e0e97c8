"""What ``tune`` may change, per policy: the knobs of values.yaml's ``autoscaling`` section, each
with the range a search explores (Kubernetes', KEDA's and Knative's own limits where they have one),
and the SLO a search must meet."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from mlscale.errors import InputError


@dataclass(frozen=True)
class Knob:
    key: str
    """The values key (``--set`` syntax)."""
    low: float
    high: float
    integer: bool = True
    log: bool = False


SPACES: dict[str, tuple[Knob, ...]] = {
    "cpu": (
        Knob("autoscaling.targetCPUUtilizationPercentage", 30, 90),
        Knob("autoscaling.behavior.scaleUp.stabilizationWindowSeconds", 0, 120),
        Knob("autoscaling.behavior.scaleDown.stabilizationWindowSeconds", 0, 600),
        Knob("autoscaling.minReplicas", 1, 3),
    ),
    "queue": (
        Knob("autoscaling.queue.threshold", 0.5, 10, integer=False, log=True),
        Knob("autoscaling.queue.activationThreshold", 0, 5, integer=False),
        Knob("autoscaling.queue.pollingInterval", 1, 30),
        Knob("autoscaling.queue.cooldownPeriod", 10, 300),
        Knob("autoscaling.queue.minReplicaCount", 0, 2),
    ),
    "kpa": (
        Knob("autoscaling.kpa.targetUtilizationPercentage", 30, 100),
        Knob("autoscaling.kpa.stableWindowSeconds", 6, 120),  # Knative: 6 s to 1 h
        Knob("autoscaling.kpa.panicThresholdPercentage", 110, 400),
        Knob("autoscaling.kpa.scaleToZeroGracePeriodSeconds", 6, 120),
        Knob("autoscaling.kpa.minScale", 0, 2),
    ),
}
TUNABLE = tuple(SPACES)
"""The oracle knows the workload (a yardstick, not a setting to deploy): not tuned."""


@dataclass(frozen=True)
class SLO:
    percentile: float
    """50, 95 or 99: the per-second latency percentile the report and the simulator keep."""
    seconds: float
    """The percentile's bound."""
    share: float = 0.99
    """Of the seconds with arrivals, the share in which the bound must hold."""

    @property
    def text(self) -> str:
        return f"p{self.percentile:g}<={self.seconds * 1000:g}ms in {self.share:.1%} of seconds"

    def allowed(self, seconds: int) -> int:
        """How many of ``seconds`` (with arrivals) may break it."""
        return math.floor((1 - self.share) * seconds + 1e-9)


_SLO = re.compile(r"\s*p(50|95|99)\s*<=?\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*")


def parse_slo(text: str, share: str = "99%") -> SLO:
    match = _SLO.fullmatch(text)
    if not match:
        raise InputError(f"--slo {text!r}: write it as p95<=300ms (percentile 50, 95 or 99; ms or s)")
    bound = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    if bound <= 0:
        raise InputError(f"--slo {text!r}: the bound must be above 0")
    return SLO(float(match.group(1)), bound, parse_share(share))


def parse_share(text: str) -> float:
    stripped = text.strip().removesuffix("%")
    try:
        value = float(stripped) / 100
    except ValueError as exc:
        raise InputError(f"--slo-seconds {text!r}: give a share such as 99%") from exc
    if not 0 < value <= 1:
        raise InputError(f"--slo-seconds {text!r}: give a share above 0% and at most 100%")
    return value


def parse_policies(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in SPACES]
    if not names or unknown or len(set(names)) != len(names):
        raise InputError(
            f"--policies takes a comma-separated list of {', '.join(TUNABLE)}, each once; not {text!r}"
        )
    return names


def nested(setting: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b.c": 1}`` as ``{"a": {"b": {"c": 1}}}``: a values file helm and ``up --values`` take."""
    out: dict[str, Any] = {}
    for key, value in setting.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out
