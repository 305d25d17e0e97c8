"""The local supervisor's HTTP face: its control API, its metrics, Prometheus service discovery.

``/status``, ``/decisions`` and ``/shutdown`` need the control token (``.mlscale/control-token``);
``/metrics`` (what kube-state-metrics says of an HPA, for the local controller) and ``/sd``
(Prometheus HTTP service discovery) are read-only and open to Prometheus; ``/openapi.json`` is
the contract. The supervisor passes in how to read its status and decisions and how to stop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlscale.autoscaling.controller import Controller
from mlscale.backends.base import SystemStatus
from mlscale.backends.local.metrics import autoscaler_metrics, scrape_targets
from mlscale.contracts.supervisor import supervisor_document
from mlscale.web import EmbeddedServer, bearer_ok, forbidden

Handler = Callable[[Request], Awaitable[Response]]


def control_server(app: Starlette, port: int) -> EmbeddedServer:
    """The control API's server on 127.0.0.1: the supervisor, not Uvicorn, handles SIGTERM and SIGINT."""
    return EmbeddedServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )


def control_app(
    status: Callable[[], SystemStatus],
    controller: Callable[[], Controller | None],
    stop: Callable[[], None],
    token: str,
    port: int,
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
            Route("/shutdown", guarded(shutdown), methods=["POST"]),
            Route("/metrics", metrics),
            Route("/sd", service_discovery),
            Route("/openapi.json", openapi),
        ]
    )
