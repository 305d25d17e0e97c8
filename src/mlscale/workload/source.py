"""One syntax for where a workload comes from, the same in ``loadtest``, ``compare``, ``simulate`` and
``workload show``: files (their format told by their first line), or a Prometheus range query; then
``--pick``, ``--start``/``--duration``, ``--speed`` and ``--peak`` (``transform``). ``resolve`` reads,
cuts, speeds and sizes, and records all of it in the workload's ``source`` (run.json keeps it).

=======================  ================================================================
first line               format
=======================  ================================================================
``HashOwner,HashApp,…``  Azure Functions 2019, per-minute counts (``azure_functions_2019``)
``app,func,end_time…``   Azure Functions 2021, per invocation (``azure_functions_2021``)
``TIMESTAMP,Context…``   Azure LLM inference 2023/2024, per request (``azure_llm``)
``timestamp[,…]``        request times (``timestamps``)
``{``                    Prometheus ``query_range`` JSON (``prometheus``), or a resolved
                         workload ``compare`` saved (``saved``)
anything else            per-second rates, the original design's ``workload.txt`` (``rates``)
=======================  ================================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlscale.errors import InputError
from mlscale.workload import (
    azure_functions_2019,
    azure_functions_2021,
    azure_llm,
    prometheus,
    rates,
    saved,
    timestamps,
    transform,
)
from mlscale.workload.core import Workload
from mlscale.workload.durations import instant, seconds, shown
from mlscale.workload.pick import parse_pick

FORMATS = (
    "saved",
    "rates",
    "azure-functions-2019",
    "azure-functions-2021",
    "azure-llm",
    "timestamps",
    "prometheus",
)


@dataclass(frozen=True)
class SourceOptions:
    files: tuple[Path, ...] = ()
    pick: str | None = None
    prometheus: str | None = None
    query: str | None = None
    start: str | None = None
    """A span into the trace (``6h``); with ``prometheus``, the range's first instant (``now-1d``)."""
    end: str | None = None
    step: str | None = None
    duration: str | None = None
    speed: float = 1.0
    peak: float | None = None

    def describe(self) -> dict[str, Any]:
        given = {
            "files": [str(f) for f in self.files], "pick": self.pick, "prometheus": self.prometheus,
            "query": self.query, "start": self.start, "end": self.end, "step": self.step,
            "duration": self.duration, "speed": self.speed if self.speed != 1 else None, "peak": self.peak,
        }  # fmt: skip
        return {key: value for key, value in given.items() if value not in (None, [])}

    @property
    def fetches(self) -> bool:
        return self.prometheus is not None


def detect(text: str) -> str:
    """The format of a file by its first line (see the table above)."""
    first = text.lstrip("\ufeff").lstrip().split("\n", 1)[0].strip()
    head = first.split(",")[0].strip()
    if first.startswith("{"):
        return "saved" if f'"format": "{saved.FORMAT}"' in text[:200] else "prometheus"
    return {
        "HashOwner": "azure-functions-2019",
        "app": "azure-functions-2021",
        "TIMESTAMP": "azure-llm",
        "timestamp": "timestamps",
    }.get(head, "rates")


def read(options: SourceOptions, now: float | None = None) -> tuple[Workload, str | None]:
    """The workload as its source has it (before the window, speed and size), and for a Prometheus
    query the answer's text (to keep beside a run)."""
    if options.fetches:
        if options.files:
            raise InputError("give WORKLOAD files or --prometheus URL, not both")
        return _fetched(options, time.time() if now is None else now)
    if options.query or options.end or options.step:
        raise InputError("--query, --end and --step go with --prometheus URL")
    if not options.files:
        raise InputError("give a WORKLOAD file (e.g. workloads/ramp.txt), or --prometheus URL --query Q")
    pick = parse_pick(options.pick)
    texts = [(rates.read_text(path), str(path)) for path in options.files]
    formats = {detect(text) for text, _ in texts}
    kind = detect(texts[0][0])
    if len(texts) > 1 and (formats != {"azure-functions-2019"}):
        raise InputError(
            "several WORKLOAD files are read in sequence only as Azure Functions 2019 day files; "
            f"these are {', '.join(sorted(formats))}"
        )
    if options.pick and kind not in ("azure-functions-2019", "azure-functions-2021"):
        raise InputError(
            f"--pick chooses functions of an Azure Functions trace; {options.files[0]} is {kind}"
        )
    text, path = texts[0]
    if kind == "azure-functions-2019":
        return azure_functions_2019.read(texts, pick), None
    if kind == "azure-functions-2021":
        return azure_functions_2021.read(text, path, pick), None
    if kind == "azure-llm":
        return azure_llm.read(text, path), None
    if kind == "timestamps":
        return timestamps.read(text, path), None
    if kind == "prometheus":
        return prometheus.read(text, path, Path(path).stem), None
    if kind == "saved":
        return saved.loads(text, path), None
    parsed = rates.parse_workload(text, path)
    return replace(parsed, source={"format": "rates", "files": [path], **parsed.source}), None


def _fetched(options: SourceOptions, now: float) -> tuple[Workload, str]:
    from mlscale.workload.fetch import query_range

    if not options.query:
        raise InputError("--prometheus needs --query, e.g. 'sum(rate(http_requests_total[1m]))'")
    start = instant(options.start or "now-1h", "--start", now)
    end = instant(options.end or "now", "--end", now)
    step = seconds(options.step or "60s", "--step")
    text = query_range(options.prometheus or "", options.query, start, end, step)
    label = f"Prometheus {options.query}"
    workload = prometheus.read(text, f"{options.prometheus} {options.query!r}", "prometheus", label)
    return replace(workload, source={**workload.source, "url": options.prometheus, "query": options.query,
                                     "start": start, "end": end}), text  # fmt: skip


def resolve(options: SourceOptions, now: float | None = None) -> tuple[Workload, str | None]:
    """The workload ``options`` ask for: read, cut to the window, sped up and sized, its ``source``
    saying all of it (``label``: "Azure Functions 2019, day 1, app 7c3f…, at 60×, peak 2.5 replicas")."""
    workload, fetched = read(options, now)
    label = workload.label
    if options.duration is not None or (options.start is not None and not options.fetches):
        begin = 0.0 if options.fetches else seconds(options.start or "0", "--start")
        span = None if options.duration is None else seconds(options.duration, "--duration")
        workload = transform.window(workload, begin, span)
        label += f", {shown(begin)}–{shown(begin + span)}" if span is not None else f", from {shown(begin)}"
    workload = transform.speed(workload, options.speed)
    if options.speed != 1:
        label += f", at {options.speed:g}×"
    if options.peak is not None:
        workload = transform.size_to_peak(workload, options.peak)
        label += f", peak {options.peak:g} replicas"
    # A saved workload (compare's) keeps what its own options were.
    source = {"given": options.describe(), **workload.source, "label": label}
    return replace(workload, source=source), fetched
