"""Running the CLI's async work on uvloop, with start-up objects frozen out of the collector.

uvloop cut the load generator's send lag at 2,000 requests/s (p99 50 -> 6 ms, before the
sender also paused the collector; ``nox -s bench -- loadgen``).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run_async(work: Coroutine[Any, Any, T]) -> T:
    # Objects alive now (imports, the image pool) never become garbage: freezing them keeps each
    # collection's work proportional to what the run itself allocates.
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)
