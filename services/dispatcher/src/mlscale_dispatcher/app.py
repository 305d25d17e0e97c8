"""The dispatcher's HTTP face.

``POST /enqueue`` validates cheaply (the image is checked as base64, never decoded as an
image), keeps its bytes, queues, and answers 202 at once; 429 + ``Retry-After`` when the queue is full (in
requests or in bytes of images); 409 for an id it already took; 503 while shutting down.
``GET /results?after=N`` serves outcomes for clients that missed callbacks (with the result token,
when the dispatcher has one: the ids are the run's); ``GET /stats`` is the live view; ``PUT /upstreams``
(only with the control token) replaces the replica list as a backend scales.

The handlers are module-level and find their ``DispatcherState`` on ``request.app.state``; the HTTP
sessions are made by the lifespan unless ``create_app`` is given them, so tests run the app
in-process (httpx's ASGITransport) with no server.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import hmac
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscale_dispatcher import openapi
from mlscale_dispatcher.config import ConfigError, Settings, check_url
from mlscale_dispatcher.discovery import discover_forever
from mlscale_dispatcher.forwarder import Forwarder, Job
from mlscale_dispatcher.ledger import Record
from mlscale_dispatcher.metrics import BusySecondsCollector
from mlscale_dispatcher.state import DispatcherState, Sessions
from mlscale_http import BodyRefused, read_body

log = logging.getLogger("mlscale_dispatcher")

MAX_ID_LENGTH = 200
# Ids travel on as the X-Request-ID header and into logs: a control character once killed a
# forwarder (aiohttp refuses it in a header). RFC 3986's unreserved characters plus ':'.
ID_PATTERN = re.compile(rf"[A-Za-z0-9._~:-]{{1,{MAX_ID_LENGTH}}}")
ID_RULE = f"1 to {MAX_ID_LENGTH} characters from A-Z a-z 0-9 . _ ~ : -"
MAX_CURSOR = 2**53  # JSON-safe integers: a larger 'after' cannot be a sequence number
RESULTS_PAGE = 1000


class BadRequest(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": error, "detail": detail}, status, headers)


def state_of(request: Request) -> DispatcherState:
    state: DispatcherState = request.app.state.dispatcher
    return state


def lifespan_for(
    state: DispatcherState, given: Sessions | None
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings, ledger = state.settings, state.ledger
        sessions = given or Sessions.open()
        forwarder = Forwarder(settings, state.queue, state.pool, ledger, state.metrics, sessions.forward)
        state.forwarder = forwarder
        state.metrics.registry.register(BusySecondsCollector(forwarder.busy.seconds))
        forwarder.resize()
        tasks = [asyncio.create_task(forwarder.watch_workers())]
        if settings.discover is not None:
            discovery = discover_forever(
                settings.discover, settings.discover_interval, state.replace_upstreams
            )
            tasks.append(asyncio.create_task(discovery))

        async def post(records: list[Record]) -> None:
            await state.post_results(sessions.report, records)

        if settings.result_url is not None:
            reporting = ledger.report_forever(post, settings.report_batch, settings.report_interval)
            tasks.append(asyncio.create_task(reporting))
        log.info(
            "dispatcher ready",
            extra={
                "upstreams": list(settings.upstreams),
                "discover": settings.discover,
                "workers": forwarder.wanted_workers(),
                "drain_rate": settings.drain_rate,
            },
        )
        yield
        state.draining = True
        dropped = forwarder.drop_everything_left()
        await forwarder.stop_workers()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if settings.result_url is not None:
            deadline = asyncio.get_running_loop().time() + 5.0
            if not await ledger.flush(post, settings.report_batch, deadline):
                log.error("results not delivered at exit", extra={"unsent": ledger.unsent})
        log.info("dispatcher stopped", extra={"dropped": dropped, "counts": ledger.counts})
        if given is None:
            await sessions.close()

    return lifespan


async def read_json(request: Request, limit: int) -> Any:
    try:
        raw = await read_body(request, limit)
    except BodyRefused as exc:
        raise BadRequest(exc.status, exc.error, exc.detail) from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "invalid_json", f"the body is not JSON: {exc}") from exc


def parse_job(payload: Any, max_image_bytes: int) -> Job:
    if not isinstance(payload, dict):
        raise BadRequest(400, "invalid_body", "the body must be a JSON object with an 'image' field")
    if "image" not in payload:
        raise BadRequest(400, "missing_field", "'image' is required: a base64 JPEG or PNG")
    image = payload["image"]
    if not isinstance(image, str):
        raise BadRequest(422, "invalid_field", "'image' must be a base64 string")
    if not image:
        raise BadRequest(400, "invalid_image", "'image' is empty")
    if len(image) > max_image_bytes * 4 // 3 + 4:
        raise BadRequest(413, "image_too_large", f"the image is over {max_image_bytes} bytes")
    try:  # base64 is decoded (kept as bytes), not the image: decoding pictures is inference's work
        data = binascii.a2b_base64(image, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(400, "invalid_base64", f"'image' is not valid base64: {exc}") from exc
    job_id = payload.get("id")
    if job_id is None:
        job_id = uuid.uuid4().hex
    elif not isinstance(job_id, str) or not ID_PATTERN.fullmatch(job_id):
        raise BadRequest(422, "invalid_field", f"'id' must be a string of {ID_RULE}")
    sent_at = payload.get("sent_at")
    if sent_at is not None and (isinstance(sent_at, bool) or not isinstance(sent_at, (int, float))):
        raise BadRequest(422, "invalid_field", "'sent_at' must be a number (epoch seconds)")
    return Job(job_id, data, None if sent_at is None else float(sent_at))


def reject_full(state: DispatcherState, why: str) -> Response:
    state.rejected += 1
    state.metrics.requests.labels("rejected").inc()
    return error_response(429, "queue_full", why, {"retry-after": "1"})


async def enqueue(request: Request) -> Response:
    state = state_of(request)
    if state.draining:
        return error_response(
            503, "shutting_down", "the dispatcher is draining; send elsewhere", {"retry-after": "5"}
        )
    full = state.queue.refusal()  # a rejection must stay cheap under overload: no JSON or base64 work
    if full:
        return reject_full(state, full)
    try:
        payload = await read_json(request, state.settings.max_body_bytes)
        job = parse_job(payload, state.settings.max_image_bytes)
    except BadRequest as exc:
        return error_response(exc.status, exc.error, exc.detail)
    if job.id in state.ids:
        return error_response(
            409, "duplicate_id", f"id {job.id!r} was already accepted: one id, one job (its outcome stands)"
        )
    full = state.queue.refusal(len(job.image))
    if full:
        return reject_full(state, full)
    state.queue.put_nowait(job)
    state.ids.add(job.id)  # only once queued: after a 429 the same id may come again
    state.accepted += 1
    state.metrics.requests.labels("accepted").inc()
    depth = state.queue.qsize()
    state.metrics.queue_depth.set(depth)
    return json_response({"id": job.id, "queue_depth": depth}, 202)


def bearer_matches(request: Request, expected: str) -> bool:
    # Header values arrive latin-1 decoded; compare bytes (compare_digest refuses non-ASCII str).
    token = request.headers.get("authorization", "").removeprefix("Bearer ").encode("latin-1")
    return hmac.compare_digest(token, expected.encode())


async def results(request: Request) -> Response:
    expected = state_of(request).settings.result_token
    if expected and not bearer_matches(request, expected):  # the ids and outcomes are the run's own
        return error_response(
            401, "unauthorized", "GET /results needs 'Authorization: Bearer <the result token>'"
        )
    try:
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", str(RESULTS_PAGE)))
    except ValueError:
        return error_response(400, "invalid_query", "'after' and 'limit' must be integers")
    if not 0 <= after <= MAX_CURSOR or not 0 < limit <= RESULTS_PAGE:
        return error_response(
            400, "invalid_query", f"'after' must be in 0..{MAX_CURSOR} and 'limit' in 1..{RESULTS_PAGE}"
        )
    records, cursor, truncated = state_of(request).ledger.since(after, limit)
    return json_response({"records": records, "next": cursor, "truncated": truncated})


async def stats(request: Request) -> Response:
    state = state_of(request)
    forwarder, ledger = state.forwarder, state.ledger
    return json_response(
        {
            "queue_depth": state.queue.qsize(),
            "max_queue": state.settings.max_queue,
            "queue_bytes": state.queue.queued_bytes,
            "max_queue_bytes": state.settings.max_queue_bytes,
            "in_flight": len(forwarder.in_flight) if forwarder else 0,
            "busy_seconds": forwarder.busy.seconds() if forwarder else 0.0,
            "workers": forwarder.wanted_workers() if forwarder else 0,
            "accepted": state.accepted,
            "rejected": state.rejected,
            "outcomes": ledger.counts,
            "upstreams": state.pool.snapshot(time.monotonic()),
            "report": {
                "unsent": ledger.unsent,
                "posted": ledger.report.posted,
                "failed_posts": ledger.report.failed_posts,
                "overflowed": ledger.report.overflowed,
            },
            "draining": state.draining,
            "time": time.time(),
        }
    )


async def put_upstreams(request: Request) -> Response:
    state = state_of(request)
    expected = state.settings.control_token
    if not expected or not bearer_matches(request, expected):
        return error_response(403, "forbidden", "PUT /upstreams needs the dispatcher's control token")
    try:
        payload = await read_json(request, state.settings.max_body_bytes)
        urls = payload.get("upstreams") if isinstance(payload, dict) else None
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise BadRequest(422, "invalid_field", "'upstreams' must be a list of URLs")
        checked = [check_url("upstream", u) for u in urls]
    except BadRequest as exc:
        return error_response(exc.status, exc.error, exc.detail)
    except ConfigError as exc:
        return error_response(422, "invalid_field", str(exc))
    state.replace_upstreams(checked)
    log.info("upstreams replaced", extra={"upstreams": checked})
    return json_response({"upstreams": state.pool.snapshot(time.monotonic())})


async def healthz(request: Request) -> Response:
    return json_response({"status": "alive"})


async def readyz(request: Request) -> Response:
    state = state_of(request)
    if state.draining:
        return json_response({"status": "not_ready", "reason": "draining"}, 503)
    return json_response({"status": "ready", "upstreams": len(state.pool)})


async def metrics_endpoint(request: Request) -> Response:
    state = state_of(request)
    state.metrics.queue_depth.set(state.queue.qsize())
    state.metrics.report_pending.set(state.ledger.unsent)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


CONTRACT = orjson.dumps(openapi.document(ID_PATTERN.pattern, MAX_CURSOR, RESULTS_PAGE))


async def openapi_endpoint(request: Request) -> Response:
    return Response(CONTRACT, media_type="application/json")


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "not_found", f"no route {request.method} {request.url.path}")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", f"{type(exc).__name__}: the dispatcher failed; see its log")


ROUTES = [
    Route("/enqueue", enqueue, methods=["POST"]),
    Route("/results", results, methods=["GET"]),
    Route("/stats", stats, methods=["GET"]),
    Route("/upstreams", put_upstreams, methods=["PUT"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/openapi.json", openapi_endpoint, methods=["GET"]),
]


def create_app(
    settings: Settings, state: DispatcherState | None = None, sessions: Sessions | None = None
) -> Starlette:
    """The dispatcher as an ASGI app. ``sessions``: forward and report with these (the caller
    closes them) instead of sessions the lifespan opens and closes."""
    state = state or DispatcherState(settings)
    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan_for(state, sessions),
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )
    app.state.dispatcher = state
    return app
