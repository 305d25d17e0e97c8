"""For tests only: ``metrics.k8s.io/v1beta1`` as metrics-server serves it, with CPU from a scenario,
and ``external.metrics.k8s.io/v1beta1`` as KEDA's metrics adapter serves it, with values from another.

Served over HTTPS on 127.0.0.1 and registered with an APIService, as metrics-server is
(``insecureSkipTLSVerify``, as in metrics-server's own manifest). The APIService's Service is an
ExternalName for 127.0.0.1: Endpoints may not hold loopback addresses, and the aggregator
resolves an ExternalName Service to its name and the APIService's port without them.
Every pod-metrics request is logged with what it was answered: for the HPA controller, one
request is one sync, so the log is the controller's exact input; every external-metric request is
logged beside it (``external_log``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlscale.backends.base import cpu_millicores
from tests.k8s.testbed import free_port

GROUP_VERSION = "metrics.k8s.io/v1beta1"
EXTERNAL = "external.metrics.k8s.io/v1beta1"
Scenario = Callable[[Any, float], float | None]
"""(pod, seconds since the scenario began) -> CPU millicores, or None for no metrics."""
ExternalScenario = Callable[[str, float], float | None]
"""(metric name, seconds since the scenario began) -> the metric's value, or None: no such metric."""


@dataclass
class ExternalServed:
    at: float
    namespace: str
    metric: str
    value: float | None
    selector: str = ""
    """The labelSelector the HPA asked with (KEDA's adapter answers per ScaledObject)."""


def _seconds(moment: str | None) -> float | None:
    """An RFC 3339 time as the API writes it (``2026-12-01T22:00:00Z``), in epoch seconds."""
    return datetime.datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() if moment else None


@dataclass
class Served:
    at: float
    namespace: str
    selector: str
    pods: list[dict[str, Any]]
    """name, cpu_milli (None: left out), ready, ready_since, started_at, deleting, request_milli."""


def register_on_loopback(
    api: client.ApiClient, groups: tuple[str, ...], port: int, ca_bundle: str | None = None
) -> None:
    """APIServices for ``groups`` (v1beta1) served on 127.0.0.1:``port``, through the Service
    kube-system/metrics-server. Endpoints may not hold loopback addresses, so it is an ExternalName
    Service, which the aggregator resolves to its name and the APIService's port. With no CA bundle
    the server's certificate is not checked (``insecureSkipTLSVerify``, as metrics-server's own
    manifest has it); with one, it must be signed by that CA for ``metrics-server.kube-system.svc``."""
    client.CoreV1Api(api).create_namespaced_service(
        "kube-system",
        client.V1Service(
            metadata=client.V1ObjectMeta(name="metrics-server"),
            spec=client.V1ServiceSpec(type="ExternalName", external_name="127.0.0.1"),
        ),
    )
    for group in groups:
        client.ApiregistrationV1Api(api).create_api_service(
            client.V1APIService(
                metadata=client.V1ObjectMeta(name=f"v1beta1.{group}"),
                spec=client.V1APIServiceSpec(
                    group=group,
                    version="v1beta1",
                    insecure_skip_tls_verify=ca_bundle is None,
                    ca_bundle=ca_bundle,
                    group_priority_minimum=100,
                    version_priority=100,
                    service=client.ApiregistrationV1ServiceReference(
                        namespace="kube-system", name="metrics-server", port=port
                    ),
                ),
            )
        )


