"""``mlscale loadtest --serve``: the original design's load-tester HTTP API, for remote use.

The second face of the load tester beside the CLI: both build the same ``ScheduleOptions`` and
``LoadTestOptions`` and run the same ``loadgen.runner.LoadTest``.

POST /runLoadTest     {"maxImages": N, "workload": "10,15,20" | [10, 15, 20], ...} -> 202, starts a run
GET  /runLoadTest     the current or last run's progress
POST /storeLatency    outcomes from the dispatcher, for the run in progress
POST /generateReport  {"totalRequests": N} -> waits for the run to finish, writes its report
                      (stats.json, PNG figures, report.html) and answers the statistics

One run at a time (a second /runLoadTest while one runs is 409): two overlapping open-loop
schedules would make neither's numbers mean anything. /runLoadTest and /generateReport need the
serve token (``Authorization: Bearer``, from ``.mlscale/serve-token``), /storeLatency the result
token the dispatcher sends. A run is bounded before it is built (``MAX_PLANNED`` requests, step
and scale limits), and its schedule is built off the event loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscale.contracts.serve import serve_document
from mlscale.defaults import RESULT_PATH
from mlscale.errors import InputError
from mlscale.images import ImagePool
from mlscale.loadgen.options import MAX_PLANNED, MAX_SCALE, MAX_STEP_SECONDS, LoadTestOptions, ScheduleOptions
from mlscale.loadgen.receiver import OutcomeStore, store_latency_endpoint
from mlscale.loadgen.runner import LoadTest, LoadTestResult
from mlscale.report.build import Report, ReportOptions, write_report
from mlscale.report.load import load_run
from mlscale.web import MAX_CONTROL_BODY, BodyError, bearer_ok, forbidden, read_json
from mlscale.workload import Workload, parse_workload


@dataclass(frozen=True)
class RunRequest:
    """What one /runLoadTest asks for; unset fields fall back to the command line's defaults."""

    workload: Workload
    schedule: ScheduleOptions


class BadRequest(Exception):
    pass


