"""The original design's ``POST /storeLatency``: where the dispatcher reports each outcome.

Records are kept by id; the first one for an id wins. The same record arriving again (a post
the dispatcher retried after it timed out on its side, or the catch-up read of ``/results``
after a restart) is no news; a different outcome for an id already answered is counted as a
duplicate (``duplicate_outcomes``: a request served twice). A post
must carry the shared result token when one is set (the dispatcher sends it), so no other
process can write outcomes into a run; a malformed batch is refused whole with a 4xx naming
the first bad record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscale.defaults import RESULT_PATH
from mlscale.results import DISPATCHER_OUTCOMES
from mlscale.web import MAX_RESULTS_BODY, BodyError, bearer_ok, forbidden, read_json


def check_records(payload: Any) -> list[dict[str, Any]]:
    """``{"records": [...]}``, each an object with a string ``id`` and a known ``outcome``."""
    records = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        raise BodyError(400, "invalid_body", "expected {'records': [...]}")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise BodyError(422, "invalid_record", f"records[{index}] must be an object with a string 'id'")
        if record.get("outcome") not in DISPATCHER_OUTCOMES:
            raise BodyError(
                422,
                "invalid_record",
                f"records[{index}].outcome must be one of {', '.join(DISPATCHER_OUTCOMES)}",
            )
        finished = record.get("finished_at")
        if isinstance(finished, bool) or not isinstance(finished, int | float):
            raise BodyError(422, "invalid_record", f"records[{index}].finished_at must be a number (epoch s)")
    return records


def same_outcome(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """One outcome delivered twice (a retried post, or /results read after a dispatcher restart
    re-sending what a callback brought): equal but for the ledger's sequence number."""
    return {k: v for k, v in one.items() if k != "seq"} == {k: v for k, v in other.items() if k != "seq"}


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
            known = self.by_id.get(key)
            if known is None:
                self.by_id[key] = record
            elif not same_outcome(known, record):
                self.duplicates += 1


def store_latency_endpoint(
    current: Callable[[], OutcomeStore], token: str | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """The handler, storing into whichever store ``current()`` names at the time of the post."""

    async def store_latency(request: Request) -> Response:
        if not bearer_ok(request, token):
            return forbidden("POST /storeLatency")
        try:
            records = check_records(await read_json(request, MAX_RESULTS_BODY))
        except BodyError as exc:
            return exc.response()
        current().add(records)
        return Response(orjson.dumps({"stored": len(records)}), media_type="application/json")

    return store_latency


def receiver_app(store: OutcomeStore, token: str | None = None) -> Starlette:
    return Starlette(
        routes=[Route(RESULT_PATH, store_latency_endpoint(lambda: store, token), methods=["POST"])]
    )
