"""``python -m bench [NAME ...]``: run benchmarks by name (all when none is given)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import dispatcher, engines, fidelity, inference, loadgen, overload, simulate_scale

BENCHMARKS: dict[str, Callable[[], None]] = {
    "inference": inference.main,
    "engines": engines.main,
    "dispatcher": dispatcher.main,
    "loadgen": loadgen.main,
    "overload": overload.main,
    "simulate": simulate_scale.main,
}
ON_REQUEST: dict[str, Callable[[], None]] = {"fidelity": fidelity.main}
"""Run only when named: real runs, about 20 minutes."""


def run(names: list[str]) -> int:
    known = {**BENCHMARKS, **ON_REQUEST}
    unknown = [name for name in names if name not in known]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    for name in names or list(BENCHMARKS):
        print(f"== {name} ==", flush=True)
        known[name]()
    return 0


sys.exit(run(sys.argv[1:]))
