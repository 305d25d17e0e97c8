"""What one replica serves, measured on this machine when the system comes up.

Machines of the same kind differ by 2x in what one request costs (issue 13: 93.5 against 41.2
images/s on one thread), so a workload in absolute requests/s scales a replica count on one
machine and not on another. ``calibrate`` sends images one at a time straight to a ready
replica and reads the CPU its process used (psutil, as the HPA's metric does): from the CPU one
request costs follows what a replica serves at the HPA's CPU target, the unit of workloads
written in replicas (``# unit: replicas``). It then sends images two at a time, as the dispatcher
feeds a replica (two forwarders each), and counts what the replica finishes flat out: the unit of
workloads written in ``# unit: flat-out`` (88/s here, where one at a time gave 70/s: the next
request's decode and HTTP overlap the model).
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import psutil

from mlscale.images import ImagePool

WARMUP_REQUESTS = 3
MEASURED_REQUESTS = 24
FLAT_OUT_REQUESTS = 128
FLAT_OUT_CONCURRENCY = 2
"""The dispatcher's forwarders per replica: the most requests it has at one replica at once."""


@dataclass(frozen=True)
class Calibration:
    requests: int
    cpu_ms_per_request: float
    """CPU time of the replica's process per request (decode, model, HTTP)."""
    wall_ms_per_request: float
    capacity_at_target_rps: float
    """Requests/s that hold one replica at the HPA's CPU target."""
    max_rps: float
    """Requests/s one replica serves one at a time, back to back."""
    flat_out_rps: float
    """Requests/s one replica serves flat out under the dispatcher's concurrency (two at a time)."""
    cpu_request_milli: int
    target_cpu_utilization: int

    def to_json(self) -> dict[str, Any]:
        return {
            key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()
        }


def capacity_at_target(cpu_ms_per_request: float, cpu_request_milli: int, target_percent: int) -> float:
    """Requests/s whose CPU is ``target_percent`` of the request: the HPA's steady state for one replica."""
    return cpu_request_milli * target_percent / 100 / cpu_ms_per_request


def synthetic_image() -> str:
    """A 640x480 JPEG of noise, base64, for when no image folder is at hand."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


async def calibrate(
    url: str, pid: int, images: ImagePool | None, cpu_request_milli: int, target_percent: int
) -> Calibration:
    """Send images one at a time to the replica at ``url`` and measure its process ``pid``."""
    encoded = list(images.encoded) if images else [synthetic_image()]
    process = psutil.Process(pid)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def infer(index: int) -> None:
            body = {"image": encoded[index % len(encoded)], "top_k": 5}
            async with session.post(url + "/infer", json=body) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"calibration request answered {response.status}")

        for index in range(WARMUP_REQUESTS):
            await infer(index)
        before = process.cpu_times()
        started = time.monotonic()
        for index in range(MEASURED_REQUESTS):
            await infer(index)
        wall = time.monotonic() - started
        after = process.cpu_times()
        flat_out = await _flat_out(infer)
    cpu_ms = (after.user + after.system - before.user - before.system) * 1000 / MEASURED_REQUESTS
    cpu_ms = max(cpu_ms, 0.1)  # a clock tick is 10 ms: never divide by zero
    return Calibration(
        requests=MEASURED_REQUESTS,
        cpu_ms_per_request=cpu_ms,
        wall_ms_per_request=wall * 1000 / MEASURED_REQUESTS,
        capacity_at_target_rps=capacity_at_target(cpu_ms, cpu_request_milli, target_percent),
        max_rps=MEASURED_REQUESTS / wall,
        flat_out_rps=flat_out,
        cpu_request_milli=cpu_request_milli,
        target_cpu_utilization=target_percent,
    )


async def _flat_out(infer: Callable[[int], Awaitable[None]]) -> float:
    """Requests/s with ``FLAT_OUT_CONCURRENCY`` always outstanding, as a busy dispatcher keeps them."""
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        while next_index < FLAT_OUT_REQUESTS:
            next_index += 1
            await infer(next_index)

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(FLAT_OUT_CONCURRENCY)))
    return FLAT_OUT_REQUESTS / (time.monotonic() - started)
