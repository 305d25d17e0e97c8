"""A load test's progress as one plain line per second, for output that is not a terminal (a log,
a pipe, CI): a table redrawn in place would leave a pile of half-frames there."""

from __future__ import annotations

import math

from mlscale.autoscaling.reasons import short_reason
from mlscale.loadgen.progress import LiveSnapshot


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


def line(snapshot: LiveSnapshot) -> str:
    last = snapshot.last_second
    parts = [
        f"{snapshot.elapsed:.0f}/{snapshot.duration:.0f} s",
        f"sent {snapshot.sent}/{snapshot.total}",
        f"per s: intended {last.get('intended', 0)} sent {last.get('sent', 0)} "
        f"accepted {last.get('accepted', 0)} ok {last.get('completed', 0)} failed {last.get('failed', 0)}",
        f"late {snapshot.late}",
        f"p50/p95/p99 {_ms(snapshot.p50_ms)}/{_ms(snapshot.p95_ms)}/{_ms(snapshot.p99_ms)} ms",
        f"queue {'–' if snapshot.queue_depth is None else snapshot.queue_depth}",
    ]
    if snapshot.replicas:
        desired = (snapshot.backend or {}).get("desired_replicas", "–")
        ready = sum(r.state == "ready" for r in snapshot.replicas)
        each = ", ".join(
            f"{r.id} {r.state} {'–' if r.cpu_utilization is None else f'{r.cpu_utilization:.0f} %'}"
            for r in snapshot.replicas
        )
        parts.append(f"replicas {ready} ready/{desired} desired: {each}")
    if snapshot.decisions:
        decision = snapshot.decisions[-1]
        parts.append(
            f"last decision {decision.get('current')}→{decision.get('desired')}"
            f" ({short_reason(decision.get('reason')) or 'no reason'})"
        )
    return " · ".join(parts)
