"""What a source's options do to its workload, in this order: ``window`` cuts a span, ``speed``
compresses time, ``size_to_peak`` says the load in replicas. Each keeps every step's count (a
window cuts whole steps; a speed-up of K makes each step K times shorter and its rate K times higher,
so each step sends what it sent before, in less time)."""

from __future__ import annotations

import math
from dataclasses import replace

from mlscale.errors import InputError
from mlscale.workload.core import Workload, per_second_rates, with_times

MAX_SPEED = 100_000.0


def window(workload: Workload, start: float, duration: float | None) -> Workload:
    """The span [start, start + duration) of the workload, from its own second 0."""
    end = workload.duration if duration is None else start + duration
    if not (0 <= start < workload.duration) or end <= start:
        raise InputError(
            f"--start {start:g} s/--duration: the window is outside {workload.name}, "
            f"which lasts {workload.duration:g} s"
        )
    if workload.times is not None:
        kept = tuple(t - start for t in workload.times if start <= t < end)
        if not kept:
            raise InputError(f"no arrival of {workload.name} falls in the window {start:g}-{end:g} s")
        return with_times(replace(workload, rates=()), kept, workload.step_seconds)
    step = workload.step_seconds
    first, last = start / step, min(end, workload.duration) / step
    for value, flag in ((first, "--start"), (last, "--duration")):
        if abs(value - round(value)) > 1e-9:
            raise InputError(f"{flag}: {workload.name} holds each rate {step:g} s; cut at a multiple of it")
    return replace(workload, rates=workload.rates[round(first) : round(last)])


def speed(workload: Workload, factor: float) -> Workload:
    """Time compressed ``factor`` times: every request of the workload, sent ``factor`` times faster."""
    if not (math.isfinite(factor) and 0 < factor <= MAX_SPEED):
        raise InputError(f"--speed {factor}: give a factor above 0 and at most {MAX_SPEED:g}")
    if factor == 1:
        return workload
    if workload.times is not None:
        return with_times(workload, tuple(t / factor for t in workload.times), 1.0)
    return replace(
        workload,
        rates=tuple(rate * factor for rate in workload.rates),
        step_seconds=workload.step_seconds / factor,
    )


def size_to_peak(workload: Workload, replicas: float) -> Workload:
    """The workload in replicas, its busiest second ``replicas`` replicas' worth (``up`` measures
    what one is): the same shape on any machine."""
    if not (math.isfinite(replicas) and replicas > 0):
        raise InputError(f"--peak {replicas}: give the replicas' worth at the peak, above 0")
    if workload.unit != "rps":
        raise InputError(f"--peak: {workload.name} is in {workload.unit} already (its `# unit:` line)")
    peak = max(per_second_rates(workload))
    if peak <= 0:
        raise InputError(f"--peak: {workload.name} offers no load to size")
    factor = replicas / peak
    return replace(
        workload,
        rates=tuple(rate * factor for rate in workload.rates),
        unit="replicas",
        weight=workload.weight * factor,
    )
