"""``mlscale loadtest --serve``: the original design's load-tester HTTP API, for remote use.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscale.contracts.serve import serve_document
from mlscale.errors import InputError
from mlscale.images import ImagePool
from mlscale.loadgen.receiver import OutcomeStore, store_latency_endpoint
from mlscale.loadgen.run import LoadTestOptions, LoadTestResult, run_load_test
from mlscale.loadgen.sender import SentRequest
from mlscale.report.build import Report, ReportOptions, write_report
from mlscale.report.load import load_run
from mlscale.web import MAX_CONTROL_BODY, BodyError, bearer_ok, forbidden, read_json
from mlscale.workload import Workload, parse_workload, schedule, step_counts


@dataclass(frozen=True)
class RunRequest:
    """What one /runLoadTest asks for; unset fields fall back to the command line's defaults."""

    workload: Workload
    max_images: int | None
    step_seconds: float
    scale: float
    arrival: str
    random_seed: int | None


MAX_PLANNED = 500_000
"""Requests one run may plan (its schedule, tasks and records stay well under a GB): a bigger one is
refused; the original design's sustained scenario is 18,000."""
MAX_STEP_SECONDS = 86_400.0
MAX_SCALE = 10_000.0


class BadRequest(Exception):
    pass


def _number(body: dict[str, Any], key: str, default: float, minimum: float, maximum: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{key!r} must be a number")
    if not minimum <= value <= maximum:
        raise BadRequest(f"{key!r} must be in {minimum:g}..{maximum:g}")
    return float(value)


def planned_requests(run: RunRequest) -> int:
    """How many requests the run's schedule will hold, computed without building it."""
    total = sum(step_counts(run.workload, step_seconds=run.step_seconds, scale=run.scale))
    return total if run.max_images is None else min(total, run.max_images)


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
            raise BadRequest(f"bad workload: {exc}") from None
    else:
        raise BadRequest("'workload' must be a string such as \"10,15,20\" or a list of numbers")
    max_images = body.get("maxImages", defaults.max_images if defaults else None)
    if max_images is not None and (
        isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1
    ):
        raise BadRequest("'maxImages' must be a whole number >= 1")
    arrival = body.get("arrival", defaults.arrival if defaults else "uniform")
    if arrival not in ("uniform", "poisson"):
        raise BadRequest('\'arrival\' must be "uniform" or "poisson"')
    seed = body.get("randomSeed", defaults.random_seed if defaults else None)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("'randomSeed' must be an integer")
    run = RunRequest(
        workload,
        max_images,
        _number(body, "stepSeconds", defaults.step_seconds if defaults else 1.0, 0.001, MAX_STEP_SECONDS),
        _number(body, "scale", defaults.scale if defaults else 1.0, 0.0, MAX_SCALE),
        arrival,
        seed,
    )
    planned = planned_requests(run)
    if planned > MAX_PLANNED:
        raise BadRequest(f"the run would send {planned} requests; the limit is {MAX_PLANNED} (set maxImages)")
    return run


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
        console: Console | None = None,
        *,
        serve_token: str | None = None,
    ) -> None:
        self.serve_token = serve_token
        self.images = images
        self.options = replace(options, live=False)
        self.defaults = defaults
        self.console = console or Console()
        self.store = OutcomeStore()
        self.task: asyncio.Task[LoadTestResult] | None = None
        self.sent: list[SentRequest] = []
        self.total = 0
        self.failure: str | None = None

    async def start(self, run: RunRequest) -> dict[str, Any]:
        offsets = await asyncio.to_thread(
            schedule,
            run.workload,
            step_seconds=run.step_seconds,
            scale=run.scale,
            arrival=run.arrival,  # type: ignore[arg-type]
            seed=run.random_seed,
            max_requests=run.max_images,
        )
        self.store, self.sent, self.total, self.failure = OutcomeStore(), [], len(offsets), None
        options = replace(
            self.options,
            meta={
                **self.options.meta,
                "options": {
                    "step_seconds": run.step_seconds,
                    "scale": run.scale,
                    "max_images": run.max_images,
                    "arrival": run.arrival,
                    "random_seed": run.random_seed,
                    "via": "POST /runLoadTest",
                },
            },
        )
        self.task = asyncio.create_task(
            run_load_test(run.workload, offsets, self.images, options, store=self.store, sent_live=self.sent)
        )
        self.task.add_done_callback(self._finished)
        return {"state": "running", "requests": len(offsets), "duration_s": offsets[-1] if offsets else 0.0}

    def _finished(self, task: asyncio.Task[LoadTestResult]) -> None:
        if task.cancelled():
            self.failure = "cancelled"
        elif task.exception() is not None:
            self.failure = f"{type(task.exception()).__name__}: {task.exception()}"
            self.console.print(f"[red]run failed:[/] {self.failure}")
        else:
            self.console.print(f"run written to {task.result().run_dir}")

    def status(self) -> dict[str, Any]:
        if self.task is None:
            return {"state": "idle"}
        body: dict[str, Any] = {
            "sent": len(self.sent),
            "requests": self.total,
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

    def app(self) -> Starlette:
        def busy() -> Response:
            return _error(409, "run_in_progress", "a load test is already running; wait for it to finish")

        async def run_load(request: Request) -> Response:
            if not bearer_ok(request, self.serve_token):
                return forbidden(f"{request.method} /runLoadTest")
            if request.method == "GET":
                return _json(self.status())
            if self.running():
                return busy()
            try:
                run = parse_run_request(await read_json(request, MAX_CONTROL_BODY, empty={}), self.defaults)
            except BodyError as exc:
                return exc.response()
            except BadRequest as exc:
                return _error(400, "invalid_body", str(exc))
            if self.running():  # another POST started one while this body was read
                return busy()
            return _json(await self.start(run), 202)

        async def healthz(request: Request) -> Response:
            return _json({"status": "alive"})

        contract = orjson.dumps(serve_document(MAX_STEP_SECONDS, MAX_SCALE))

        async def openapi(request: Request) -> Response:
            return Response(contract, media_type="application/json")

        async def generate_report(request: Request) -> Response:
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

        return Starlette(
            routes=[
                Route("/runLoadTest", run_load, methods=["GET", "POST"]),
                Route(
                    "/storeLatency",
                    store_latency_endpoint(lambda: self.store, self.options.result_token),
                    methods=["POST"],
                ),
                Route("/generateReport", generate_report, methods=["POST"]),
                Route("/healthz", healthz, methods=["GET"]),
                Route("/openapi.json", openapi, methods=["GET"]),
            ]
        )


def _write_report(run_dir: Path, expected: int | None) -> Report:
    return write_report(load_run(run_dir), ReportOptions(expected_total=expected))
