"""The Azure Functions invocation trace of 2021 (Zhang et al., "Faster and Cheaper Serverless Computing
on Harvested Resources", SOSP 2021), published at
https://github.com/Azure/AzurePublicDataset/blob/master/AzureFunctionsInvocationTrace2021.md.

One file (``AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt``), header ``app,func,end_timestamp,
duration``, then one line an invocation: its app and function (hashed), when it ended and how long it
ran (seconds from the trace's start). An invocation arrived at ``end_timestamp - duration``; the
result replays those arrival times from the first one.
"""

from __future__ import annotations

from pathlib import Path

from mlscale.workload.core import Workload, from_times
from mlscale.workload.pick import Pick, chosen_keys
from mlscale.workload.table import header, split, width

NAME = "Azure Functions 2021"
COLUMNS = ("app", "func", "end_timestamp", "duration")


def read(text: str, path: str, pick: Pick) -> Workload:
    header(text, path, COLUMNS, NAME)
    arrivals: dict[tuple[str, str], list[float]] = {}
    for row in split(text, path):
        width(row, len(COLUMNS))
        app, function = row.fields[0].strip(), row.fields[1].strip()
        if not pick.keeps(app, function):
            continue
        end = row.number(2, "end_timestamp")
        duration = row.number(3, "duration")
        arrivals.setdefault((app, function), []).append(end - duration)
    totals = {key: len(times) for key, times in arrivals.items()}
    keep = chosen_keys(pick, totals, lambda key: key[1])
    times = [t for key in keep for t in arrivals[key]]
    label = f"{NAME}, {pick.label}"
    source = {"format": "azure-functions-2021", "files": [path], "pick": pick.label, "functions": len(keep),
              "label": label}  # fmt: skip
    return from_times(Path(path).stem, times, source, f"{label}: {len(times):,} invocations")
