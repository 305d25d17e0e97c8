"""The Azure Functions trace of 2019 (Shahrad et al., "Serverless in the Wild", USENIX ATC 2020),
published at https://github.com/Azure/AzurePublicDataset/blob/master/AzureFunctionsDataset2019.md.

Each day is a file ``invocations_per_function_md.anon.dNN.csv`` (NN = 01..14): the header
``HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440``, then one line a function with its
invocations in each minute of the day (UTC). Days given in sequence are one trace; a function absent
from a day had no invocations that day. The result holds each minute's count exactly (a rate of
count/60 held 60 s); ``schedule`` spreads each minute's requests within it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mlscale.workload.core import Workload
from mlscale.workload.pick import Pick, chosen_keys
from mlscale.workload.table import Row, header, split, width

NAME = "Azure Functions 2019"
COLUMNS = ("HashOwner", "HashApp", "HashFunction", "Trigger")
MINUTES_PER_DAY = 1440
_DAY = re.compile(r"^.*\.d(\d+)(\.csv)?$")

Key = tuple[str, str]
"""(HashApp, HashFunction)"""


def read_day(text: str, path: str, pick: Pick) -> tuple[int, dict[Key, list[int]]]:
    """One day file: its minutes and, for each function ``pick`` may keep, its per-minute counts."""
    first = header(text, path, COLUMNS, NAME)
    minutes = len(first.fields) - len(COLUMNS)
    for index in range(len(COLUMNS), len(first.fields)):
        if first.fields[index].strip() != str(index - len(COLUMNS) + 1):
            raise first.fail(index, f"minute column {first.fields[index]!r}: expected {index - 3}")
    if minutes < 1:
        raise first.fail(len(first.fields) - 1, "no minute columns: the header ends 1,2,...,1440")
    counts: dict[Key, list[int]] = {}
    for row in split(text, path):
        width(row, len(first.fields))
        app, function = row.fields[1].strip(), row.fields[2].strip()
        if not pick.keeps(app, function):
            continue
        values = _counts(row)
        previous = counts.get((app, function))
        counts[(app, function)] = (
            values if previous is None else [a + b for a, b in zip(previous, values, strict=True)]
        )
    return minutes, counts


def _counts(row: Row) -> list[int]:
    """The row's minute counts: converted at once (a day file holds tens of millions of them), and
    only when that fails, field by field to name the one at fault."""
    try:
        counts = list(map(int, row.fields[len(COLUMNS) :]))
        if min(counts, default=0) >= 0:
            return counts
    except ValueError:
        pass
    return [int(row.number(i, "invocations", integer=True)) for i in range(len(COLUMNS), len(row.fields))]


def read(texts: Sequence[tuple[str, str]], pick: Pick) -> Workload:
    """Day files (text, path) in sequence as one per-minute trace of what ``pick`` keeps."""
    days = [read_day(text, path, pick) for text, path in texts]
    totals: dict[Key, int] = {}
    for _, counts in days:
        for key, values in counts.items():
            totals[key] = totals.get(key, 0) + sum(values)
    keep = chosen_keys(pick, totals, lambda key: key[1])
    series: list[int] = []
    for minutes, counts in days:
        day = [0] * minutes
        for key in keep & set(counts):
            day = [a + b for a, b in zip(day, counts[key], strict=True)]
        series.extend(day)
    names = [Path(path).name for _, path in texts]
    label = f"{NAME}, {_days(names)}, {pick.label}"
    source = {"format": "azure-functions-2019", "files": [p for _, p in texts], "pick": pick.label,
              "functions": len(keep), "label": label}  # fmt: skip
    return Workload(
        "azure2019-" + "-".join(_DAY.sub(r"d\1", Path(n).stem) for n in names),
        tuple(count / 60 for count in series),
        f"{label}: {len(keep)} function(s), {sum(series):,} invocations",
        step_seconds=60.0,
        source=source,
    )


def _days(names: Sequence[str]) -> str:
    found = [_DAY.search(n) for n in names]
    if all(found):
        days = [str(int(m.group(1))) for m in found if m]
        return ("day " if len(days) == 1 else "days ") + ", ".join(days)
    return ", ".join(names)
