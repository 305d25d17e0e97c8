"""The local backend's supervisor: one detached process that owns the system while it is up.

It starts the dispatcher and the inference replicas as Uvicorn processes on 127.0.0.1, samples
their CPU like metrics-server, runs the HPA controller, keeps the dispatcher's upstream list equal
to the ready replicas, and serves a small control API (``/status``, ``/decisions``, ``/metrics``
for Prometheus, ``/sd`` for Prometheus' HTTP service discovery,
``/shutdown``) to the CLI. Every child is its own process group and gets SIGTERM if the
supervisor dies (PR_SET_PDEATHSIG), so nothing outlives it.

Run as ``python -m mlscale.backends.local_system --config JSON``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlscale.autoscaling.config import VALUES_FILE, HPAConfig, load_hpa_config
from mlscale.autoscaling.controller import Controller
from mlscale.autoscaling.hpa import Pod
from mlscale.backends.base import ReplicaStatus, SystemStatus, clear_state, cpu_millicores, write_state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM when the supervisor exits, however it exits.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def spawn(
    module: str, args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
            preexec_fn=_die_with_parent,  # one prctl call: safe between fork and exec
        )


@dataclass
class Replica:
    id: str
    port: int
    process: subprocess.Popen[bytes]
    started_at: float
    ready_since: float | None = None
    terminating: bool = False
    cpu_milli: float | None = None
    metric_at: float = 0.0
    _last_cpu: tuple[float, float] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sample_cpu(self, now: float) -> None:
        """CPU rate since the last sample, in millicores (metrics-server's window)."""
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return
        used = times.user + times.system
        if self._last_cpu is not None and now > self._last_cpu[0]:
            self.cpu_milli = (used - self._last_cpu[1]) / (now - self._last_cpu[0]) * 1000
            self.metric_at = now
        self._last_cpu = (now, used)


@dataclass
class LocalOptions:
    weights: str = "none"
    cpu_request: str = "500m"
    dispatcher_port: int = 8000
    result_url: str = "http://127.0.0.1:3003/storeLatency"
    concurrency: int = 8
    time_scale: float = 1.0
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_cpu: int | None = None
    values_file: str | None = None
    state_dir: str = ".mlscale"


class LocalSystem:
    def __init__(self, options: LocalOptions, config: HPAConfig) -> None:
        self.options = options
        self.config = config
        self.logs = Path(options.state_dir) / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.request_milli = round(cpu_millicores(options.cpu_request))
        self.replicas: list[Replica] = []
        self.counter = 0
        self.token = secrets.token_urlsafe(24)
        self.dispatcher: subprocess.Popen[bytes] | None = None
        self.dispatcher_url = f"http://127.0.0.1:{options.dispatcher_port}"
        self.published: list[str] | None = None
        self.session: aiohttp.ClientSession | None = None

    # ---- the ScaleTarget the controller drives
    def current_replicas(self) -> int:
        return sum(1 for r in self.replicas if not r.terminating)

    def pods(self) -> list[Pod]:
        window = self.config.scaled(self.config.metric_resolution_seconds)
        return [
            Pod(
                name=r.id,
                cpu_request_milli=self.request_milli,
                phase="Running",
                ready=r.ready_since is not None,
                ready_since=r.ready_since if r.ready_since is not None else r.started_at,
                started_at=r.started_at,
                deleted=r.terminating,
                usage_milli=round(r.cpu_milli) if r.cpu_milli is not None else None,
                metric_at=r.metric_at,
                metric_window=window,
            )
            for r in self.replicas
        ]

    async def scale_to(self, replicas: int) -> None:
        while self.current_replicas() < replicas:
            self.start_replica()
        while self.current_replicas() > replicas:
            newest = max((r for r in self.replicas if not r.terminating), key=lambda r: r.started_at)
            newest.terminating = True
            await self.publish_upstreams()  # no new work goes to it ...
            newest.process.send_signal(signal.SIGTERM)  # ... and it drains what it has, then exits

    # ---- processes
    def start_replica(self) -> Replica:
        self.counter += 1
        replica_id = f"replica-{self.counter}"
        port = free_port()
        process = spawn(
            "mlscale_inference",
            ["--host", "127.0.0.1", "--port", str(port), "--replica-id", replica_id,
             "--weights", self.options.weights, "--cpu", self.options.cpu_request, "--log-level", "warning"],
            self.logs / f"{replica_id}.log",
        )  # fmt: skip
        replica = Replica(replica_id, port, process, time.time())
        self.replicas.append(replica)
        return replica

    def start_dispatcher(self, first_upstream: str) -> None:
        self.dispatcher = spawn(
            "mlscale_dispatcher",
            ["--host", "127.0.0.1", "--port", str(self.options.dispatcher_port), "--upstream", first_upstream,
             "--result-url", self.options.result_url, "--concurrency", str(self.options.concurrency),
             "--log-level", "warning"],
            self.logs / "dispatcher.log",
            env={"MLSCALE_DISPATCHER_CONTROL_TOKEN": self.token},
        )  # fmt: skip

    async def _ready(self, url: str) -> bool:
        assert self.session is not None
        try:
            async with self.session.get(url + "/readyz") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def watch(self) -> None:
        """Readiness and exits of replicas; the dispatcher's upstreams follow the ready set."""
        for replica in list(self.replicas):
            if replica.process.poll() is not None:
                self.replicas.remove(replica)  # drained and gone, or crashed
                continue
            if replica.ready_since is None and await self._ready(replica.url):
                replica.ready_since = time.time()
        await self.publish_upstreams()

    async def publish_upstreams(self) -> None:
        ready = [r.url for r in self.replicas if r.ready_since is not None and not r.terminating]
        if ready == self.published or not ready or self.session is None:
            return
        try:
            async with self.session.put(
                self.dispatcher_url + "/upstreams",
                json={"upstreams": ready},
                headers={"authorization": f"Bearer {self.token}"},
            ) as response:
                if response.status == 200:
                    self.published = ready
        except (aiohttp.ClientError, TimeoutError):
            pass  # the dispatcher is not up yet: try again on the next watch

    def sample(self) -> None:
        now = time.time()
        for replica in self.replicas:
            replica.sample_cpu(now)

    def status(self, controller: Controller | None) -> SystemStatus:
        return SystemStatus(
            backend="local",
            dispatcher_url=self.dispatcher_url,
            replicas=[
                ReplicaStatus(
                    id=r.id,
                    url=r.url,
                    ready=r.ready_since is not None,
                    terminating=r.terminating,
                    cpu_milli=r.cpu_milli,
                    cpu_utilization=r.cpu_milli * 100 / self.request_milli
                    if r.cpu_milli is not None
                    else None,
                    pid=r.process.pid,
                )
                for r in self.replicas
            ],
            desired_replicas=controller.desired if controller else self.current_replicas(),
            min_replicas=self.config.min_replicas,
            max_replicas=self.config.max_replicas,
            target_cpu_utilization=self.config.target_cpu_utilization,
            time_scale=self.config.time_scale,
            last_decision=controller.decisions[-1] if controller and controller.decisions else None,
            extra={
                "dispatcher_pid": self.dispatcher.pid if self.dispatcher else None,
                "supervisor_pid": os.getpid(),
            },
        )

    def stop_all(self) -> None:
        children = [r.process for r in self.replicas] + ([self.dispatcher] if self.dispatcher else [])
        for process in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class _QuietServer(uvicorn.Server):
    """The control API's server: the supervisor, not Uvicorn, handles SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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


async def supervise(options: LocalOptions) -> None:
    overrides = {
        "min_replicas": options.min_replicas,
        "max_replicas": options.max_replicas,
        "target_cpu_utilization": options.target_cpu,
        "time_scale": options.time_scale,
    }
    values = Path(options.values_file) if options.values_file else VALUES_FILE
    config = load_hpa_config(values, **overrides)
    system = LocalSystem(options, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    controller: Controller | None = None

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(system.status(controller).to_json())

    async def decisions(request: Request) -> JSONResponse:
        return JSONResponse(controller.decisions if controller else [])

    async def shutdown(request: Request) -> JSONResponse:
        stop.set()
        return JSONResponse({"status": "stopping"})

    async def metrics(request: Request) -> Response:
        return Response(autoscaler_metrics(system.status(controller)), media_type=CONTENT_TYPE_LATEST)

    async def service_discovery(request: Request) -> JSONResponse:
        return JSONResponse(scrape_targets(system.status(controller), f"127.0.0.1:{control_port}"))

    control_port = free_port()
    app = Starlette(
        routes=[
            Route("/status", status),
            Route("/decisions", decisions),
            Route("/shutdown", shutdown, methods=["POST"]),
            Route("/metrics", metrics),
            Route("/sd", service_discovery),
        ]
    )
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=control_port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    state = {
        "backend": "local",
        "supervisor_pid": os.getpid(),
        "control_url": f"http://127.0.0.1:{control_port}",
        "dispatcher_url": system.dispatcher_url,
        "logs": str(system.logs),
        "phase": "starting",
        "started_at": time.time(),
    }
    write_state(state)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            system.session = session
            for _ in range(config.min_replicas):
                system.start_replica()
            system.start_dispatcher(system.replicas[0].url)
            controller = Controller(system, config)
            controller.desired = system.current_replicas()
            resolution = config.scaled(config.metric_resolution_seconds)
            next_sample = 0.0
            started_controller = False
            control = None
            while not stop.is_set():
                await system.watch()
                now = time.monotonic()
                if now >= next_sample:
                    system.sample()
                    next_sample = now + resolution
                if not started_controller and system.published:
                    write_state({**state, "phase": "ready"})
                    control = asyncio.create_task(controller.run(stop))
                    started_controller = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
            if control is not None:
                await control
    finally:
        system.stop_all()
        clear_state()
        server.should_exit = True
        await serving


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--options", required=True, help="LocalOptions as JSON")
    args = parser.parse_args()
    options = LocalOptions(**json.loads(args.options))
    asyncio.run(supervise(options))


if __name__ == "__main__":
    main()
