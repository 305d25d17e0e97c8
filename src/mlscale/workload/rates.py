"""Rate files, the original design's ``workload.txt``: requests/s separated by commas and/or newlines
(``10,15,20`` or one per line); blank lines and ``#`` comments are ignored. Each rate holds one second,
or ``SECONDS`` after a line ``# step: SECONDS`` (``# step: 60``: one rate a minute, as a per-minute
trace has them). ``# unit: replicas`` or ``# unit: flat-out`` says the values are multiples of one
replica's capacity (see ``core``). ``mlscale workload gen`` writes these files."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from mlscale.errors import WorkloadError
from mlscale.workload.core import MAX_RATE, UNITS, Workload

_SETTING = re.compile(r"#\s*(unit|step|source):\s*(.*?)\s*$")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)  # not '１０' (fullwidth)
MAX_STEP_SECONDS = 86_400.0


def parse_workload(text: str, path: str = "<workload>") -> Workload:
    rates: list[float] = []
    settings: dict[str, Any] = {"unit": "rps", "step": 1.0, "source": ""}
    comments: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        setting = _SETTING.fullmatch(line.strip())
        if setting:
            key, value = setting.groups()
            settings[key] = _setting(key, value, path, number)
            continue
        content, _, comment = line.partition("#")
        if comment.strip() and not rates and not content.strip():
            comments.append(comment.strip())
        column = 1
        for item in content.split(","):
            stripped = item.strip()
            where = column + (len(item) - len(item.lstrip()))
            column += len(item) + 1
            if not stripped:
                if content.strip() and "," in content:
                    raise WorkloadError(path, number, where, "empty value between commas")
                continue
            rates.append(_rate(stripped, path, number, where))
    if not rates:
        raise WorkloadError(path, 1, 1, "the workload is empty: give rates such as 10,15,20")
    source = {"format": "rates", "files": [path], "label": settings["source"]} if settings["source"] else {}
    return Workload(
        Path(path).stem,
        tuple(rates),
        " ".join(comments),
        settings["unit"],
        step_seconds=settings["step"],
        source=source,
    )


def _setting(key: str, value: str, path: str, line: int) -> Any:
    column = 1
    if key == "unit":
        if value not in UNITS:
            raise WorkloadError(path, line, column, f"unit {value!r}: use {', '.join(UNITS)}")
        return value
    if key == "step":
        if not _NUMBER.fullmatch(value) or not 0.001 <= float(value) <= MAX_STEP_SECONDS:
            raise WorkloadError(
                path, line, column, f"step {value!r}: give the seconds each rate holds, 0.001 to 86400"
            )
        return float(value)
    return value


def _rate(text: str, path: str, line: int, column: int) -> float:
    if not _NUMBER.fullmatch(text):
        raise WorkloadError(path, line, column, f"{text!r} is not a number of requests per second")
    value = float(text)
    if not math.isfinite(value):
        raise WorkloadError(path, line, column, f"{text} is not a finite number")
    if value < 0:
        raise WorkloadError(path, line, column, f"{text} is negative; rates must be >= 0")
    if value > MAX_RATE:
        raise WorkloadError(path, line, column, f"{text} is over the limit of {MAX_RATE:,} per second")
    return value


def read_text(path: Path, what: str = "workload") -> str:
    """A file's text, or a ``WorkloadError`` that says why not (never a FIFO that blocks forever)."""
    if path.exists() and not path.is_file():
        raise WorkloadError(str(path), 0, 0, f"not a regular file: give a {what} file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise WorkloadError(str(path), 0, 0, f"no such {what} file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(str(path), 0, 0, f"cannot read the {what}: {exc}") from exc


def load_workload(path: Path) -> Workload:
    return parse_workload(read_text(path), str(path))


def format_rates(workload: Workload, per_line: int = 10) -> str:
    """A rate file that reads back as ``workload`` (its rates to 6 significant digits)."""
    lines = [f"# {line}" for line in workload.description.splitlines() if line.strip()]
    if workload.label != workload.name:
        lines.append(f"# source: {workload.label}")
    if workload.unit != "rps":
        lines.append(f"# unit: {workload.unit}")
    if workload.step_seconds != 1:
        lines.append(f"# step: {workload.step_seconds:g}")
    values = [f"{rate:.6g}" for rate in workload.rates]
    lines.extend(",".join(values[i : i + per_line]) for i in range(0, len(values), per_line))
    return "\n".join(lines) + "\n"
