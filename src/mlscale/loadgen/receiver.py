"""The original design's ``POST /storeLatency``: where the dispatcher reports each outcome.

Records are kept by id; the first one for an id wins, later copies are counted as duplicates
(the dispatcher retries posts, so a post that timed out on its side may arrive twice).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class OutcomeStore:
    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.unknown = 0
        self.expected: set[str] | None = None

    def add(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            key = record.get("id")
            if not isinstance(key, str):
                continue
            if self.expected is not None and key not in self.expected:
                self.unknown += 1  # another client's request through the same dispatcher
                continue
            if key in self.by_id:
                self.duplicates += 1
            else:
                self.by_id[key] = record


def store_latency_endpoint(current: Callable[[], OutcomeStore]) -> Callable[[Request], Awaitable[Response]]:
    """The handler, storing into whichever store ``current()`` names at the time of the post."""

    async def store_latency(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
            records = payload["records"] if isinstance(payload, dict) else None
            if not isinstance(records, list):
                raise ValueError("'records' must be a list")
        except (orjson.JSONDecodeError, KeyError, ValueError) as exc:
            body = {"error": "invalid_body", "detail": f"expected {{'records': [...]}}: {exc}"}
            return Response(orjson.dumps(body), 400, media_type="application/json")
        current().add(records)
        return Response(orjson.dumps({"stored": len(records)}), media_type="application/json")

    return store_latency


def receiver_app(store: OutcomeStore) -> Starlette:
    return Starlette(routes=[Route("/storeLatency", store_latency_endpoint(lambda: store), methods=["POST"])])
