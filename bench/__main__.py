"""``python -m bench [NAME ...]``: run benchmarks by name (all when none is given)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import dispatcher, engines, inference, loadgen, overload

BENCHMARKS: dict[str, Callable[[], None]] = {
    "inference": inference.main,
    "engines": engines.main,
    "dispatcher": dispatcher.main,
    "loadgen": loadgen.main,
    "overload": overload.main,
}


def run(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    for name in names or list(BENCHMARKS):
        print(f"== {name} ==", flush=True)
        BENCHMARKS[name]()
    return 0


sys.exit(run(sys.argv[1:]))
