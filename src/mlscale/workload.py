"""Workloads: per-second request rates, as the original design's ``workload.txt`` has them.

A file holds rates separated by commas and/or newlines (``10,15,20`` or one per line); blank
lines and ``#`` comments are ignored. A workload is data; ``schedule`` turns it into intended
send times (seconds from the start), spread within each second uniformly or as a Poisson process.

A comment line ``# unit: replicas`` says the values are not requests/s but multiples of what
one replica serves at the HPA's CPU target on the machine at hand (``mlscale up`` measures it):
``2.5`` then asks for the load that holds about three replicas, on a fast machine or a slow one.
``# unit: flat-out`` says multiples of what one replica serves flat out, fed two at a time as the
dispatcher feeds it (also measured by ``mlscale up``): ``1.3`` is more than one replica can serve
whatever its CPU reads, so a policy that does not add replicas builds a backlog.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from mlscale.errors import WorkloadError


class Arrival(StrEnum):
    """How requests are spaced within a step: evenly, or at random instants (a Poisson process)."""

    UNIFORM = "uniform"
    POISSON = "poisson"


Unit = Literal["rps", "replicas", "flat-out"]
UNITS: tuple[Unit, ...] = ("rps", "replicas", "flat-out")
CALIBRATION_KEYS: dict[str, str] = {"replicas": "capacity_at_target_rps", "flat-out": "flat_out_rps"}
"""Which number of ``up``'s calibration one unit of a workload is, in requests/s."""
UNIT_MEANINGS = {
    "replicas": "one replica at the CPU target",
    "flat-out": "one replica flat out, two requests at a time",
}
MAX_RATE = 1_000_000
"""Requests/s one step may ask for: far past what one load tester sends (5,000/s measured), and
small enough that sizing a run can never overflow (a rate of 1e308 once did, in --serve)."""
_UNIT = re.compile(r"#\s*unit:\s*(\S+)\s*$")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)  # not '１０' (fullwidth)


@dataclass(frozen=True)
class Workload:
    name: str
    rates: tuple[float, ...]
    """Requests per second, one value per step."""
    description: str = ""
    unit: Unit = "rps"
    """``rps``: requests per second; ``replicas``: multiples of one replica's capacity at the CPU target;
    ``flat-out``: multiples of what one replica serves flat out."""

    def tick(self, elapsed: float, step_seconds: float = 1.0, scale: float = 1.0) -> float | None:
        """The rate at ``elapsed`` seconds, or None once the workload is over (a Locust-style shape)."""
        step = int(elapsed // step_seconds)
        return self.rates[step] * scale if 0 <= step < len(self.rates) else None


def parse_workload(text: str, path: str = "<workload>") -> Workload:
    rates: list[float] = []
    unit = "rps"
    comments: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        unit_line = _UNIT.fullmatch(line.strip())
        if unit_line:
            if unit_line.group(1) not in UNITS:
                raise WorkloadError(path, number, 1, f"unit {unit_line.group(1)!r}: use {', '.join(UNITS)}")
            unit = unit_line.group(1)
            continue
        content, _, comment = line.partition("#")
        if comment.strip() and not rates and not content.strip():
            comments.append(comment.strip())
        column = 1
        for field in content.split(","):
            stripped = field.strip()
            where = column + (len(field) - len(field.lstrip()))
            column += len(field) + 1
            if not stripped:
                if content.strip() and "," in content:
                    raise WorkloadError(path, number, where, "empty value between commas")
                continue
            if not _NUMBER.fullmatch(stripped):
                raise WorkloadError(
                    path, number, where, f"{stripped!r} is not a number of requests per second"
                )
            value = float(stripped)
            if not math.isfinite(value):
                raise WorkloadError(path, number, where, f"{stripped} is not a finite number")
            if value < 0:
                raise WorkloadError(path, number, where, f"{stripped} is negative; rates must be >= 0")
            if value > MAX_RATE:
                raise WorkloadError(
                    path, number, where, f"{stripped} is over the limit of {MAX_RATE:,} per second"
                )
            rates.append(value)
    if not rates:
        raise WorkloadError(path, 1, 1, "the workload is empty: give rates such as 10,15,20")
    return Workload(Path(path).stem, tuple(rates), " ".join(comments), unit)  # type: ignore[arg-type]


def requests_per_unit(workload: Workload, calibration: dict[str, Any] | None) -> float | None:
    """Requests/s one unit of ``workload`` is by ``calibration`` (``up``'s, as state.json and
    run.json hold it): 1 for requests/s, None when the calibration lacks the number."""
    if workload.unit == "rps":
        return 1.0
    value = (calibration or {}).get(CALIBRATION_KEYS[workload.unit])
    return float(value) if value else None


def load_workload(path: Path) -> Workload:
    if path.exists() and not path.is_file():  # a FIFO or a device would block the read, or never end
        raise WorkloadError(str(path), 0, 0, "not a regular file: give a workload file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise WorkloadError(str(path), 0, 0, "no such workload file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(str(path), 0, 0, f"cannot read the workload: {exc}") from exc
    return parse_workload(text, str(path))


def step_counts(workload: Workload, *, step_seconds: float = 1.0, scale: float = 1.0) -> list[int]:
    """Requests in each step: ``round(rate × scale × step_seconds)``, exactly what ``schedule`` sends."""
    return [round(rate * scale * step_seconds) for rate in workload.rates]


def schedule(
    workload: Workload,
    *,
    step_seconds: float = 1.0,
    scale: float = 1.0,
    arrival: Arrival = Arrival.UNIFORM,
    seed: int | None = None,
    max_requests: int | None = None,
) -> list[float]:
    """Intended send times in seconds from the start, sorted.

    Each step sends ``round(rate × scale × step_seconds)`` requests (exactly, for uniform
    arrivals: evenly spaced within the step; for Poisson: the same count at uniformly random
    instants, which is a Poisson process conditioned on its count, so per-step counts stay exact).
    """
    rng = random.Random(seed)
    times: list[float] = []
    for step, count in enumerate(step_counts(workload, step_seconds=step_seconds, scale=scale)):
        start = step * step_seconds
        # Never build more than asked for: one step of 3e7 requests cost 1.15 GB when only 5 were.
        keep = count if max_requests is None else min(count, max_requests - len(times))
        if arrival is Arrival.UNIFORM:
            times.extend(start + (i + 0.5) * step_seconds / count for i in range(keep))
        else:
            times.extend(start + step_seconds * u for u in _smallest_uniforms(rng, count, keep))
        if max_requests is not None and len(times) >= max_requests:
            return times
    return times


def _smallest_uniforms(rng: random.Random, n: int, k: int) -> list[float]:
    """The ``k`` smallest of ``n`` uniform draws on [0, 1), sorted, in O(k): each next order
    statistic is the last plus a Beta(1, remaining) share of what is left above it."""
    values, last = [], 0.0
    for remaining in range(n, n - k, -1):
        last += (1.0 - last) * (1.0 - (1.0 - rng.random()) ** (1.0 / remaining))
        values.append(last)
    return values


def fingerprint(offsets: Sequence[float], images: Sequence[str]) -> dict[str, Any]:
    """What makes two runs the same load: how many requests, their intended send times (seconds
    from the start) and the image each sends (round robin over ``images``), as a SHA-256 that
    ``report --compare`` checks before it ranks runs."""
    digest = hashlib.sha256()
    for index, offset in enumerate(offsets):
        digest.update(f"{offset:.9f} {images[index % len(images)] if images else ''}\n".encode())
    return {"requests": len(offsets), "sha256": digest.hexdigest()}
