"""A pod's start-up as times: created, its container running, Ready (what ``report`` shows)."""

from __future__ import annotations

from typing import Any


def _epoch(moment: Any) -> float | None:
    return float(moment.timestamp()) if moment is not None else None


def pod_times(pod: Any) -> tuple[float | None, float | None, float | None]:
    """Epoch seconds a pod was created, its first container started running, and it became Ready."""
    running = [
        c.state.running.started_at
        for c in pod.status.container_statuses or []
        if c.state and c.state.running and c.state.running.started_at
    ]
    ready = [
        c.last_transition_time for c in pod.status.conditions or [] if (c.type, c.status) == ("Ready", "True")
    ]
    return (
        _epoch(pod.metadata.creation_timestamp),
        _epoch(min(running, default=None)),
        _epoch(ready[0] if ready else None),
    )
