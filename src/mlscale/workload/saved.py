"""A resolved workload as a file (``mlscale-workload`` JSON): what ``compare`` reads and sizes once
and hands every run, so that a day of a trace is parsed once and a Prometheus range fetched once, and
every run is sent the same load with the same ``source``."""

from __future__ import annotations

import json
import math
from typing import Any

from mlscale.errors import WorkloadError
from mlscale.workload.core import UNITS, Workload

FORMAT = "mlscale-workload"


def dumps(workload: Workload) -> str:
    return json.dumps({
        "format": FORMAT, "version": 1, "name": workload.name, "description": workload.description,
        "unit": workload.unit, "step_seconds": workload.step_seconds, "weight": workload.weight,
        "rates": list(workload.rates), "times": None if workload.times is None else list(workload.times),
        "source": workload.source,
    }) + "\n"  # fmt: skip


def loads(text: str, path: str) -> Workload:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkloadError(path, exc.lineno, exc.colno, f"not JSON: {exc.msg}") from exc
    try:
        workload = Workload(
            str(data["name"]),
            tuple(_numbers(data["rates"])),
            str(data.get("description", "")),
            data["unit"] if data["unit"] in UNITS else _bad("unit"),
            step_seconds=float(data["step_seconds"]),
            times=None if data.get("times") is None else tuple(_numbers(data["times"])),
            weight=float(data.get("weight", 1.0)),
            source=dict(data.get("source") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkloadError(path, 1, 1, f"not a saved mlscale workload: {exc}") from exc
    if not workload.rates or not workload.step_seconds > 0 or not math.isfinite(workload.weight):
        raise WorkloadError(
            path, 1, 1, "not a saved mlscale workload: no rates, or a step or weight out of range"
        )
    return workload


def _numbers(values: Any) -> list[float]:
    out = [float(v) for v in values]
    if any(not math.isfinite(v) or v < 0 for v in out):
        raise ValueError("a rate or time that is not a finite number >= 0")
    return out


def _bad(field: str) -> Any:
    raise ValueError(f"{field} is not one of {', '.join(UNITS)}")
