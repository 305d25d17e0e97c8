"""Tables for an 80-column terminal, the same for every command.

No vertical rules (they cost three columns each); numbers right-aligned and never wrapped, so
that none is ever cut to "…"; text (a reason, a URL, a pod name) wraps instead; short headers
explained by a legend under the table. Wide data is turned on its side: one row per measure,
one column per run.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

MAX_WORD = 20
"""The longest word a text column keeps whole; longer ones (URLs, paths) fold."""


def terminal_table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    text: Sequence[str] = (),
    whole_words: Sequence[str] = (),
    legend: str | None = None,
) -> Table:
    """``text`` names the columns that hold words: left-aligned, and they wrap. The rest hold
    numbers: right-aligned, kept whole. ``whole_words`` (of ``text``) wrap between words only."""
    table = Table(
        title=title,
        caption=legend,
        box=box.SIMPLE_HEAD,
        caption_justify="left",
        title_justify="left",
        collapse_padding=True,  # one space between columns, not two: 8 columns gain 7
    )
    for index, name in enumerate(header):
        if name in whole_words:
            # Wide enough for its longest word (up to a limit: a URL still folds), so that a word
            # such as ScaleUpStabilized wraps whole instead of being cut in two.
            words = [word for row in rows for word in str(row[index]).split()]
            widest = max((len(word) for word in words), default=0)
            table.add_column(name, overflow="fold", min_width=min(widest, MAX_WORD))
        elif name in text:
            table.add_column(name, overflow="fold")
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def on_its_side(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], *, per_table: int = 3
) -> list[Table]:
    """Rows of many columns (one per run) as tables of one row per column of ``header``, with at
    most ``per_table`` runs side by side, each headed #1, #2, ... (the caller says which is which)."""
    tables = []
    for first in range(0, len(rows), per_table):
        chunk = rows[first : first + per_table]
        labels = [f"#{first + i + 1}" for i in range(len(chunk))]
        measures = [[name, *(row[i] for row in chunk)] for i, name in enumerate(header)]
        tables.append(terminal_table(title, ["", *labels], measures, text=[""]))
    return tables
