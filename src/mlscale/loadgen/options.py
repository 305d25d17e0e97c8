"""What a load test is asked to do: the schedule (how requests are spread) and the run (where they
go, how long to wait for outcomes, where the run is written). Validated when made; the CLI and the
``--serve`` API build the same objects."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlscale import defaults
from mlscale.errors import InputError
from mlscale.workload import Arrival, Workload, per_second_rates, planned_requests, schedule

MAX_PLANNED = 500_000
"""Requests one run may plan through the API (its schedule, tasks and records stay well under a
GB): a bigger one is refused; the original design's sustained scenario is 18,000."""
MAX_STEP_SECONDS = 86_400.0
MAX_SCALE = 10_000.0


@dataclass(frozen=True)
class ScheduleOptions:
    step_seconds: float | None = None
    """Hold each rate this many seconds (None: as long as the workload says, 1 s for a rate file)."""
    scale: float = 1.0
    """Multiply every rate (for a workload in replicas: by what one replica serves, too)."""
    max_images: int | None = None
    arrival: Arrival = Arrival.UNIFORM
    random_seed: int | None = None

    def __post_init__(self) -> None:
        step = self.step_seconds
        if step is not None and not (math.isfinite(step) and 0.001 <= step <= MAX_STEP_SECONDS):
            raise InputError(f"step seconds must be in 0.001..{MAX_STEP_SECONDS:g}, not {self.step_seconds}")
        if not (math.isfinite(self.scale) and 0 <= self.scale <= MAX_SCALE):
            raise InputError(f"scale must be in 0..{MAX_SCALE:g}, not {self.scale}")
        if self.max_images is not None and self.max_images < 1:
            raise InputError(f"max images must be >= 1, not {self.max_images}")
        object.__setattr__(self, "arrival", Arrival(self.arrival))

    def planned(self, workload: Workload) -> int:
        """How many requests the schedule will hold, computed without building it."""
        total = planned_requests(workload, step_seconds=self.step_seconds, scale=self.scale)
        return total if self.max_images is None else min(total, self.max_images)

    def offsets(self, workload: Workload) -> list[float]:
        return schedule(
            workload,
            step_seconds=self.step_seconds,
            scale=self.scale,
            arrival=self.arrival,
            seed=self.random_seed,
            max_requests=self.max_images,
        )

    def plan(self, workload: Workload) -> list[float]:
        """Requests/s of each second of the schedule: what the oracle policy plans from."""
        return per_second_rates(workload, scale=self.scale, step_seconds=self.step_seconds)

    def describe(self) -> dict[str, Any]:
        """For run.json's ``options``."""
        return {
            "step_seconds": self.step_seconds,
            "scale": self.scale,
            "max_images": self.max_images,
            "arrival": str(self.arrival),
            "random_seed": self.random_seed,
        }


@dataclass(frozen=True)
class LoadTestOptions:
    dispatcher_url: str = defaults.DISPATCHER_URL
    listen_host: str = defaults.LISTEN_HOST
    listen_port: int = defaults.LISTEN_PORT
    drain_timeout: float = 30.0
    late_ms: float = 10.0
    runs_dir: Path = Path("runs")
    result_token: str | None = None
    """The bearer token the dispatcher's outcome posts must carry (None: posts are not checked)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Workload options, the system under test etc., copied into run.json."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dispatcher_url", self.dispatcher_url.rstrip("/"))
        if not 0 <= self.listen_port < 65536:
            raise InputError(f"the listen port must be in 0..65535, not {self.listen_port}")
        if not (math.isfinite(self.drain_timeout) and self.drain_timeout >= 0):
            raise InputError(f"the drain timeout must be >= 0 s, not {self.drain_timeout}")
