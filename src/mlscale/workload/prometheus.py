"""A request rate from Prometheus: the JSON of its range query API, ``/api/v1/query_range``, as
``curl`` saves it (https://prometheus.io/docs/prometheus/latest/querying/api/#range-queries):
``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...}, "values":
[[<unix seconds>, "<value>"], ...]}, ...]}}``. The query should be a rate in requests/s, e.g.
``sum(rate(http_requests_total[1m]))``; several series are summed (said in the description). Each
sample's value holds until the next sample, a step of the query's resolution; a step with no sample
(a gap in the series) offers nothing and is counted in the description.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
from itertools import pairwise
from typing import Any

from mlscale.errors import WorkloadError
from mlscale.workload.core import MAX_RATE, Workload


class _Placed(list[Any]):
    """A JSON array that knows where in the text it began."""

    at = 0


def _placed_decoder() -> json.JSONDecoder:
    decoder = json.JSONDecoder()

    def parse_array(s_and_end: tuple[str, int], scan_once: Any) -> tuple[list[Any], int]:
        values, end = json.decoder.JSONArray(s_and_end, scan_once)  # type: ignore[attr-defined]
        placed = _Placed(values)
        placed.at = s_and_end[1] - 1
        return placed, end

    decoder.parse_array = parse_array  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder


def _where(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def read(text: str, path: str, name: str = "prometheus", label: str = "") -> Workload:
    try:
        document = _placed_decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise WorkloadError(path, exc.lineno, exc.colno, f"not JSON: {exc.msg}") from exc

    def fail(node: Any, problem: str) -> WorkloadError:
        line, column = _where(text, node.at) if isinstance(node, _Placed) else (1, 1)
        return WorkloadError(path, line, column, problem)

    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("status") != "success" or not isinstance(data, dict):
        problem = document.get("error") if isinstance(document, dict) else None
        raise WorkloadError(
            path, 1, 1, f"not a successful query_range answer{f': {problem}' if problem else ''}"
        )
    if data.get("resultType") != "matrix":
        raise WorkloadError(path, 1, 1, f"resultType {data.get('resultType')!r}: a range query's is 'matrix'")
    result = data.get("result")
    if not isinstance(result, list) or not result:
        raise WorkloadError(path, 1, 1, "the query returned no series: check the query and the time range")
    samples: dict[float, float] = {}
    for series in result:
        values = series.get("values") if isinstance(series, dict) else None
        if not isinstance(values, list) or not values:
            raise fail(series if isinstance(series, _Placed) else result, "a series without values")
        for sample in values:
            at, rate = _sample(sample, fail)
            samples[at] = samples.get(at, 0.0) + rate
    times = sorted(samples)
    step = _step(times, fail, result)
    first = times[0]
    rates = [0.0] * (round((times[-1] - first) / step) + 1)
    for at in times:
        rates[round((at - first) / step)] = samples[at]
    gaps = len(rates) - len(times)
    described = f"{len(result)} series summed, " if len(result) > 1 else ""
    label = label or f"Prometheus, {path}"
    description = f"{label}: {described}{len(times):,} samples every {step:g} s, {gaps} missing"
    source = {"format": "prometheus", "files": [path], "series": len(result), "start": first, "label": label}
    return Workload(name, tuple(rates), description, step_seconds=step, source=source)


def _sample(sample: Any, fail: Any) -> tuple[float, float]:
    if not (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[0], int | float)):
        raise fail(sample, f'a sample is [<unix seconds>, "<value>"], not {json.dumps(sample)[:40]}')
    try:
        value = float(sample[1])
    except (TypeError, ValueError) as exc:
        raise fail(sample, f"the value {sample[1]!r} is not a number in a string") from exc
    if not math.isfinite(value) or value < 0 or value > MAX_RATE:
        raise fail(sample, f"the value {sample[1]!r} is not a request rate (0 to {MAX_RATE:,} per second)")
    return float(sample[0]), value


def _step(times: list[float], fail: Any, where: Any) -> float:
    if len(times) < 2:
        return 1.0
    step = min(b - a for a, b in pairwise(times))
    for a, b in pairwise(times):
        if abs((b - a) / step - round((b - a) / step)) > 1e-6:
            raise fail(where, f"samples at {a:g} and {b:g} are not whole steps of {step:g} s apart")
    return step
