"""How the commands' options show and check their values, the same for every command."""

from __future__ import annotations

import math
from enum import StrEnum
from urllib.parse import urlsplit

import typer


def choices(names: type[StrEnum]) -> str:
    """How an Enum option shows its choices in --help: [local|kubernetes]."""
    return "[" + "|".join(n.value for n in names) + "]"


def positive(value: float | None) -> float | None:
    """A finite number above zero: typer's ranges let nan and inf through (a capacity of nan
    sized a schedule of nothing, an SLO of inf broke in no second)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a number above 0")
    return value


def http_url(value: str | None) -> str | None:
    """An http(s) URL with a host (and, if any, a port that parses): ``http://[::1`` and
    ``ftp://x`` were tracebacks from deep inside the client."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(f"{value!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:8000")
    return value
