"""Queueing theory for sizing a tier (groundwork for issue 35's ``slo`` policy): how many replicas
an arrival rate needs for a latency percentile, by the M/G/c approximation.

- Erlang C (the probability an arrival waits, M/M/c), computed through the Erlang B recursion
  ``B(k) = a B(k-1) / (k + a B(k-1))``, which stays finite for hundreds of servers where the
  textbook sum of ``a^k / k!`` overflows;
- the waiting time's tail, ``P(W > t) = C e^{-(cμ - λ) t}`` for M/M/c, stretched for a general
  service time by the Allen–Cunneen factor ``(1 + cs²) / 2`` (cs²: the squared coefficient of
  variation of the service time; 1 for exponential, 0 for deterministic);
- a latency percentile estimated as the service time's percentile plus the waiting time's (for
  the high percentiles an SLO is on, usually more than the true percentile of the sum: it errs on
  the side of more replicas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_c(servers: int, offered: float) -> float:
    """P(wait) in an M/M/c queue with ``servers`` and ``offered`` load (λ/μ, in Erlangs); 1 when
    the queue is unstable (offered >= servers)."""
    if servers < 1 or offered < 0:
        raise ValueError(f"erlang_c needs servers >= 1 and offered >= 0, not {servers}, {offered}")
    if offered == 0:
        return 0.0
    if offered >= servers:
        return 1.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    utilisation = offered / servers
    return blocking / (1 - utilisation * (1 - blocking))


@dataclass(frozen=True)
class Service:
    """What one replica does, as the calibration measured it."""

    rate: float
    """Requests/s one replica completes when busy (its flat-out capacity)."""
    scv: float = 1.0
    """Squared coefficient of variation of the service time (variance / mean²)."""
    percentile_seconds: float = 0.0
    """The service time at the percentile the SLO is on (what an idle replica takes)."""


def wait_percentile(servers: int, arrival_rate: float, service: Service, percentile: float) -> float:
    """The waiting time (seconds) that ``percentile`` of arrivals do not exceed; inf when unstable."""
    if not 0 < percentile < 1:
        raise ValueError(f"percentile must be in (0, 1), not {percentile}")
    offered = arrival_rate / service.rate
    if offered >= servers:
        return math.inf
    waits = erlang_c(servers, offered)
    if waits <= 1 - percentile:
        return 0.0
    drain = (servers * service.rate - arrival_rate) / ((1 + service.scv) / 2)
    return math.log(waits / (1 - percentile)) / drain


def latency_percentile(servers: int, arrival_rate: float, service: Service, percentile: float) -> float:
    return service.percentile_seconds + wait_percentile(servers, arrival_rate, service, percentile)


def fewest_replicas(
    arrival_rate: float, service: Service, slo_seconds: float, percentile: float, most: int
) -> int | None:
    """The fewest replicas (1 to ``most``) whose modelled latency percentile meets the SLO; None when
    not even ``most`` do (or the service alone is slower than the SLO)."""
    if arrival_rate <= 0:
        return 1 if service.percentile_seconds <= slo_seconds else None
    first = max(1, math.floor(arrival_rate / service.rate) + 1)  # the fewest that are stable
    for servers in range(first, most + 1):
        if latency_percentile(servers, arrival_rate, service, percentile) <= slo_seconds:
            return servers
    return None
