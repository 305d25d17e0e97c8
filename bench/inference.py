"""Inference: the in-process pipeline (baseline) against the HTTP service, in one run.

(a) decode + preprocess + compiled model at batch 1, one thread, in this process;
(b) the real service (one model thread) under 1, 4 and 16 concurrent clients.
Printed: images/s of each and the ratio (b)/(a). Images: the shipped photos as 800×600 JPEGs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from harness.services import IMAGES, free_port, start_module, wait_ready

DURATION_S = float(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = (1, 4, 16)


def photos_800x600() -> list[bytes]:
    out = []
    for path in sorted(IMAGES.iterdir()):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            with Image.open(path) as image:
                buffer = io.BytesIO()
                image.convert("RGB").resize((800, 600)).save(buffer, "JPEG", quality=90)
                out.append(buffer.getvalue())
    return out


def decode_costs(photos: list[bytes]) -> tuple[float, float]:
    """Mean ms to turn one photo into 224×224 RGB: full decode, then with draft mode."""
    from mlscale_inference.imaging import decode_image

    def full(data: bytes) -> None:
        with Image.open(io.BytesIO(data)) as image:
            image.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR).tobytes()

    def draft(data: bytes) -> None:
        decode_image(data, 224, 40_000_000)

    results = []
    for fn in (full, draft):
        start = time.perf_counter()
        for _ in range(20):
            for data in photos:
                fn(data)
        results.append((time.perf_counter() - start) / (20 * len(photos)) * 1000)
    return results[0], results[1]


def in_process_rate(photos: list[bytes]) -> float:
    from mlscale_inference.engines.keras_engine import KerasEngine

    return pipeline_rates(KerasEngine("none", threads=1), photos)["images_per_s"]


def pipeline_rates(model: Any, photos: list[bytes]) -> dict[str, float]:
    """Decode + model + top-5, one image after another for DURATION_S after a warm-up pass:
    images/s and images per CPU-second of this process."""
    import numpy as np

    from mlscale_inference.imaging import decode_image
    from mlscale_inference.labels import imagenet_labels
    from mlscale_inference.model import top_k

    labels = imagenet_labels()
    for data in photos:
        model.predict(decode_image(data, 224, 40_000_000)[np.newaxis])
    count = 0
    cpu0, start = time.process_time(), time.perf_counter()
    while time.perf_counter() - start < DURATION_S:
        pixels = decode_image(photos[count % len(photos)], 224, 40_000_000)
        top_k(model.predict(pixels[np.newaxis])[0], 5, labels)
        count += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return {"images_per_s": count / wall, "images_per_cpu_s": count / cpu}


async def http_rate(url: str, bodies: list[str] | list[bytes], clients: int) -> tuple[float, float]:
    """Images/s and median latency (ms) with ``clients`` closed-loop clients for DURATION_S: JSON
    bodies (str) as a user sends them, or raw image bytes as the dispatcher does."""
    kind = "application/octet-stream" if isinstance(bodies[0], bytes) else "application/json"
    latencies: list[float] = []
    stop = time.perf_counter() + DURATION_S

    async def client(session: aiohttp.ClientSession, offset: int) -> None:
        i = offset
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            async with session.post(
                f"{url}/infer", data=bodies[i % len(bodies)], headers={"content-type": kind}
            ) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"/infer answered {response.status}")
            latencies.append(time.perf_counter() - sent)
            i += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session, n) for n in range(clients)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


def main() -> None:
    photos = photos_800x600()
    bodies = [json.dumps({"image": base64.b64encode(p).decode()}) for p in photos]
    full_ms, draft_ms = decode_costs(photos)
    print(
        f"decode+resize of an 800x600 JPEG: full {full_ms:.2f} ms, draft mode {draft_ms:.2f} ms "
        f"({full_ms / draft_ms:.1f}x faster)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        service = start_module(
            "mlscale_inference",
            ["--weights", "none", "--threads", "1", "--max-pending", "64", "--log-level", "warning"],
            Path(tmp) / "inference.log",
            free_port(),
        )
        try:
            wait_ready(service, timeout=240)
            baseline = in_process_rate(photos)
            print(f"(a) in-process pipeline, 1 thread: {baseline:.1f} images/s")
            for clients in CONCURRENCY:
                asyncio.run(http_rate(service.url, bodies, clients))  # warm the connection pool
                rate, p50 = asyncio.run(http_rate(service.url, bodies, clients))
                print(
                    f"(b) HTTP, {clients:>2} clients: {rate:.1f} images/s, p50 {p50:.1f} ms, "
                    f"ratio (b)/(a) = {rate / baseline:.2f}"
                )
        finally:
            service.stop()
