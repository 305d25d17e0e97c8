"""What mlscale's own HTTP faces share: the load tester's receiver and ``--serve``, and the local
supervisor's control API.

``read_json`` reads a body bounded, typed and said plainly: every failure is a ``BodyError`` that
becomes a 4xx with ``{"error", "detail"}`` (over the limit 413, read no further than the limit; a
Content-Type other than JSON 415; not JSON 400). ``bearer_ok`` checks a token in constant time.
``EmbeddedServer`` is Uvicorn inside a process that owns its signals itself.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterator
from typing import Any

import orjson
import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from mlscale_http import BodyRefused, read_body

MAX_CONTROL_BODY = 1024 * 1024
"""/runLoadTest and /generateReport bodies: a workload string of ~100,000 rates fits."""
MAX_RESULTS_BODY = 64 * 1024 * 1024
"""/storeLatency: the dispatcher posts up to 100 records (~40 KB) a batch; room for bigger ones."""


class BodyError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail

    def response(self) -> Response:
        return json_error(self.status, self.error, self.detail)


def json_error(status: int, error: str, detail: str) -> Response:
    return Response(orjson.dumps({"error": error, "detail": detail}), status, media_type="application/json")


async def read_json(request: Request, limit: int, *, empty: Any = None) -> Any:
    """The body as JSON; ``empty`` when there is none (None: a body is required)."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", ""):
        raise BodyError(415, "unsupported_media_type", f"send application/json, not {kind!r}")
    try:
        raw = await read_body(request, limit)
    except BodyRefused as exc:
        raise BodyError(exc.status, exc.error, exc.detail) from exc
    if not raw.strip():
        if empty is not None:
            return empty
        raise BodyError(400, "invalid_json", "the body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"the body is not JSON: {exc}") from exc


def bearer_ok(request: Request, token: str | None) -> bool:
    """True when no token is required or the request carries it (compared in constant time)."""
    if token is None:
        return True
    given = request.headers.get("authorization", "").removeprefix("Bearer ").encode("latin-1")
    return hmac.compare_digest(given, token.encode())


def forbidden(what: str) -> Response:
    return json_error(401, "unauthorized", f"{what} needs 'Authorization: Bearer <token>'")


class EmbeddedServer(uvicorn.Server):
    """Uvicorn inside a process that handles SIGTERM and Ctrl-C itself (the CLI, the supervisor)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