def _number(body: dict[str, Any], key: str, default: float, minimum: float, maximum: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{key!r} must be a number")
    if not minimum <= value <= maximum:
        raise BadRequest(f"{key!r} must be in {minimum:g}..{maximum:g}")
    return float(value)


def parse_run_request(body: Any, defaults: RunRequest | None) -> RunRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = set(body) - {"maxImages", "workload", "stepSeconds", "scale", "arrival", "randomSeed"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    raw = body.get("workload")
    if raw is None:
        if defaults is None:
            raise BadRequest("give a 'workload' (e.g. \"10,15,20\"); the server was started without one")
        workload = defaults.workload
    elif isinstance(raw, str) or (
        isinstance(raw, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        text = raw if isinstance(raw, str) else ",".join(repr(v) for v in raw)
        try:
            workload = parse_workload(text, "request")
        except InputError as exc:
            raise BadRequest(f"bad workload: {exc}") from exc
    else:
        raise BadRequest("'workload' must be a string such as \"10,15,20\" or a list of numbers")
    base = defaults.schedule if defaults else ScheduleOptions()
    max_images = body.get("maxImages", base.max_images)
    if max_images is not None and (
        isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1
    ):
        raise BadRequest("'maxImages' must be a whole number >= 1")
    arrival = body.get("arrival", str(base.arrival))
    if arrival not in ("uniform", "poisson"):
        raise BadRequest('\'arrival\' must be "uniform" or "poisson"')
    seed = body.get("randomSeed", base.random_seed)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("'randomSeed' must be an integer")
    schedule = ScheduleOptions(
        step_seconds=(
            _number(body, "stepSeconds", base.step_seconds or 1.0, 0.001, MAX_STEP_SECONDS)
            if "stepSeconds" in body or base.step_seconds is not None
            else None
        ),
        scale=_number(body, "scale", base.scale, 0.0, MAX_SCALE),
        max_images=max_images,
        arrival=arrival,
        random_seed=seed,
    )
    try:
        planned = schedule.planned(workload)
    except InputError as exc:  # stepSeconds for a trace that replays its own times
        raise BadRequest(str(exc)) from exc
    if planned > MAX_PLANNED:
        raise BadRequest(f"the run would send {planned} requests; the limit is {MAX_PLANNED} (set maxImages)")
    return RunRequest(workload, schedule)


CONTRACT = orjson.dumps(serve_document(MAX_STEP_SECONDS, MAX_SCALE))


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type="application/json"
    )


def _error(status: int, error: str, detail: str) -> Response:
    return _json({"error": error, "detail": detail}, status)


class LoadTestService:
    """Holds the run in progress (at most one) and the last finished one."""

    def __init__(
        self,
        images: ImagePool,
        options: LoadTestOptions,
        defaults: RunRequest | None,
        *,
        serve_token: str | None = None,
        announce: Callable[[str], None] = print,
    ) -> None:
        self.serve_token = serve_token
        self.images = images
        self.options = options
        self.defaults = defaults
        self.announce = announce
        """Tells the person who started the server when a run ends, and how."""
        self.store = OutcomeStore()
        self.task: asyncio.Task[LoadTestResult] | None = None
        self.current: LoadTest | None = None
        self.failure: str | None = None

    async def start(self, request: RunRequest) -> dict[str, Any]:
        offsets = await asyncio.to_thread(request.schedule.offsets, request.workload)
        self.store, self.failure = OutcomeStore(), None
        options = replace(
            self.options,
            meta={
                **self.options.meta,
                "options": {**request.schedule.describe(), "via": "POST /runLoadTest"},
            },
        )
        self.current = LoadTest(request.workload, offsets, self.images, options, store=self.store)
        self.task = asyncio.create_task(self.current.run())
        self.task.add_done_callback(self._finished)
        return {"state": "running", "requests": len(offsets), "duration_s": offsets[-1] if offsets else 0.0}

    def _finished(self, task: asyncio.Task[LoadTestResult]) -> None:
        if task.cancelled():
            self.failure = "cancelled"
        elif task.exception() is not None:
            self.failure = f"{type(task.exception()).__name__}: {task.exception()}"
            self.announce(f"run failed: {self.failure}")
        else:
            self.announce(f"run written to {task.result().run_dir}")

    def status(self) -> dict[str, Any]:
        if self.task is None:
            return {"state": "idle"}
        assert self.current is not None
        body: dict[str, Any] = {
            "sent": len(self.current.sent),
            "requests": len(self.current.offsets),
            "outcomes": len(self.store.by_id),
        }
        if not self.task.done():
            return {"state": "running", **body}
        if self.failure is not None:
            return {"state": "failed", "error": self.failure, **body}
        result = self.task.result()
        return {"state": "finished", "run_dir": str(result.run_dir), "counts": result.counts, **body}

    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    @staticmethod
    def _busy() -> Response:
        return _error(409, "run_in_progress", "a load test is already running; wait for it to finish")

    async def _run_load(self, request: Request) -> Response:
        if not bearer_ok(request, self.serve_token):
            return forbidden(f"{request.method} /runLoadTest")
        if request.method == "GET":
            return _json(self.status())
        if self.running():
            return self._busy()
        try:
            run = parse_run_request(await read_json(request, MAX_CONTROL_BODY, empty={}), self.defaults)
        except BodyError as exc:
            return exc.response()
        except BadRequest as exc:
            return _error(400, "invalid_body", str(exc))
        if self.running():  # another POST started one while this body was read
            return self._busy()
        return _json(await self.start(run), 202)

    async def _healthz(self, request: Request) -> Response:
        return _json({"status": "alive"})

    async def _openapi(self, request: Request) -> Response:
        return Response(CONTRACT, media_type="application/json")

    async def _generate_report(self, request: Request) -> Response:
        if not bearer_ok(request, self.serve_token):
            return forbidden("POST /generateReport")
        try:
            body = await read_json(request, MAX_CONTROL_BODY, empty={})
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            expected = body.get("totalRequests")
            given = "totalRequests" in body  # an explicit null is not "not given": it is refused
            if given and (
                isinstance(expected, bool) or not isinstance(expected, int) or not 0 <= expected <= 2**53
            ):
                raise BadRequest("'totalRequests' must be a whole number in 0..2^53")
        except BodyError as exc:
            return exc.response()
        except BadRequest as exc:
            return _error(400, "invalid_body", str(exc))
        if self.task is None:
            return _error(409, "no_run", "no load test has run yet; POST /runLoadTest first")
        await asyncio.wait([self.task])  # bounded: the run ends after its schedule plus the drain time
        if self.failure is not None:  # the run's failure, not this request's: a conflict with its state
            return _error(409, "run_failed", self.failure)
        run_dir = self.task.result().run_dir
        report = await asyncio.to_thread(_write_report, run_dir, expected)
        answer = {"run_dir": str(run_dir), "files": [str(f) for f in report.files], **report.stats}
        if expected is not None and expected != report.stats["recorded"]:
            recorded = report.stats["recorded"]
            answer["warning"] = f"totalRequests={expected} but the run recorded {recorded} requests" + (
                "; the ones never recorded count as lost" if expected > recorded else ""
            )
        return _json(answer)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/runLoadTest", self._run_load, methods=["GET", "POST"]),
                Route(
                    RESULT_PATH,
                    store_latency_endpoint(lambda: self.store, self.options.result_token),
                    methods=["POST"],
                ),
                Route("/generateReport", self._generate_report, methods=["POST"]),
                Route("/healthz", self._healthz, methods=["GET"]),
                Route("/openapi.json", self._openapi, methods=["GET"]),
            ]
        )


def _write_report(run_dir: Path, expected: int | None) -> Report:
    return write_report(load_run(run_dir), ReportOptions(expected_total=expected))
