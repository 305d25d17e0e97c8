"""The live view of a load test: small panels laid out for the terminal it is drawn in.

80×24 is the floor: every header and value whole (never "…"), and one row per replica with its
CPU. More room goes to the last minute as sparklines, more decisions, longer bars and a restarts
column. The view is laid out each time Rich draws it, so a terminal resized during a run gets a
layout for its new size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlscale.autoscaling.reasons import short_reason
from mlscale.loadgen.progress import WINDOW_S, LiveSnapshot, ReplicaLine

BAR_SCALE = 200.0
"""A CPU bar spans 0–200 % of the request: local replicas ran at 110–120 % of theirs."""
WIDE = 110
"""From this many columns the view adds the restarts column and gives the queue more history."""
SPARKS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"
STATE_STYLE = {"ready": "green", "starting": "yellow", "terminating": "red"}
SERVED_HEADER = f"ok/{WINDOW_S} s"
TOP_HEIGHT = 6
"""The four panels of the top row: four lines each, inside their borders."""


class LiveView:
    """A snapshot, drawn to fit whatever size the console has when Rich draws it."""

    def __init__(self, snapshot: LiveSnapshot) -> None:
        self.snapshot = snapshot

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Rich's Live keeps the last line of the terminal for its cursor: one line fewer than it has.
        yield render(self.snapshot, console, options, options.max_height - 1)


def render(snapshot: LiveSnapshot, console: Console, options: ConsoleOptions, lines: int) -> RenderableType:
    """The view in ``options.max_width`` columns and at most ``lines`` lines: the top row, the
    replicas and the latest decision first; then, while they fit, the last minute as sparklines
    and earlier decisions. Heights are counted, not drawn twice: a frame took 30 ms that way."""
    width = options.max_width
    heading = _heading(snapshot)
    said = [_decision_line(d, snapshot.taken_at) for d in snapshot.decisions] or [Text("no decision yet")]
    said_heights = [len(text.wrap(console, width - 4)) for text in said]
    used = len(heading.wrap(console, width)) + TOP_HEIGHT + 2 + said_heights[-1]
    replicas, replica_lines = _replicas(snapshot, width, max(1, lines - used - 3))
    used += replica_lines
    parts: list[RenderableType] = [heading, _top_row(snapshot, width), replicas]
    if used + 2 + len(HISTORY_ROWS) <= lines:
        parts.append(_history(snapshot, width))
        used += 2 + len(HISTORY_ROWS)
    shown = 1
    while shown < len(said) and used + said_heights[-shown - 1] <= lines:
        used += said_heights[-shown - 1]
        shown += 1
    return Group(*parts, _panel(Group(*said[-shown:]), "autoscaler"))


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.0f}{unit}"


def _heading(snapshot: LiveSnapshot) -> Text:
    text = Text.assemble(
        ("mlscale loadtest", "bold"),
        f" · {snapshot.elapsed:,.0f} s of {snapshot.duration:,.0f} s",
        f" · sent {snapshot.sent:,} of {snapshot.total:,}",
    )
    if snapshot.late:
        text.append(f" · late {snapshot.late:,}", style="red")
    return text


def _pairs(rows: Sequence[tuple[str, str | Text]]) -> Table:
    grid = Table.grid(expand=True)
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _panel(body: RenderableType, title: str, height: int | None = None) -> Panel:
    return Panel(body, title=title, title_align="left", box=box.ROUNDED, padding=(0, 1), height=height)


def _top_row(snapshot: LiveSnapshot, width: int) -> Table:
    last = snapshot.last_second
    failed = last.get("failed", 0)
    wide = width >= WIDE
    queue_share = 2 if wide else 1
    history = max(4, width * queue_share // (3 + queue_share) - 4)
    row = Table.grid(expand=True)
    for share in (1, 1, 1, queue_share):
        row.add_column(ratio=share)
    row.add_row(
        _panel(_pairs([
            ("intended", str(last.get("intended", 0))), ("sent", str(last.get("sent", 0))),
            ("accepted", str(last.get("accepted", 0))),
            ("late", Text(f"{snapshot.late:,}", style="red" if snapshot.late else "")),
        ]), "load /s", TOP_HEIGHT),
        _panel(_pairs([
            ("ok/s", str(last.get("completed", 0))),
            ("failed/s", Text(str(failed), style="red" if failed else "")),
            ("ok", f"{snapshot.ok_total:,}"),
            ("failed", Text(f"{snapshot.failed_total:,}", style="red" if snapshot.failed_total else "")),
        ]), "outcomes", TOP_HEIGHT),
        _panel(_pairs([
            ("p50", _number(snapshot.p50_ms, " ms")), ("p95", _number(snapshot.p95_ms, " ms")),
            ("p99", _number(snapshot.p99_ms, " ms")),
        ]), f"latency {WINDOW_S} s", TOP_HEIGHT),
        _panel(_queue(snapshot.history.get("queue_depth", [])[-history:], snapshot.queue_depth,
                      _seconds_shown(snapshot, history)), "queue", TOP_HEIGHT),
    )  # fmt: skip
    return row


def sparkline(values: Sequence[float | None], floor: float = 0) -> str:
    """One character per second, scaled to the largest (or ``floor`` if larger); a second without
    a sample is a space."""
    top = max(floor, max((v for v in values if v is not None), default=0))
    return "".join(
        " " if v is None else SPARKS[0] if top == 0 else SPARKS[min(7, int(v / top * 7.999))] for v in values
    )


def _seconds_shown(snapshot: LiveSnapshot, cells: int) -> int:
    """Seconds of the run among the last ``cells`` of history (the ones before its start are empty)."""
    return sum(v is not None for v in snapshot.history.get("intended", [])[-cells:])


def _queue(history: Sequence[float | None], depth: int | None, seconds: int) -> Group:
    seen = [v for v in history if v is not None]
    return Group(
        _pairs([("now", _number(depth)), (f"max {seconds} s", _number(max(seen) if seen else None))]),
        Text(sparkline(history), style="cyan", no_wrap=True, overflow="crop"),
    )


def bar(value: float | None, target: float | None, cells: int) -> Text:
    """``value`` % of the request as ``cells`` cells over 0–``BAR_SCALE`` %, the target a ┃."""
    mark = None if target is None else min(cells - 1, round(target / BAR_SCALE * cells))
    fill = 0.0 if value is None else max(0.0, min(float(cells), value / BAR_SCALE * cells))
    color = "green" if value is None or target is None or value <= target else "red"
    text = Text(no_wrap=True)
    for cell in range(cells):
        if cell == mark:
            text.append("┃", style="bold")
        elif cell + 1 <= fill:
            text.append("█", style=color)
        elif int((fill - cell) * 8) > 0:
            text.append(EIGHTHS[int((fill - cell) * 8)], style=color)
        else:
            text.append("·", style="dim")
    return text


def _natural(replica: ReplicaLine) -> tuple[int, list[Any]]:
    order = {"ready": 0, "starting": 1, "terminating": 2}.get(replica.state, 3)
    return order, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", replica.id)]


def common_prefix(ids: Sequence[str]) -> str:
    """What long ids (a Deployment's pod names) share up to their last "-", shown once above them."""
    if len(ids) < 2 or max(len(i) for i in ids) <= 12:
        return ""
    shared = ids[0]
    for name in ids[1:]:
        while not name.startswith(shared):
            shared = shared[:-1]
    return shared[: shared.rfind("-") + 1]


def _title(snapshot: LiveSnapshot) -> str:
    ready = sum(r.state == "ready" for r in snapshot.replicas)
    desired = (snapshot.backend or {}).get("desired_replicas")
    system = snapshot.system
    title = f"replicas: {ready} ready" + ("" if desired is None else f", {desired} desired")
    if system.get("policy"):
        title += f" · policy {system['policy']}"
    if system.get("target_cpu_utilization") is not None:
        title += f", CPU target {system['target_cpu_utilization']} %"
    return title


def _replicas(snapshot: LiveSnapshot, width: int, room: int) -> tuple[Panel, int]:
    """The replicas' panel in at most ``room`` rows (two columns before any goes unlisted), and
    the lines it takes."""
    rows = sorted(snapshot.replicas, key=_natural)
    prefix = common_prefix([r.id for r in rows])
    target = snapshot.system.get("target_cpu_utilization")
    if not rows:
        return _panel(Text("no replica reported yet"), _title(snapshot)), 3
    # Two columns of replicas, without bars if need be, before any ready replica goes unlisted.
    columns = 1 if len(rows) <= room or width < 76 else 2
    fits = room * columns if len(rows) <= room * columns else (room - 1) * columns
    shown = rows[: max(1, fits)]
    per_column = math.ceil(len(shown) / columns)
    inner = (width - 4) // columns - 1
    tables = [
        _replica_table(shown[i * per_column : (i + 1) * per_column], prefix, target, inner, width)
        for i in range(columns)
    ]
    grid = Table.grid(expand=True, padding=(0, 1))
    for _ in tables:
        grid.add_column(ratio=1)
    grid.add_row(*tables)
    body: RenderableType = grid
    hidden = rows[len(shown) :]
    if hidden:
        states = ", ".join(
            f"{sum(r.state == s for r in hidden)} {s}"
            for s in STATE_STYLE
            if any(r.state == s for r in hidden)
        )
        body = Group(grid, Text(f"+{len(hidden)} more not shown: {states}", style="yellow"))
    notes = [f"ids after {prefix}"] if prefix else []
    if any(r.state == "ready" and r.cpu_utilization is None for r in shown):
        # A new replica has no CPU until the backend's first metric window since it became ready.
        notes.append("CPU –: no metric window yet")
    panel = _panel(body, _title(snapshot))
    if notes:
        panel.subtitle, panel.subtitle_align = " · ".join(notes), "left"
    return panel, 3 + per_column + bool(hidden)


def _replica_table(
    rows: Sequence[ReplicaLine], prefix: str, target: float | None, inner: int, width: int
) -> Table:
    wide = width >= WIDE
    ids = [r.id.removeprefix(prefix) for r in rows]
    cpu_texts = [_number(r.cpu_utilization, " %") for r in rows]
    fixed = [
        max(len("replica"), *(len(i) for i in ids)), max(len("state"), *(len(r.state) for r in rows)),
        max(len("CPU"), *(len(c) for c in cpu_texts)), len(SERVED_HEADER),
    ]  # fmt: skip
    if wide:
        fixed.append(len("restarts"))
    cells = inner - sum(fixed) - 2 * len(fixed)
    with_bar = cells >= 6
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, expand=False)
    table.add_column("replica", no_wrap=True)
    table.add_column("state", no_wrap=True)
    if with_bar:
        table.add_column(_bar_header(cells, target), no_wrap=True, width=cells)
    table.add_column("CPU", justify="right", no_wrap=True)
    table.add_column(SERVED_HEADER, justify="right", no_wrap=True)
    if wide:
        table.add_column("restarts", justify="right", no_wrap=True)
    for replica, name, cpu in zip(rows, ids, cpu_texts, strict=True):
        cells_row: list[RenderableType] = [
            name,
            Text(replica.state, style=STATE_STYLE.get(replica.state, "")),
        ]
        if with_bar:
            cells_row.append(bar(replica.cpu_utilization, target, cells))
        cells_row += [cpu, f"{replica.served:,}"]
        if wide:
            cells_row.append(str(replica.restarts))
        table.add_row(*cells_row)
    return table


