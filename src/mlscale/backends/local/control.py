"""The local supervisor's HTTP face: its control API, its metrics, Prometheus service discovery.

``/status``, ``/decisions``, ``/plan`` (the load tester announces its workload, which the oracle
policy reads) and ``/shutdown`` need the control token (``.mlscale/control-token``);
``/metrics`` (what kube-state-metrics says of an HPA, for the local controller) and ``/sd``
(Prometheus HTTP service discovery) are read-only and open to Prometheus; ``/openapi.json`` is
the contract. The supervisor passes in how to read its status and decisions and how to stop.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlscale.autoscaling.controller import Controller
from mlscale.autoscaling.policies import Plan
from mlscale.backends.base import SystemStatus
from mlscale.backends.local.metrics import autoscaler_metrics, scrape_targets
from mlscale.contracts.supervisor import supervisor_document
from mlscale.web import BodyError, EmbeddedServer, bearer_ok, forbidden, json_error, read_json
from mlscale_http import guarded_protocol

PLAN_LIMIT = 8 * 1024 * 1024
MAX_PLAN_SECONDS = 7 * 24 * 3600

Handler = Callable[[Request], Awaitable[Response]]


def control_server(app: Starlette, port: int) -> EmbeddedServer:
    """The control API's server on 127.0.0.1: the supervisor, not Uvicorn, handles SIGTERM and SIGINT."""
    return EmbeddedServer(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", http=guarded_protocol()
        )
    )


def control_app(
    status: Callable[[], SystemStatus],
    controller: Callable[[], Controller | None],
    stop: Callable[[], None],
    token: str,
    port: int,
    announce: Callable[[Plan], None] = lambda plan: None,
) -> Starlette:
    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not bearer_ok(request, token):
                return forbidden(f"{request.method} {request.url.path}")
            return await handler(request)

        return endpoint

    async def get_status(request: Request) -> Response:
        return JSONResponse(status().to_json())

    async def decisions(request: Request) -> Response:
        running = controller()
        return JSONResponse(running.decisions if running else [])

    async def plan(request: Request) -> Response:
        try:
            body = await read_json(request, PLAN_LIMIT)
        except BodyError as exc:
            return exc.response()
        try:
            announced = parse_plan(body)
        except ValueError as exc:
            return json_error(400, "invalid_plan", str(exc))
        announce(announced)
        return JSONResponse({"seconds": len(announced.rates), "start_at": announced.start_at})

    async def shutdown(request: Request) -> Response:
        stop()
        return JSONResponse({"status": "stopping"})

    async def metrics(request: Request) -> Response:
        return Response(autoscaler_metrics(status()), media_type=CONTENT_TYPE_LATEST)

    async def service_discovery(request: Request) -> Response:
        return JSONResponse(scrape_targets(status(), f"127.0.0.1:{port}"))

    contract = json.dumps(supervisor_document()).encode()

    async def openapi(request: Request) -> Response:
        return Response(contract, media_type="application/json")

    return Starlette(
        routes=[
            Route("/status", guarded(get_status)),
            Route("/decisions", guarded(decisions)),
            Route("/plan", guarded(plan), methods=["POST"]),
            Route("/shutdown", guarded(shutdown), methods=["POST"]),
            Route("/metrics", metrics),
            Route("/sd", service_discovery),
            Route("/openapi.json", openapi),
        ]
    )


def parse_plan(body: Any) -> Plan:
    """``{"rates": [requests/s of each second], "start_at": unix seconds}``, or ValueError saying why."""
    if not isinstance(body, dict) or set(body) != {"rates", "start_at"}:
        raise ValueError('send {"rates": [requests/s of each second], "start_at": unix seconds}')
    rates, start_at = body["rates"], body["start_at"]
    if not isinstance(rates, list) or not 0 < len(rates) <= MAX_PLAN_SECONDS:
        raise ValueError(f"rates must be a list of 1 to {MAX_PLAN_SECONDS} numbers")
    if not all(isinstance(r, int | float) and not isinstance(r, bool) and math.isfinite(r) and r >= 0
               for r in rates):  # fmt: skip
        raise ValueError("every rate must be a finite number >= 0")
    if isinstance(start_at, bool) or not isinstance(start_at, int | float) or not math.isfinite(start_at):
        raise ValueError("start_at must be a number of seconds since the epoch")
    return Plan(tuple(float(r) for r in rates), float(start_at))
