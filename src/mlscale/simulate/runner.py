"""One simulation, by either model, to what every caller needs: the table per second, the summary
and the raw result (the per-request model's writes a run directory ``report`` reads)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from mlscale.simulate.engine import Result
from mlscale.simulate.fluid import FluidResult
from mlscale.simulate.latency import LatencyTable
from mlscale.simulate.scenario import Scenario
from mlscale.simulate.summary import Summary, request_overall, request_seconds, summarize

PER_REQUEST_LIMIT = 2_000_000
"""Above this many requests ``auto`` takes the fluid model (the per-request one runs about
50,000 requests per second of wall time here)."""


class Model(StrEnum):
    AUTO = "auto"
    REQUESTS = "requests"
    FLUID = "fluid"

    def for_requests(self, requests: int) -> Model:
        if self is not Model.AUTO:
            return self
        return Model.REQUESTS if requests <= PER_REQUEST_LIMIT else Model.FLUID


@dataclass(frozen=True)
class Simulated:
    model: Model
    seconds: pd.DataFrame
    summary: Summary
    result: Result | FluidResult
    wall_seconds: float


def run(
    scenario: Scenario, model: Model, slo_ms: float = 1000.0, latency: LatencyTable | None = None
) -> Simulated:
    chosen = model.for_requests(scenario.requests)
    began = time.perf_counter()
    if chosen is Model.REQUESTS:
        if not scenario.arrivals and scenario.requests:
            raise ValueError("the scenario was built without a per-request schedule")
        result: Result | FluidResult = scenario.simulation().run()
        assert isinstance(result, Result)
        seconds = request_seconds(result)
        overall = request_overall(result)
    else:
        result = scenario.fluid(latency).run()
        seconds, overall = result.seconds, result.overall
    wall = time.perf_counter() - began
    return Simulated(chosen, seconds, summarize(seconds, slo_ms, overall), result, wall)