def _bar_header(cells: int, target: float | None) -> str:
    mark = "" if target is None else f", ┃ {target:g} %"
    for header in (
        f"CPU of request (0–{BAR_SCALE:.0f} %{mark})",
        f"CPU 0–{BAR_SCALE:.0f} %{mark}",
        "CPU bar",
    ):
        if len(header) <= cells:
            return header
    return "CPU"


HISTORY_ROWS = (
    ("intended", "intended/s", "cyan"), ("ok", "ok/s", "green"), ("queue_depth", "queue", "cyan"),
    ("replicas", "replicas", "magenta"), ("cpu_utilization", "CPU %", "yellow"),
)  # fmt: skip


def _history(snapshot: LiveSnapshot, width: int) -> Panel:
    """The last minute, a sparkline per measure, each scaled to its own largest value; CPU to at
    least its target and replicas to at least their maximum, so that 11 % is not a full column."""
    floors = {"cpu_utilization": snapshot.system.get("target_cpu_utilization") or 0,
              "replicas": snapshot.system.get("max_replicas") or 0}  # fmt: skip
    rows = []
    for key, label, style in HISTORY_ROWS:
        values = snapshot.history.get(key, [])
        seen = [v for v in values if v is not None]
        now, top = _number(seen[-1] if seen else None), _number(max(seen) if seen else None)
        rows.append((label, values, style, f"now {now}", f"max {top}", floors.get(key, 0)))
    fixed = max(len(r[0]) for r in rows) + max(len(r[3]) for r in rows) + max(len(r[4]) for r in rows)
    cells = max(8, min(len(snapshot.history.get("intended", [])), width - 4 - fixed - 3))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, width=cells)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    for label, values, style, now_text, top_text, floor in rows:
        line = Text(sparkline(values[-cells:], floor), style=style, overflow="crop")
        grid.add_row(label, line, now_text, top_text)
    return _panel(grid, f"last {_seconds_shown(snapshot, cells)} s")


def _decision_line(decision: dict[str, Any], taken_at: float) -> Text:
    text = Text(f"{max(0.0, taken_at - float(decision['at'])):,.0f} s ago: ")
    current, desired = decision.get("current"), decision.get("desired")
    if current != desired:
        text.append(f"{current} → {desired} replicas", style="bold")
    else:
        text.append(f"stays at {desired} replica{'' if desired == 1 else 's'}")
    usage = decision.get("utilization")
    if usage is not None:
        text.append(f" · CPU {usage:g} % of request")
    reason = short_reason(decision.get("reason"))
    if reason:
        text.append(f" · {reason}")
    return text
