"""Which of a trace's functions a run replays: ``function=HASH``, ``app=HASH`` (its functions summed),
``top=N`` (the N busiest functions summed) or, without a pick, every function summed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mlscale.errors import InputError

KINDS = ("function", "app", "top")
K = TypeVar("K")


@dataclass(frozen=True)
class Pick:
    kind: str = "all"
    value: str = ""

    @property
    def label(self) -> str:
        if self.kind == "all":
            return "all functions"
        if self.kind == "top":
            return f"top {self.value} functions"
        return f"{self.kind} {self.value[:12]}"

    def keeps(self, app: str, function: str) -> bool:
        """For ``function`` and ``app`` picks (``top`` needs every function's total first)."""
        return self.kind in ("all", "top") or (function if self.kind == "function" else app) == self.value


def parse_pick(text: str | None) -> Pick:
    if not text:
        return Pick()
    kind, equals, value = text.partition("=")
    if not equals or kind not in KINDS or not value:
        raise InputError(f"--pick {text!r}: give function=HASH, app=HASH or top=N")
    if kind == "top" and not (value.isascii() and value.isdigit() and int(value) > 0):
        raise InputError(f"--pick {text!r}: top takes a whole number above 0")
    return Pick(kind, value)


def chosen_keys(pick: Pick, totals: dict[K, int], name: Callable[[K], str]) -> set[K]:
    """The functions ``pick`` keeps, by their totals (``totals`` holds only those a function or app
    pick matched): an unmatched pick is an error, not a run of nothing."""
    if pick.kind == "all":
        return set(totals)
    if pick.kind == "top":
        return set(sorted(totals, key=lambda key: (-totals[key], name(key)))[: int(pick.value)])
    keys = set(totals)
    if not keys:
        raise InputError(f"--pick {pick.kind}={pick.value}: no such {pick.kind} in the trace")
    return keys
