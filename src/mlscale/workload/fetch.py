"""``--prometheus URL --query Q``: the range query asked of a user's Prometheus, its answer the text
``prometheus.read`` reads (a run keeps the rates it made in run.json; ``compare`` keeps the whole
workload in workload.json)."""

from __future__ import annotations

import httpx

from mlscale.errors import InputError

MAX_POINTS = 11_000
"""Prometheus refuses a range of more points than this (its own limit), with a 400."""


def query_range(url: str, query: str, start: float, end: float, step: float, timeout: float = 30.0) -> str:
    if not end > start:
        raise InputError(
            f"the range ends ({end:.0f}) before it starts ({start:.0f}): give --end after --start"
        )
    if step <= 0 or (end - start) / step > MAX_POINTS:
        raise InputError(
            f"--step {step:g} s over {end - start:.0f} s is {(end - start) / max(step, 1e-9):,.0f} points; "
            f"Prometheus answers at most {MAX_POINTS:,}: give a longer --step"
        )
    endpoint = url.rstrip("/") + "/api/v1/query_range"
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    try:
        answer = httpx.get(endpoint, params=params, timeout=timeout)
    except httpx.HTTPError as exc:
        raise InputError(f"Prometheus at {url} did not answer: {exc}") from exc
    if answer.status_code != 200:
        detail = answer.text[:300]
        raise InputError(f"Prometheus at {url} said {answer.status_code} to {query!r}: {detail}")
    return answer.text
