"""How the commands' options show and check their values, the same for every command."""

from __future__ import annotations

import math
from enum import StrEnum

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
