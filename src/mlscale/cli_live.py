"""The Rich live view of a load test, refreshed each second."""

from __future__ import annotations

import math

from rich.table import Table

from mlscale.loadgen.progress import LiveSnapshot


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f} ms"


def render(snapshot: LiveSnapshot) -> Table:
    table = Table(
        title=f"mlscale loadtest  {snapshot.elapsed:5.0f}s / {snapshot.duration:.0f}s", expand=False
    )
    # Per-second columns are the last whole second; percentiles are of the last 10 s.
    for column in (
        "sent",
        "late",
        "int/s",
        "sent/s",
        "acc/s",
        "ok/s",
        "fail/s",
        "p50",
        "p95",
        "p99",
        "queue",
        "repl",
        "CPU",
    ):
        table.add_column(column, justify="right")
    last = snapshot.last_second
    backend = snapshot.backend or {}
    replicas = backend.get("replicas")
    table.add_row(
        f"{snapshot.sent:,}/{snapshot.total:,}",
        f"[red]{snapshot.late:,}[/]" if snapshot.late else "0",
        str(last.get("intended", 0)),
        str(last.get("sent", 0)),
        str(last.get("accepted", 0)),
        str(last.get("completed", 0)),
        f"[red]{last.get('failed', 0)}[/]" if last.get("failed") else "0",
        _ms(snapshot.p50_ms),
        _ms(snapshot.p95_ms),
        _ms(snapshot.p99_ms),
        "–" if snapshot.queue_depth is None else str(snapshot.queue_depth),
        "–" if replicas is None else f"{replicas}/{backend.get('desired_replicas', replicas)}",
        "–" if backend.get("cpu_utilization") is None else f"{backend['cpu_utilization']:.0f} %",
    )
    return table
