"""The oracle: the replicas a workload needs, asked for early enough to be ready in time.

It knows the workload file (each second's planned rate), the CPU one request costs (the
calibration ``up`` measures) and how long a replica takes from decision to ready. Each second
needs ``ceil(rate x cost / (request x target))`` replicas; at time t the oracle asks for the most
any second from t to t + start-up (+ a lead, e.g. one sync period) needs, so replicas it starts
now are ready when that load arrives. It is the lower bound the other policies are measured
against, not a policy a product could run. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OracleConfig:
    cpu_ms_per_request: float
    """Measured CPU per request (ms of one core): at r requests/s, r x this millicores."""
    request_milli: int
    """Each replica's CPU request, millicores."""
    target_utilization: int
    """Percent of the request a replica should run at."""
    startup_seconds: float
    """Decision to ready, as measured (process start, model load, warm-up, readiness)."""
    min_replicas: int = 1
    max_replicas: int = 5
    lead_seconds: float = 0.0
    """Look further ahead than the start-up by this much (the sync period, say)."""


def needed(rate: float, config: OracleConfig) -> int:
    """Replicas that carry ``rate`` requests/s at the target: ceil(CPU asked / CPU per replica)."""
    capacity = config.request_milli * config.target_utilization / 100
    # Rounded first: 2.0000000000000004 replicas of floating-point noise are 2, not 3.
    return math.ceil(round(rate * config.cpu_ms_per_request / capacity, 9))


def oracle_replicas(rates: Sequence[float], elapsed: float, config: OracleConfig) -> int:
    """What to ask for ``elapsed`` seconds into a workload whose second i plans ``rates[i]``."""
    first = max(0, math.floor(elapsed))
    last = math.ceil(elapsed + config.startup_seconds + config.lead_seconds)
    ahead = [needed(rate, config) for rate in rates[first : last + 1]]
    return min(config.max_replicas, max(config.min_replicas, *ahead)) if ahead else config.min_replicas
