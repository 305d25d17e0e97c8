"""A replica's start-up, phase by phase: how long from the process's start to serving.

Phases: ``interpreter`` (process start → ``main``: Python and the entry point's imports),
``import`` (the service's modules and the engine's runtime: TensorFlow for keras), ``load`` (the
model built or read), ``warmup`` (its first inference), and ``ready`` (process start → ready, the
sum). They are logged once and exported as ``mlscale_inference_startup_seconds{phase}``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

PHASES = ("interpreter", "import", "load", "warmup", "ready")


def process_age() -> float | None:
    """Seconds since this process started, from ``/proc`` (Linux); None where there is none."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 of proc(5): start time, clock ticks after boot
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@dataclass
class Launch:
    """What the entry point measured before the app existed (a test's app has no entry point)."""

    interpreter_s: float | None = None
    """Process start → ``main``; None where the process's start is unknown (or in a test)."""
    main_at: float | None = None
    """``perf_counter`` when ``main`` began."""
    imports_s: float = 0.0
    """``main`` → the app's modules imported."""

    @classmethod
    def at_main(cls) -> Launch:
        return cls(interpreter_s=process_age(), main_at=time.perf_counter())

    def imported(self) -> None:
        if self.main_at is not None:
            self.imports_s = time.perf_counter() - self.main_at

    def ready_s(self, now: float) -> float | None:
        """Process start → ``now`` (a ``perf_counter``)."""
        if self.interpreter_s is None or self.main_at is None:
            return None
        return self.interpreter_s + now - self.main_at
