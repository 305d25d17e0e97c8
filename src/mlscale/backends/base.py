"""The one protocol both backends implement, the status they report, and the state file.

The state file (``.mlscale/state.json`` under the working directory, or ``$MLSCALE_STATE_DIR``)
remembers which backend is up, so ``loadtest``, ``status`` and ``down`` find the running system.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlscale.errors import MlscaleError


@dataclass
class ReplicaStatus:
    id: str
    url: str
    ready: bool
    terminating: bool = False
    cpu_milli: float | None = None
    """CPU use over the last metric window, in millicores."""
    cpu_utilization: float | None = None
    """Percent of the CPU request."""
    pid: int | None = None
    restarts: int = 0
    """Times the replica's process was restarted (crashed, or failed its liveness probe)."""
    alive: bool = True


@dataclass
class ProcessHealth:
    """A process of the system as its supervisor sees it (the local backend's dispatcher)."""

    pid: int | None
    alive: bool
    ready: bool
    restarts: int = 0
    last_exit: int | None = None
    last_restart_reason: str | None = None


@dataclass
class SystemStatus:
    backend: str
    dispatcher_url: str
    replicas: list[ReplicaStatus]
    desired_replicas: int
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    time_scale: float = 1.0
    last_decision: dict[str, Any] | None = None
    dispatcher: ProcessHealth | None = None
    """The dispatcher process, where the backend runs it itself (local)."""
    calibration: dict[str, Any] | None = None
    """What one replica serves on this machine, measured at ``up`` (local; see ``calibration``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ready_replicas(self) -> int:
        return sum(1 for r in self.replicas if r.ready and not r.terminating)

    @property
    def mean_cpu_utilization(self) -> float | None:
        values = [
            r.cpu_utilization for r in self.replicas if r.cpu_utilization is not None and not r.terminating
        ]
        return sum(values) / len(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SystemStatus:
        data = dict(data)
        replicas = [ReplicaStatus(**r) for r in data.pop("replicas")]
        dispatcher = data.pop("dispatcher", None)
        return cls(replicas=replicas, dispatcher=ProcessHealth(**dispatcher) if dispatcher else None, **data)


class Backend(Protocol):
    name: str

    def up(self) -> SystemStatus:
        """Bring the system up and return once the dispatcher and the minimum replicas are ready."""
        ...

    def status(self) -> SystemStatus: ...

    def decisions(self) -> list[dict[str, Any]]:
        """Every autoscaling decision so far: time, metric, recommendation, result, reason."""
        ...

    def down(self) -> None: ...


def cpu_millicores(quantity: str) -> float:
    """A Kubernetes CPU quantity (``2``, ``0.5``, ``500m``, ``250000u``, ``123456789n``) in millicores.

    Both backends speak it: the local one for its replicas' request, the kubernetes one for
    pod requests and the metrics API's usage.
    """
    match = re.fullmatch(r"([0-9.]+)([numk]?)", quantity.strip())
    if match is None:
        raise ValueError(f"{quantity!r} is not a CPU quantity")
    number, suffix = float(match.group(1)), match.group(2)
    return number * {"n": 1e-6, "u": 1e-3, "m": 1.0, "": 1000.0, "k": 1e6}[suffix]


class NotUp(MlscaleError):
    pass


def state_dir() -> Path:
    return Path(os.environ.get("MLSCALE_STATE_DIR", ".mlscale"))


def state_path() -> Path:
    return state_dir() / "state.json"


def read_state() -> dict[str, Any] | None:
    try:
        data = json.loads(state_path().read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MlscaleError(f"{state_path()} is unreadable ({exc}); remove it if no system is up") from None
    return data if isinstance(data, dict) else None


def write_state(data: dict[str, Any]) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2))
    temporary.replace(path)


def clear_state() -> None:
    state_path().unlink(missing_ok=True)
