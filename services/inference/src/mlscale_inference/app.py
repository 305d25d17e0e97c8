"""The HTTP face of a replica: ``POST /infer``, ``/healthz``, ``/readyz``, ``/metrics``.

The model runs on the event loop, one request at a time, in turns (``mlscale_inference.turns``):
handing each request to a thread and back cost the loop's thread 0.85 ms of CPU per request on a
2-core VM (GIL hand-offs and wake-ups: about 6 context switches per request against 0.04), most of
what HTTP added to LiteRT's 10 ms. The loop polls its sockets between two turns, so health checks
and scrapes wait for about two inferences however many requests queue. What could hold the loop
for long runs on the worker thread instead: loading the model, and decoding an image over
``loop_max_pixels`` (a PNG costs about 37 ms per megapixel to decode). Admission is bounded: at
most ``max_pending`` requests are running or waiting; the next one gets 503 with ``Retry-After``
so a caller can try another replica.

The handlers are module-level and find their ``ReplicaState`` on ``request.app.state``; the model
comes from ``load_predictor`` (the settings' engine unless a test gives another), so tests run the app
in-process (httpx's ASGITransport) with no server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscale_http import BodyRefused
from mlscale_http import read_body as read_limited_body
from mlscale_inference import __version__, imaging, openapi
from mlscale_inference.config import Settings
from mlscale_inference.engines import load_engine
from mlscale_inference.imaging import ImageError, open_image
from mlscale_inference.labels import imagenet_labels
from mlscale_inference.metrics import InferenceMetrics
from mlscale_inference.model import INPUT_SIZE, MODEL_NAME, top_k
from mlscale_inference.startup import Launch
from mlscale_inference.turns import ModelTurns

log = logging.getLogger("mlscale_inference")

MAX_TOP_K = 1000
DEFAULT_TOP_K = 5


class Predictor(Protocol):
    def predict(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]: ...


def settings_engine(settings: Settings) -> Predictor:
    """The engine the settings name (Keras MobileNetV2 unless they say litert or onnx)."""
    model_file = settings.engine_file or None
    return load_engine(settings.engine, settings.weights, model_file, settings.model_threads)


@dataclass
class ReplicaState:
    """What the handlers and the draining server share."""

    settings: Settings
    metrics: InferenceMetrics = field(default_factory=InferenceMetrics.create)
    predictor: Predictor | None = None
    ready: bool = False
    draining: bool = False
    pending: int = 0
    load_error: str | None = None
    launch: Launch = field(default_factory=Launch)
    startup: dict[str, float] = field(default_factory=dict)
    """Seconds per start-up phase (``mlscale_inference.startup``), once ready."""
    labels: tuple[str, ...] = field(default_factory=imagenet_labels)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
    )
    """The worker thread: loading the model, and decoding large images, off the event loop."""
    turns: ModelTurns = field(default_factory=ModelTurns)
    """The model's turns on the event loop."""


class BadRequest(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": error, "detail": detail}, status, headers)


def state_of(request: Request) -> ReplicaState:
    state: ReplicaState = request.app.state.replica
    return state


async def load_model(state: ReplicaState, loader: Callable[[Settings], Predictor]) -> None:
    """Load and warm the model on its thread; a failure is kept for /readyz and the log."""
    times: dict[str, float] = {}

    def load_and_warm() -> Predictor:
        began = time.perf_counter()
        predictor = loader(state.settings)
        loaded = time.perf_counter()
        predictor.predict(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8))
        times.update(loaded=loaded - began, warmup=time.perf_counter() - loaded)
        return predictor

    try:
        state.predictor = await asyncio.get_running_loop().run_in_executor(state.executor, load_and_warm)
    except Exception as exc:  # the process stays up to say why on /readyz and in the log
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.exception("model failed to load")
        return
    state.ready = True
    state.metrics.ready.set(1)
    engine_import = float(getattr(state.predictor, "import_s", 0.0))  # a test's stand-in has none
    state.startup = startup_phases(state.launch, engine_import, times)
    for phase, seconds in state.startup.items():
        state.metrics.startup.labels(phase).set(seconds)
    settings = state.settings
    phases = {f"{phase}_s": round(seconds, 3) for phase, seconds in state.startup.items()}
    log.info(
        "model ready",
        extra={"engine": settings.engine, "weights": settings.weights_label,
               "threads": settings.model_threads, **phases},
    )  # fmt: skip


