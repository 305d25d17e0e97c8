"""The local supervisor's HTTP face: its control API, its metrics, Prometheus service discovery.

``/status``, ``/decisions`` and ``/shutdown`` need the control token (``.mlscale/control-token``);
``/metrics`` (what kube-state-metrics says of an HPA, for the local controller) and ``/sd``
(Prometheus HTTP service discovery) are read-only and open to Prometheus; ``/openapi.json`` is
the contract. The supervisor passes in how to read its status and decisions and how to stop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlscale.autoscaling.controller import Controller
from mlscale.backends.base import SystemStatus
from mlscale.contracts.supervisor import supervisor_document
from mlscale.web import EmbeddedServer, bearer_ok, forbidden

Handler = Callable[[Request], Awaitable[Response]]


def control_server(app: Starlette, port: int) -> EmbeddedServer:
    """The control API's server on 127.0.0.1: the supervisor, not Uvicorn, handles SIGTERM and SIGINT."""
    return EmbeddedServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )


def autoscaler_metrics(status: SystemStatus) -> bytes:
    """What kube-state-metrics says of an HPA, for the local controller (Prometheus text format)."""
    registry = CollectorRegistry()
    gauges = {
        "mlscale_autoscaler_replicas": ("Ready inference replicas.", status.ready_replicas),
        "mlscale_autoscaler_desired_replicas": ("Replicas the HPA wants.", status.desired_replicas),
        "mlscale_autoscaler_min_replicas": ("The HPA's minimum.", status.min_replicas),
        "mlscale_autoscaler_max_replicas": ("The HPA's maximum.", status.max_replicas),
        "mlscale_autoscaler_target_cpu_utilization_percent": (
            "The HPA's CPU target, percent of the request.", status.target_cpu_utilization,
        ),
    }  # fmt: skip
    for name, (help_text, value) in gauges.items():
        Gauge(name, help_text, registry=registry).set(value)
    mean = status.mean_cpu_utilization
    if mean is not None:
        Gauge("mlscale_autoscaler_cpu_utilization_percent", "Mean CPU utilization the HPA sees.",
              registry=registry).set(mean)  # fmt: skip
    return generate_latest(registry)


def scrape_targets(status: SystemStatus, control: str) -> list[dict[str, Any]]:
    """Prometheus HTTP service discovery: the dispatcher, each live replica, this supervisor."""
    replicas = [r.url.removeprefix("http://") for r in status.replicas if not r.terminating]
    return [
        {"targets": [status.dispatcher_url.removeprefix("http://")], "labels": {"job": "mlscale-dispatcher"}},
        {"targets": replicas, "labels": {"job": "mlscale-inference"}},
        {"targets": [control], "labels": {"job": "mlscale-autoscaler"}},
    ]


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
