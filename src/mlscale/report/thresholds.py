"""``--fail-on 'p95<800ms,success>=99.5%'``: thresholds over stats.json, like k6's.

Grammar: comma-separated ``METRIC OP VALUE[UNIT]``; OP is one of < <= > >= == !=.

| metric | meaning | units |
| --- | --- | --- |
| p50 p90 p95 p99 p99.9 max mean | latency of ok requests from the intended send | ms (default) or s |
| success, failure_rate | share of all requests (expected total included) | % |
| ok error timeout dropped rejected enqueue_error lost failures | request counts | none |
| throughput | achieved ok requests/s | none or /s |
| slo_violation | seconds in SLO violation | s (default) |
| replica_seconds | replica-seconds provisioned | none |
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlscale.errors import ThresholdError
from mlscale.results import FINAL_OUTCOMES

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
LATENCY = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
COUNTS = (*FINAL_OUTCOMES, "failures")
_EXPRESSION = re.compile(r"^\s*([a-z_][a-z0-9_.]*)\s*(<=|>=|==|!=|<|>)\s*([0-9]*\.?[0-9]+)\s*([a-z%/]*)\s*$")


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    op: str
    value: float
    """In the metric's base unit: ms, a fraction, a count, requests/s or seconds."""


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    actual: float | None
    passed: bool

    def shown(self) -> str:
        """The actual value in the unit a person wrote the threshold in."""
        metric = self.threshold.metric
        if self.actual is None:
            return "no data"
        if metric in ("success", "failure_rate"):
            return f"{self.actual * 100:.3g} %"
        if metric in LATENCY:
            return f"{self.actual:.0f} ms"
        if metric == "slo_violation":
            return f"{self.actual:g} s"
        return f"{self.actual:.4g}" + ("/s" if metric == "throughput" else "")

    def describe(self) -> str:
        return f"{'pass' if self.passed else 'FAIL'} {self.threshold.text} (actual {self.shown()})"


def _unit_value(metric: str, number: float, unit: str, text: str) -> float:
    def bad(expected: str) -> ThresholdError:
        return ThresholdError(f"--fail-on {text!r}: {metric} takes {expected}, not {unit or 'no unit'!r}")

    if metric in LATENCY:
        if unit in ("", "ms"):
            return number
        if unit == "s":
            return number * 1000
        raise bad("ms or s")
    if metric in ("success", "failure_rate"):
        if unit != "%":
            raise bad("a percentage such as 99.5%")
        if number > 100:
            raise ThresholdError(f"--fail-on {text!r}: a percentage above 100")
        return number / 100
    if metric == "slo_violation":
        if unit not in ("", "s"):
            raise bad("seconds (s)")
        return number
    if metric == "throughput":
        if unit not in ("", "/s"):
            raise bad("requests per second (/s)")
        return number
    if unit:
        raise bad("a plain number")
    return number


def parse(spec: str) -> list[Threshold]:
    """Parse a --fail-on expression; any malformed part raises ThresholdError naming it."""
    known = (*LATENCY, "success", "failure_rate", *COUNTS, "throughput", "slo_violation", "replica_seconds")
    thresholds = []
    for part in spec.split(","):
        if not part.strip():
            raise ThresholdError(f"--fail-on {spec!r}: an empty threshold between commas")
        match = _EXPRESSION.match(part.lower())
        if match is None:
            raise ThresholdError(
                f"--fail-on {part.strip()!r}: expected METRIC OP VALUE[UNIT], e.g. p95<800ms"
            )
        metric, op, number, unit = match.groups()
        if metric not in known:
            raise ThresholdError(
                f"--fail-on {part.strip()!r}: unknown metric {metric!r}; one of {', '.join(known)}"
            )
        thresholds.append(
            Threshold(part.strip(), metric, op, _unit_value(metric, float(number), unit, part.strip()))
        )
    return thresholds


def actual(stats: dict[str, Any], metric: str) -> float | None:
    """The metric's value in stats.json, in its base unit."""
    if metric in LATENCY:
        value = stats["latency_ms"]["ok"]["from_intended"][metric]
    elif metric == "success":
        value = stats["success_rate"]
    elif metric == "failure_rate":
        value = None if stats["success_rate"] is None else 1 - stats["success_rate"]
    elif metric == "failures":
        value = stats["failures"]
    elif metric in FINAL_OUTCOMES:
        value = stats["counts"][metric]
    elif metric == "throughput":
        value = stats["throughput"]["achieved_rps"]
    elif metric == "slo_violation":
        value = stats["slo"]["seconds_violated"]
    else:
        value = stats["autoscaling"]["replica_seconds"]
    return None if value is None else float(value)


def evaluate(thresholds: list[Threshold], stats: dict[str, Any]) -> list[Verdict]:
    """A threshold with no data (e.g. p95 when nothing succeeded) fails."""
    verdicts = []
    for threshold in thresholds:
        value = actual(stats, threshold.metric)
        passed = value is not None and OPERATORS[threshold.op](value, threshold.value)
        verdicts.append(Verdict(threshold, value, passed))
    return verdicts
