"""CSV as the published traces have it (a header line, then comma-separated fields, no quoting), read
line by line so that every complaint names the line and the column it is about."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from mlscale.errors import WorkloadError


@dataclass(frozen=True)
class Row:
    path: str
    line: int
    fields: tuple[str, ...]
    columns: tuple[int, ...]
    """The 1-based character column where each field starts."""

    def fail(self, index: int, problem: str) -> WorkloadError:
        column = self.columns[index] if index < len(self.columns) else 1
        return WorkloadError(self.path, self.line, column, problem)

    def number(self, index: int, what: str, *, integer: bool = False, minimum: float = 0.0) -> float:
        text = self.fields[index].strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError as exc:
            kind = "a whole number" if integer else "a number"
            raise self.fail(index, f"{what} {text!r} is not {kind}") from exc
        if not math.isfinite(value) or value < minimum:
            raise self.fail(index, f"{what} {text!r} is not a finite number >= {minimum:g}")
        return value


def split(text: str, path: str) -> Iterator[Row]:
    """Every non-blank line after the first (the header is ``header``'s): its fields and columns."""
    for number, line in enumerate(text.splitlines(), start=1):
        if number == 1 or not line.strip():
            continue
        yield _row(path, number, line)


def _row(path: str, number: int, line: str) -> Row:
    if '"' in line:
        raise WorkloadError(path, number, line.index('"') + 1, "quoted fields are not part of this format")
    fields = line.split(",")
    columns, at = [], 1
    for item in fields:
        columns.append(at)
        at += len(item) + 1
    return Row(path, number, tuple(fields), tuple(columns))


def header(text: str, path: str, expected: Sequence[str], name: str) -> Row:
    """The first line, checked to start with ``expected`` (case as published)."""
    first = text.split("\n", 1)[0].rstrip("\r").lstrip("\ufeff")
    row = _row(path, 1, first)
    for index, column in enumerate(expected):
        got = row.fields[index].strip() if index < len(row.fields) else ""
        if got != column:
            raise row.fail(
                min(index, len(row.fields) - 1),
                f"the header's column {index + 1} is {got!r}, not {column!r}: "
                f"{name} files start {','.join(expected)}",
            )
    return row


def width(row: Row, expected: int) -> None:
    if len(row.fields) != expected:
        raise row.fail(
            min(len(row.fields), expected) - 1 if len(row.fields) > expected else len(row.fields) - 1,
            f"{len(row.fields)} fields where the header has {expected}",
        )


def timestamp(row: Row, index: int, what: str) -> float:
    """Seconds: a number as it is, or an ISO 8601 / RFC 3339 time (fractions past microseconds cut;
    no zone is UTC) as Unix seconds."""
    text = row.fields[index].strip()
    try:
        return float(text) if _numeric(text) else _iso(text)
    except ValueError as exc:
        raise row.fail(
            index, f"{what} {text!r} is neither seconds nor a time like 2023-11-16 18:15:46.680590"
        ) from exc


def _numeric(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value)


def _iso(text: str) -> float:
    head, dot, fraction = text.replace("Z", "+00:00").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in fraction:
            fraction, _, rest = fraction.partition(sign)
            zone = sign + rest
    if dot:
        if not fraction.isdigit():
            raise ValueError(text)
        head = f"{head}.{fraction[:6]:0<6}"
    parsed = datetime.fromisoformat(head + zone)
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
