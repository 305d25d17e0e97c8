"""The oracle: the cheapest replica schedule that meets the SLO, knowing every arrival in advance.

It knows how many requests arrive in each second of the workload (the load tester's plan), what
one replica serves flat out under the dispatcher's concurrency and a request's time at an idle
replica (both measured by ``up``), and how long a replica takes from decision to ready. The
model is the simulator's fluid queue at one-second steps: one FIFO backlog, ``n`` ready replicas
finishing ``n x capacity`` requests a second, a request's latency its wait behind the backlog plus
its service time. ``ready_schedule`` is a dynamic programme over (second, backlog): the fewest
ready replica-seconds such that in every second the SLO's percentile of that second's arrivals
is within the SLO, so a small backlog is allowed where it costs less than a replica. Where no
count up to the maximum meets it, the fewest broken seconds come first.

``provisioned`` then asks for each replica ``startup + lead`` seconds before it must be ready,
and releases it when no second in that window needs it: the cheapest provisioning of that ready
schedule, since a replica costs from the moment it is asked for. It is the lower bound the other
policies are measured against, not a policy a product could run. Pure: no clock, no I/O.

The fluid model has no randomness: it would run a replica at 100 % of its flat-out capacity with
no queue, where Poisson arrivals queue without bound. The capacity it is given is therefore a
share of the measured one (90 % by default, ``flatOutPercent``), the one margin it keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

BROKEN = 1_000_000.0
"""The cost of a second whose arrivals break the SLO: more than any count of replica-seconds."""
MAX_BACKLOG_STATES = 200
"""Backlog levels the programme tells apart (the quantum grows with the capacity, so the cost of
a plan stays O(seconds x 200 x counts) at any scale)."""
SEARCH_BELOW = 3
"""Counts tried below the one that serves a second's arrivals: a backlog only ever stands in for a
replica or two, briefly, before the SLO is broken."""


@dataclass(frozen=True)
class OracleConfig:
    capacity_rps: float
    """Requests/s the plan counts on from one replica: what it serves flat out, two at a time
    (``up``'s calibration), times the settings' ``flatOutPercent``."""
    service_seconds: float
    """A request's time at an idle replica, dispatcher to answer."""
    startup_seconds: float
    """Decision to ready, as measured (process start, model load, warm-up, readiness)."""
    slo_seconds: float
    """Latency each second's arrivals must meet at ``slo_percentile``."""
    slo_percentile: float = 95.0
    min_replicas: int = 1
    max_replicas: int = 5
    lead_seconds: float = 0.0
    """Ask this much earlier than the start-up needs (the controller's tick, the dispatcher's
    refresh of its replicas)."""


def second_latency(backlog: float, arrivals: float, replicas: int, config: OracleConfig) -> float:
    """The SLO's percentile of the latency of one second's ``arrivals``, spread evenly over it, that
    find ``backlog`` requests waiting and ``replicas`` ready (FIFO, fluid)."""
    if arrivals <= 0:
        return 0.0
    if replicas <= 0:
        return math.inf
    rate = replicas * config.capacity_rps
    share = config.slo_percentile / 100

    def latency(f: float) -> float:  # the arrival a fraction f into the second
        return max(0.0, (backlog + f * arrivals) / rate - f) + config.service_seconds

    # Linear in f: its percentile is at f = share (rising) or 1 - share (falling).
    return max(latency(share), latency(1 - share))


def ready_schedule(counts: Sequence[float], config: OracleConfig) -> list[int]:
    """Ready replicas for each second that meet the SLO at the fewest replica-seconds, and serve
    any backlog left at the end (the schedule then runs on for the seconds that takes)."""
    drain = math.ceil(config.slo_seconds) + 1
    quantum = max(1.0, config.max_replicas * config.capacity_rps * config.slo_seconds / MAX_BACKLOG_STATES)
    # states[backlog in quanta] = (cost so far, the counts chosen so far)
    states: dict[int, tuple[float, tuple[int, ...]]] = {0: (0.0, ())}
    for arrivals in [*counts, *[0.0] * drain]:
        following: dict[int, tuple[float, tuple[int, ...]]] = {}
        for level, (cost, chosen) in states.items():
            backlog = level * quantum
            for replicas in _candidates(arrivals, backlog, config):
                broken = second_latency(backlog, arrivals, replicas, config) > config.slo_seconds
                left = max(0.0, backlog + arrivals - replicas * config.capacity_rps)
                step_cost = cost + replicas + (BROKEN if broken else 0.0)
                key = math.ceil(round(left / quantum, 9))  # rounded up: never a smaller backlog than real
                if key not in following or step_cost < following[key][0]:
                    following[key] = (step_cost, (*chosen, replicas))
        states = following
    served = [states[level] for level in states if level == 0] or list(states.values())
    return list(min(served)[1])


def _candidates(arrivals: float, backlog: float, config: OracleConfig) -> range:
    """Counts worth trying for a second: from a few below what serves its arrivals to what clears
    the backlog too, within min and max (none while there is nothing to serve)."""
    floor = max(config.min_replicas, 1 if arrivals > 0 or backlog > 0 else 0)
    serves = math.ceil(round(arrivals / config.capacity_rps, 9))
    clears = math.ceil(round((arrivals + backlog) / config.capacity_rps, 9))
    low = max(floor, serves - SEARCH_BELOW)
    high = max(low, min(config.max_replicas, clears))
    return range(min(low, config.max_replicas), high + 1)


def provisioned(ready: Sequence[int], ahead_seconds: float) -> list[int]:
    """Replicas asked for in each second: the most any second from it to ``ahead_seconds`` later
    must have ready (a replica asked for at t is ready at t + start-up)."""
    ahead = math.ceil(round(ahead_seconds, 9))
    return [max(ready[t : t + ahead + 1]) for t in range(len(ready))]


def plan_replicas(counts: Sequence[float], config: OracleConfig) -> list[int]:
    """What the oracle asks for in each second of a workload whose second i brings ``counts[i]``."""
    ready = ready_schedule(counts, config)
    return provisioned(ready, config.startup_seconds + config.lead_seconds)


def oracle_replicas(schedule: Sequence[int], elapsed: float, config: OracleConfig) -> int:
    """What to ask for ``elapsed`` seconds into the planned workload (its floor before and after)."""
    second = math.floor(elapsed)
    if 0 <= second < len(schedule):
        return schedule[second]
    # Before the start, what the first seconds will need once a replica started now is ready.
    if second < 0 and schedule and -elapsed <= config.startup_seconds + config.lead_seconds:
        return schedule[0]
    return config.min_replicas