def startup_phases(launch: Launch, engine_import: float, times: dict[str, float]) -> dict[str, float]:
    """The phases of ``mlscale_inference.startup``: the engine's runtime import (inside the
    loader) is moved from ``load`` to ``import``."""
    phases = {
        "import": launch.imports_s + engine_import,
        "load": times["loaded"] - engine_import,
        "warmup": times["warmup"],
    }
    if launch.interpreter_s is not None:
        phases = {"interpreter": launch.interpreter_s, **phases}
    ready = launch.ready_s(time.perf_counter())
    if ready is not None:
        phases["ready"] = ready
    return phases


def lifespan_for(
    state: ReplicaState, loader: Callable[[Settings], Predictor]
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.turns.start()
        # Load in the background so /healthz answers (and liveness holds) while TF starts.
        loading = asyncio.create_task(load_model(state, loader))
        yield
        state.ready = False
        state.metrics.ready.set(0)
        await loading
        await state.turns.stop()
        state.executor.shutdown(wait=True)

    return lifespan


async def run_model(state: ReplicaState, data: bytes, k: int) -> tuple[list[dict[str, Any]], float, float]:
    """Top-k of the image, and the seconds its decode and its inference took (waits excluded)."""
    image = open_image(data, state.settings.max_pixels)  # the header only: cheap, on the loop
    imaging.check_decode_budget(image, INPUT_SIZE, state.settings.decode_budget)
    width, height = image.size
    if width * height > state.settings.loop_max_pixels:  # its decode would hold the loop up
        loop = asyncio.get_running_loop()
        pixels, decode_s = await loop.run_in_executor(state.executor, decode, image)
        predictions, infer_s = await state.turns.run(lambda: classify(state, pixels, k))
        return predictions, decode_s, infer_s

    def turn() -> tuple[list[dict[str, Any]], float, float]:
        pixels, decode_s = decode(image)
        predictions, infer_s = classify(state, pixels, k)
        return predictions, decode_s, infer_s

    return await state.turns.run(turn)


def decode(image: Image.Image) -> tuple[npt.NDArray[np.uint8], float]:
    began = time.perf_counter()
    pixels = imaging.to_tensor(image, INPUT_SIZE)
    return pixels, time.perf_counter() - began


def classify(
    state: ReplicaState, pixels: npt.NDArray[np.uint8], k: int
) -> tuple[list[dict[str, Any]], float]:
    assert state.predictor is not None
    began = time.perf_counter()
    probabilities = state.predictor.predict(pixels[np.newaxis])[0]
    return top_k(probabilities, k, state.labels), time.perf_counter() - began


async def read_body(request: Request, limit: int) -> bytes:
    try:
        return await read_limited_body(request, limit)
    except BodyRefused as exc:
        raise BadRequest(exc.status, exc.error, exc.detail) from exc


def parse_top_k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise BadRequest(
            422, "invalid_field", f"'top_k' must be an integer from 1 to {MAX_TOP_K}, got {value!r}"
        )
    return value


def parse_raw(body: bytes, query: Mapping[str, str], max_image_bytes: int) -> tuple[bytes, int]:
    """A raw image body (``openapi.RAW_TYPES``), ``top_k`` in the query string."""
    if not body:
        raise BadRequest(400, "invalid_image", "the body is empty: send the image's bytes")
    if len(body) > max_image_bytes:
        raise BadRequest(
            413, "image_too_large", f"the image is {len(body)} bytes; the limit is {max_image_bytes}"
        )
    text = query.get("top_k")
    if text is None:
        return body, DEFAULT_TOP_K
    # isdigit alone admits '³' or '٣', which int() refuses or reads
    return body, parse_top_k(int(text) if text.isascii() and text.isdigit() else text)


def parse_request(body: bytes, max_image_bytes: int) -> tuple[bytes, int]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "invalid_json", f"the body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest(400, "invalid_body", "the body must be a JSON object with an 'image' field")
    if "image" not in payload:
        raise BadRequest(400, "missing_field", "'image' is required: a base64 JPEG or PNG")
    encoded = payload["image"]
    if not isinstance(encoded, str):
        raise BadRequest(422, "invalid_field", "'image' must be a base64 string")
    k = parse_top_k(payload.get("top_k", DEFAULT_TOP_K))
    if encoded.startswith("data:") and "," in encoded:  # tolerate data URLs
        encoded = encoded.split(",", 1)[1]
    if len(encoded) > max_image_bytes * 4 // 3 + 4:
        raise BadRequest(413, "image_too_large", f"the image is over {max_image_bytes} bytes")
    try:
        image = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(400, "invalid_base64", f"'image' is not valid base64: {exc}") from exc
    if not image:
        raise BadRequest(400, "invalid_image", "'image' is empty")
    if len(image) > max_image_bytes:
        raise BadRequest(
            413, "image_too_large", f"the image is {len(image)} bytes; the limit is {max_image_bytes}"
        )
    return image, k


async def infer(request: Request) -> Response:
    state = state_of(request)
    started = time.perf_counter()
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
    headers = {"x-request-id": request_id}
    response, outcome = await handle_infer(state, request, headers)
    state.metrics.requests.labels(outcome).inc()
    elapsed = time.perf_counter() - started
    if outcome == "ok":
        state.metrics.latency.labels("total").observe(elapsed)
    log.info(
        "infer",
        extra={
            "request_id": request_id,
            "status": response.status_code,
            "outcome": outcome,
            "ms": round(elapsed * 1000, 2),
        },
    )
    return response


async def handle_infer(
    state: ReplicaState, request: Request, headers: dict[str, str]
) -> tuple[Response, str]:
    settings, metrics = state.settings, state.metrics
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        body = await read_body(request, settings.max_body_bytes)
        if kind in openapi.RAW_TYPES:
            image, k = parse_raw(body, request.query_params, settings.max_image_bytes)
        else:
            image, k = parse_request(body, settings.max_image_bytes)
    except BadRequest as exc:
        return error_response(exc.status, exc.error, exc.detail, headers), "bad_request"
    retry = {**headers, "retry-after": "1"}
    if not state.ready:
        detail = state.load_error or "the model is still loading"
        return error_response(503, "not_ready", detail, retry), "not_ready"
    if state.pending >= settings.max_pending:
        detail = f"{state.pending} requests already admitted (limit {settings.max_pending})"
        return error_response(503, "overloaded", detail, retry), "overloaded"
    state.pending += 1
    metrics.in_flight.set(state.pending)
    try:
        predictions, decode_s, infer_s = await run_model(state, image, k)
    except ImageError as exc:
        status = {"unsupported_image_format": 415, "image_too_large": 413}.get(exc.kind, 400)
        return error_response(status, exc.kind, exc.detail, headers), "bad_request"
    finally:
        state.pending -= 1
        metrics.in_flight.set(state.pending)
    metrics.latency.labels("decode").observe(decode_s)
    metrics.latency.labels("infer").observe(infer_s)
    answer = {
        "predictions": predictions,
        "model": MODEL_NAME,
        "replica": settings.replica_id,
        "timings_ms": {"decode": round(decode_s * 1000, 3), "infer": round(infer_s * 1000, 3)},
    }
    return json_response(answer, headers=headers), "ok"


async def healthz(request: Request) -> Response:
    return json_response({"status": "alive", "replica": state_of(request).settings.replica_id})


async def readyz(request: Request) -> Response:
    state = state_of(request)
    replica = state.settings.replica_id
    if state.ready and not state.draining:
        return json_response({"status": "ready", "replica": replica})
    reason = "draining" if state.draining else (state.load_error or "loading")
    return json_response({"status": "not_ready", "reason": reason, "replica": replica}, 503)


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(state_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


CONTRACT = orjson.dumps(openapi.document(MAX_TOP_K))


async def openapi_endpoint(request: Request) -> Response:
    return Response(CONTRACT, media_type="application/json")


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "not_found", f"no route {request.method} {request.url.path}")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", f"{type(exc).__name__}: the service failed; see its log")


ROUTES = [
    Route("/infer", infer, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/openapi.json", openapi_endpoint, methods=["GET"]),
]


def create_app(
    settings: Settings,
    load_predictor: Callable[[Settings], Predictor] | None = None,
    state: ReplicaState | None = None,
) -> Starlette:
    """Build the app. ``load_predictor`` defaults to the engine the settings name."""
    state = state or ReplicaState(settings)
    state.metrics.cpu_request.set(settings.cpu)
    state.metrics.model.info(
        {
            "model": MODEL_NAME,
            "weights": settings.weights_label,
            "engine": settings.engine,
            "replica": settings.replica_id,
            "threads": str(settings.model_threads),
            "version": __version__,
        }
    )
    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan_for(state, load_predictor or settings_engine),
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )
    app.state.replica = state
    return app
