"""Spans and instants as people write them on a command line: ``90``, ``90s``, ``15m``, ``6h``, ``2d``;
and for a Prometheus range, ``now``, ``now-6h``, Unix seconds or an RFC 3339 time."""

from __future__ import annotations

import math
import re
from datetime import datetime

from mlscale.errors import InputError

_SPAN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?", re.ASCII)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds(text: str, what: str) -> float:
    """``90``, ``90s``, ``1.5m``, ``6h``, ``2d`` as seconds (>= 0)."""
    match = _SPAN.fullmatch(text.strip())
    if not match:
        raise InputError(f"{what} {text!r}: give a span such as 90 (seconds), 90s, 15m, 6h or 2d")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(value):
        raise InputError(f"{what} {text!r} is not a finite span")
    return value


def instant(text: str, what: str, now: float) -> float:
    """``now``, ``now-6h``, Unix seconds or an RFC 3339 time, as Unix seconds."""
    stripped = text.strip()
    if stripped == "now":
        return now
    if stripped.startswith("now-"):
        return now - seconds(stripped[4:], what)
    try:
        value = float(stripped)
    except ValueError:
        try:
            return datetime.fromisoformat(stripped.replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise InputError(
                f"{what} {text!r}: give now, now-6h, Unix seconds or a time like 2026-12-01T00:00:00Z"
            ) from exc
    if not math.isfinite(value):
        raise InputError(f"{what} {text!r} is not a finite time")
    return value


def shown(value: float) -> str:
    """A span the short way people write it: 6h, 90m, 45s, 1.5s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"
