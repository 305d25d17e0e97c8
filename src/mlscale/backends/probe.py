"""What a load test reads from the running system, whichever backend runs it (``loadgen.sampler``'s
``SystemProbe``): replicas and CPU each second, the autoscaler's decisions at the end."""

from __future__ import annotations

from typing import Any

from mlscale.backends import open_backend
from mlscale.backends.base import Backend
from mlscale.backends.state import read_state

SYSTEM_FIELDS = ("backend", "policy", "engine", "min_replicas", "max_replicas", "target_cpu_utilization",
                 "time_scale")  # fmt: skip


class BackendProbe:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def sample(self) -> dict[str, Any]:
        status = self.backend.status()
        return {
            "replicas": status.ready_replicas,
            "desired_replicas": status.desired_replicas,
            "cpu_utilization": status.mean_cpu_utilization,
            # Restarts so far of every process the backend runs (replicas and, locally, the dispatcher).
            "restarts": sum(r.restarts for r in status.replicas)
            + (status.dispatcher.restarts if status.dispatcher else 0),
            "last_decision": status.last_decision,
            "replica_samples": [
                {
                    "replica": r.id,
                    "ready": r.state == "ready",
                    "state": r.state,
                    "cpu_utilization": r.cpu_utilization,
                    "restarts": r.restarts,
                    "created_at": r.created_at,
                    "started_at": r.started_at,
                    "ready_at": r.ready_at,
                }
                for r in status.replicas
            ],
        }

    def decisions(self) -> list[dict[str, Any]]:
        return self.backend.decisions()

    def announce(self, rates: list[float], start_at: float) -> None:
        """The workload's plan, for a backend whose policy reads it (the local oracle); others ignore it."""
        announce = getattr(self.backend, "announce", None)
        if announce is not None:
            announce(rates, start_at)

    def describe(self) -> dict[str, Any]:
        """The system under test for run.json: backend, HPA numbers, time scale, calibration."""
        now = self.backend.status()
        described = {name: getattr(now, name) for name in SYSTEM_FIELDS}
        return {**described, **({"calibration": now.calibration} if now.calibration else {})}


def probe_running_system() -> BackendProbe | None:
    """A probe of the system that is up, or None when none is."""
    return BackendProbe(open_backend()) if read_state() is not None else None
