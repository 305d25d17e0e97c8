"""Small real HTTP servers for tests, run by Uvicorn in a thread on 127.0.0.1.

``Receiver`` stands in for the load tester's ``/storeLatency`` (optionally failing a share of
posts, deterministically); ``fake_upstream`` for an inference replica that answers fast, slow,
or 503.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.services import free_port


class ThreadedServer:
    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serving(app: Starlette) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app).start()
    try:
        yield server
    finally:
        server.stop()


class Receiver:
    """Collects posted outcome records; fails ``fail_ratio`` of posts (500, nothing stored)."""

    def __init__(self, fail_ratio: float = 0.0, seed: int = 7) -> None:
        self.records: list[dict[str, Any]] = []
        self.posts = 0
        self.failed = 0
        self._random = random.Random(seed)
        self._fail_ratio = fail_ratio
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/storeLatency", self.store, methods=["POST"])])

    async def store(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        with self._lock:
            self.posts += 1
            if self._random.random() < self._fail_ratio:
                self.failed += 1
                return Response(b'{"error": "injected failure"}', 500)
            self.records.extend(body["records"])
        return Response(b'{"stored": true}', 200)

    def ids(self) -> list[str]:
        with self._lock:
            return [r["id"] for r in self.records]

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.records) >= count:
                    return list(self.records)
            time.sleep(0.02)
        raise AssertionError(f"received {len(self.records)} of {count} records in {timeout}s")


def fake_upstream(replica: str, status: int = 200, delay: float = 0.0) -> Starlette:
    """An /infer that answers ``status`` after ``delay`` seconds, naming itself ``replica``."""
    hits = {"count": 0}

    async def infer(request: Request) -> Response:
        await request.body()
        hits["count"] += 1
        if delay:
            await asyncio.sleep(delay)
        if status != 200:
            return Response(
                orjson.dumps({"error": "overloaded", "detail": "fake"}),
                status,
                {"retry-after": "1"},
                media_type="application/json",
            )
        body = {"predictions": [], "model": "fake", "replica": replica, "timings_ms": {}}
        return Response(orjson.dumps(body), media_type="application/json")

    app = Starlette(routes=[Route("/infer", infer, methods=["POST"])])
    app.state.hits = hits
    return app
