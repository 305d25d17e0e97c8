"""How the local backend judges its processes, the way a kubelet judges containers: pure rules.

Probes follow Kubernetes' semantics (``pkg/kubelet/prober``): until the startup probe has
succeeded once, readiness and liveness are not run, and ``failureThreshold`` startup failures
restart the process; readiness turns true after ``successThreshold`` consecutive successes and
false after ``failureThreshold`` consecutive failures; ``failureThreshold`` consecutive liveness
failures restart the process. A probe that does not answer within ``timeoutSeconds`` failed.
The settings come from the chart's values (``inference.probes``, ``dispatcher.probes``): one home.

Restarts follow ``restartPolicy: Always`` with the kubelet's crash back-off: the first restart
at once, then 10 s doubling up to 300 s, reset after 10 minutes of running.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlscale.autoscaling.config import merged_values

BACKOFF_FIRST_S = 10.0
BACKOFF_MAX_S = 300.0
BACKOFF_RESET_S = 600.0


@dataclass(frozen=True)
class ProbeSpec:
    path: str
    period_s: float
    timeout_s: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> ProbeSpec:
        return cls(
            path=str(values["path"]),
            period_s=float(values.get("periodSeconds", 10)),
            timeout_s=float(values.get("timeoutSeconds", 1)),
            failure_threshold=int(values.get("failureThreshold", 3)),
            success_threshold=int(values.get("successThreshold", 1)),
        )


@dataclass(frozen=True)
class Probes:
    startup: ProbeSpec
    readiness: ProbeSpec
    liveness: ProbeSpec


def load_probes(values_file: Path, component: str) -> Probes:
    """``<component>.probes`` from the values as helm merges them: the chart's, with the file at
    ``values_file`` over them (component: inference or dispatcher). A file of only an autoscaling
    section once stopped the supervisor with a KeyError."""
    section = merged_values(values_file)[component]["probes"]
    return Probes(*(ProbeSpec.from_values(section[kind]) for kind in ("startup", "readiness", "liveness")))


@dataclass(frozen=True)
class ProbeState:
    started: bool = False
    ready: bool = False
    successes: int = 0
    """Consecutive successes of the probe now running (startup, then readiness)."""
    failures: int = 0
    """Consecutive failures of the startup or readiness probe."""
    liveness_failures: int = 0


@dataclass(frozen=True)
class Verdict:
    state: ProbeState
    restart: str | None = None
    """Why the process must be restarted (None: it may run on)."""


def after_startup_probe(spec: ProbeSpec, state: ProbeState, ok: bool) -> Verdict:
    if ok:
        return Verdict(replace(state, started=True, successes=0, failures=0))
    failures = state.failures + 1
    if failures >= spec.failure_threshold:
        return Verdict(replace(state, failures=failures), f"startup probe failed {failures} times")
    return Verdict(replace(state, failures=failures))


def after_readiness_probe(spec: ProbeSpec, state: ProbeState, ok: bool) -> ProbeState:
    if ok:
        successes = state.successes + 1
        ready = state.ready or successes >= spec.success_threshold
        return replace(state, ready=ready, successes=successes, failures=0)
    failures = state.failures + 1
    ready = state.ready and failures < spec.failure_threshold
    return replace(state, ready=ready, successes=0, failures=failures)


def after_liveness_probe(spec: ProbeSpec, state: ProbeState, ok: bool) -> Verdict:
    if ok:
        return Verdict(replace(state, liveness_failures=0))
    failures = state.liveness_failures + 1
    if failures >= spec.failure_threshold:
        return Verdict(replace(state, liveness_failures=failures), f"liveness probe failed {failures} times")
    return Verdict(replace(state, liveness_failures=failures))


def restart_delay(restarts: int, ran_for_s: float) -> float:
    """Seconds before restarting a process that just ended, already restarted ``restarts`` times."""
    if ran_for_s >= BACKOFF_RESET_S or restarts == 0:
        return 0.0
    return float(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** (restarts - 1)))