@dataclass
class FakeMetricsServer:
    api: client.ApiClient
    pki: Path
    window_seconds: int = 5
    scenario: Scenario = lambda pod, t: 100.0
    began: float = field(default_factory=time.time)
    log: list[Served] = field(default_factory=list)
    external: ExternalScenario = lambda name, t: None
    external_log: list[ExternalServed] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def set_scenario(self, scenario: Scenario, external: ExternalScenario | None = None) -> None:
        self.began = time.time()
        self.log.clear()
        self.external_log.clear()
        self.scenario = scenario
        self.external = external or (lambda name, t: None)

    def _external_metric(self, namespace: str, metric: str, selector: str = "") -> list[dict[str, Any]]:
        now = time.time()
        value = self.external(metric, now - self.began)
        self.external_log.append(ExternalServed(now, namespace, metric, value, selector))
        if value is None:
            return []
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat().replace("+00:00", "Z")
        return [
            {"metricName": metric, "metricLabels": {}, "timestamp": stamp, "value": f"{round(value * 1000)}m"}
        ]

    # --- the API ---
    def _pod_metrics(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        core = client.CoreV1Api(self.api)
        # Raw JSON: the generated models take about a second to build 1,000 pods, and pods the
        # controller's own list sees change in that second (the 1,000-pod test).
        answer = (
            core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False)
            if namespace
            else core.list_pod_for_all_namespaces(label_selector=selector, _preload_content=False)
        )
        pods = json.loads(answer.data)["items"]  # type: ignore[attr-defined]  # _preload_content=False: the raw response
        now = time.time()
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat().replace("+00:00", "Z")
        items, record = [], []
        for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"]):
            meta, status, spec = pod["metadata"], pod.get("status") or {}, pod["spec"]
            names = {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")}
            view = SimpleNamespace(metadata=SimpleNamespace(**names, labels=meta.get("labels") or {}))
            usage = self.scenario(view, now - self.began) if status.get("phase") == "Running" else None
            ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
            requests = [
                ((c.get("resources") or {}).get("requests") or {}).get("cpu") for c in spec["containers"]
            ]
            record.append(
                {
                    "name": meta["name"],
                    "cpu_milli": usage,
                    "ready": None if ready is None else ready["status"] == "True",
                    "ready_since": _seconds(ready.get("lastTransitionTime")) if ready else None,
                    "started_at": _seconds(status.get("startTime")),
                    "deleting": meta.get("deletionTimestamp") is not None,
                    "phase": status.get("phase"),
                    "request_milli": round(sum(cpu_millicores(r) for r in requests if r)),
                }
            )
            if usage is None:
                continue
            items.append(
                {
                    "metadata": {
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "labels": meta.get("labels") or {},
                        "creationTimestamp": meta["creationTimestamp"],
                    },
                    "timestamp": stamp,
                    "window": f"{self.window_seconds}s",
                    "containers": [
                        {"name": c["name"], "usage": {"cpu": f"{round(usage)}m", "memory": "64Mi"}}
                        for c in spec["containers"][:1]
                    ],
                }
            )
        self.log.append(Served(now, namespace or "", selector, record))
        return items

    def app(self) -> Starlette:
        def discovery(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": GROUP_VERSION,
                    "resources": [
                        {
                            "name": "pods",
                            "singularName": "",
                            "namespaced": True,
                            "kind": "PodMetrics",
                            "verbs": ["get", "list"],
                        },
                        {
                            "name": "nodes",
                            "singularName": "",
                            "namespaced": False,
                            "kind": "NodeMetrics",
                            "verbs": ["get", "list"],
                        },
                    ],
                }
            )

        def pods(request: Request) -> JSONResponse:
            namespace = request.path_params.get("namespace")
            items = self._pod_metrics(namespace, request.query_params.get("labelSelector", ""))
            return JSONResponse(
                {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
            )

        def nodes(request: Request) -> JSONResponse:
            return JSONResponse(
                {"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": []}
            )

        def external_discovery(request: Request) -> JSONResponse:
            return JSONResponse(
                {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": EXTERNAL, "resources": []}
            )

        def external(request: Request) -> JSONResponse:
            namespace, metric = request.path_params["namespace"], request.path_params["metric"]
            items = self._external_metric(namespace, metric, request.query_params.get("labelSelector", ""))
            if not items:
                return JSONResponse({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "message": f"no metric {metric}", "reason": "NotFound", "code": 404},
                                    status_code=404)  # fmt: skip
            return JSONResponse(
                {"kind": "ExternalMetricValueList", "apiVersion": EXTERNAL, "metadata": {}, "items": items}
            )

        return Starlette(
            routes=[
                Route(f"/apis/{EXTERNAL}", external_discovery),
                Route(f"/apis/{EXTERNAL}/namespaces/{{namespace}}/{{metric}}", external),
                Route("/apis/metrics.k8s.io/v1beta1", discovery),
                Route("/apis/metrics.k8s.io/v1beta1/pods", pods),
                Route("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods", pods),
                Route("/apis/metrics.k8s.io/v1beta1/nodes", nodes),
                Route("/healthz", lambda r: JSONResponse({"ok": True})),
            ]
        )

    # --- serving and registering ---
    def start(self) -> FakeMetricsServer:
        config = uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(self.pki / "metrics.crt"),
            ssl_keyfile=str(self.pki / "metrics.key"),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-metrics", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake metrics server did not start")
            time.sleep(0.05)
        self._register()
        return self

    def _register(self) -> None:
        register_on_loopback(self.api, ("metrics.k8s.io", "external.metrics.k8s.io"), self.port)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(ApiException):
                client.CustomObjectsApi(self.api).list_namespaced_custom_object(
                    "metrics.k8s.io", "v1beta1", "kube-system", "pods"
                )
                return
            time.sleep(0.5)
        raise RuntimeError("metrics.k8s.io did not become available through the aggregator in 60 s")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
