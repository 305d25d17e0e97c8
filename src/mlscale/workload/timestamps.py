"""A plain CSV of request times: a header whose first column is ``timestamp`` (other columns are
ignored), then one line a request, its time in seconds (any origin) or as an ISO 8601 / RFC 3339
time (``2026-12-08T10:00:00.250Z``). Replayed at its own times, from the first one; the lines need
not be in order."""

from __future__ import annotations

from pathlib import Path

from mlscale.workload.core import Workload, from_times
from mlscale.workload.table import header, split, timestamp

NAME = "timestamps"
COLUMNS = ("timestamp",)


def read(text: str, path: str) -> Workload:
    first = header(text, path, COLUMNS, "timestamp CSV")
    times: list[float] = []
    for row in split(text, path):
        if len(row.fields) > len(first.fields):
            raise row.fail(
                len(first.fields), f"{len(row.fields)} fields where the header has {len(first.fields)}"
            )
        times.append(timestamp(row, 0, "timestamp"))
    label = f"request times, {Path(path).name}"
    return from_times(Path(path).stem, times, {"format": "timestamps", "files": [path], "label": label},
                      f"{label}: {len(times):,} requests")  # fmt: skip
