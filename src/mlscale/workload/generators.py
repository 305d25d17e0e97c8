"""Shapes no trace at hand has, seeded so the same parameters give the same file: ``mlscale workload
gen KIND --param NAME=VALUE ... -o FILE`` writes a rate file (``rates``) that says how it was made.

- ``diurnal``: a day's sine, ``mean`` × (1 + ``amplitude`` × cos(2π (t − ``peak_at``) / ``period``)),
  with multiplicative Gaussian ``noise`` on each step (the daily cycle of the Azure traces, Shahrad et
  al. 2020, §3).
- ``mmpp``: a Markov-modulated Poisson process: the rate jumps between ``rates``, staying in each an
  exponential time of mean ``dwell`` (seconds, one per rate) before moving to another state at random.
  The rates are the modulating chain; ``--arrival poisson`` makes the arrivals within it Poisson.
- ``flash-crowd``: ``base``, then at ``at`` a rise over ``rise`` seconds to ``peak`` and an exponential
  decay back with time constant ``decay``.
- ``ramp``: from ``start`` to ``end`` requests/s over ``duration``.
- ``step``: ``before`` requests/s, then ``after`` from ``at`` on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlscale.errors import InputError
from mlscale.workload.core import MAX_RATE, Workload
from mlscale.workload.durations import seconds


@dataclass(frozen=True)
class Param:
    default: str
    help: str
    kind: str = "number"
    """``number``, ``span`` (``90s``, ``6h``), ``numbers`` (comma-separated) or ``spans``."""


def _diurnal(p: dict[str, Any], rng: random.Random) -> list[float]:
    out = []
    for i in range(round(p["duration"] / p["step"])):
        t = (i + 0.5) * p["step"]
        wave = p["mean"] * (1 + p["amplitude"] * math.cos(2 * math.pi * (t - p["peak_at"]) / p["period"]))
        out.append(max(0.0, wave * (1 + rng.gauss(0, p["noise"]))))
    return out


def _mmpp(p: dict[str, Any], rng: random.Random) -> list[float]:
    levels, dwell = p["rates"], p["dwell"]
    if len(levels) != len(dwell) or len(levels) < 2:
        raise InputError("mmpp: give as many dwell times as rates, at least two of each")
    if min(dwell) <= 0:
        raise InputError("mmpp: dwell times must be above 0")
    out: list[float] = []
    state, steps = 0, round(p["duration"] / p["step"])
    stay = rng.expovariate(1 / dwell[state])
    while len(out) < steps:
        out.append(levels[state])
        stay -= p["step"]
        while stay <= 0:
            state = rng.choice([s for s in range(len(levels)) if s != state])
            stay += rng.expovariate(1 / dwell[state])
    return out


def _flash_crowd(p: dict[str, Any], rng: random.Random) -> list[float]:
    out = []
    for i in range(round(p["duration"] / p["step"])):
        t = i * p["step"] - p["at"]
        if t < 0:
            out.append(p["base"])
        elif t < p["rise"]:
            out.append(p["base"] + (p["peak"] - p["base"]) * t / p["rise"])
        else:
            out.append(p["base"] + (p["peak"] - p["base"]) * math.exp(-(t - p["rise"]) / p["decay"]))
    return out


def _ramp(p: dict[str, Any], rng: random.Random) -> list[float]:
    steps = round(p["duration"] / p["step"])
    return [p["start"] + (p["end"] - p["start"]) * i / max(1, steps - 1) for i in range(steps)]


def _step(p: dict[str, Any], rng: random.Random) -> list[float]:
    return [
        p["before"] if i * p["step"] < p["at"] else p["after"]
        for i in range(round(p["duration"] / p["step"]))
    ]


_COMMON = {
    "duration": Param("10m", "how long", "span"),
    "step": Param("1s", "how long each rate holds", "span"),
    "seed": Param("1", "the random seed"),
}
KINDS: dict[str, tuple[Callable[[dict[str, Any], random.Random], list[float]], dict[str, Param]]] = {
    "diurnal": (_diurnal, {
        "mean": Param("10", "mean requests/s"), "amplitude": Param("0.8", "swing as a share of the mean"),
        "period": Param("1d", "the cycle", "span"),
        "peak_at": Param("14h", "when in the cycle it peaks", "span"),
        "noise": Param("0.05", "relative Gaussian noise on each step"),
        "duration": Param("1d", "how long", "span"), "step": Param("1m", "how long each rate holds", "span"),
    }),
    "mmpp": (_mmpp, {
        "rates": Param("5,40", "requests/s of each state", "numbers"),
        "dwell": Param("60s,10s", "mean time in each state", "spans"),
    }),
    "flash-crowd": (_flash_crowd, {
        "base": Param("5", "requests/s before"), "peak": Param("50", "requests/s at the top"),
        "at": Param("2m", "when the crowd arrives", "span"),
        "rise": Param("10s", "how long it takes to peak", "span"),
        "decay": Param("2m", "time constant of the decay", "span"),
    }),
    "ramp": (_ramp, {
        "start": Param("1", "requests/s at first"), "end": Param("20", "requests/s at the end"),
    }),
    "step": (_step, {
        "before": Param("5", "requests/s before"), "after": Param("20", "requests/s after"),
        "at": Param("2m", "when it steps", "span"),
    }),
}  # fmt: skip


def params_of(kind: str) -> dict[str, Param]:
    if kind not in KINDS:
        raise InputError(f"no generator {kind!r}: use one of {', '.join(KINDS)}")
    return {**_COMMON, **KINDS[kind][1]}


def generate(kind: str, given: dict[str, str]) -> Workload:
    """The workload ``kind`` makes with ``given`` over its defaults (every value as text, checked)."""
    known = params_of(kind)
    if unknown := sorted(set(given) - set(known)):
        raise InputError(f"{kind} has no parameter {', '.join(unknown)}; it has {', '.join(known)}")
    texts = {name: given.get(name, param.default) for name, param in known.items()}
    values = {name: _value(kind, name, texts[name], known[name].kind) for name in known}
    if values["step"] <= 0 or values["duration"] < values["step"]:
        raise InputError(f"{kind}: duration must be at least one step, and the step above 0")
    rates = KINDS[kind][0](values, random.Random(int(values["seed"])))
    if max(rates, default=0) > MAX_RATE:
        raise InputError(f"{kind}: a rate over {MAX_RATE:,}/s; lower its rates")
    shown = " ".join(f"{name}={texts[name]}" for name in known)
    label = f"generated {kind} ({shown})"
    source = {"format": "generated", "generator": kind, "params": texts, "label": f"generated {kind}"}
    return Workload(kind, tuple(rates), label, step_seconds=values["step"], source=source)


def _value(kind: str, name: str, text: str, of: str) -> Any:
    what = f"{kind} {name}"
    if of == "span":
        return seconds(text, what)
    if of == "spans":
        return [seconds(part, what) for part in text.split(",")]
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError as exc:
        raise InputError(f"{what}={text!r} is not {'numbers' if of == 'numbers' else 'a number'}") from exc
    if any(not math.isfinite(n) or n < 0 for n in numbers) or (of == "number" and len(numbers) != 1):
        raise InputError(f"{what}={text!r}: give {'numbers' if of == 'numbers' else 'a number'} >= 0")
    return numbers if of == "numbers" else numbers[0]
