"""The local system the supervisor owns: the dispatcher and the replicas as managed processes.

``LocalSystem`` is also the ``ScaleTarget`` the HPA controller drives: it lists the replicas as
pods (with CPU sampled as metrics-server would), starts and drains them, and keeps the dispatcher's
upstream list equal to the ready replicas (empty when none is ready, so requests wait in the queue
instead of failing).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.controller import Controller
from mlscale.autoscaling.metrics import Observed, pod_usage
from mlscale.autoscaling.policies import Plan
from mlscale.autoscaling.replicas import Pod, cpu_pod
from mlscale.backends.base import ProcessHealth, ReplicaStatus, SystemStatus, cpu_millicores
from mlscale.backends.local.calibration import Calibration
from mlscale.backends.local.health import load_probes
from mlscale.backends.local.options import LocalOptions
from mlscale.backends.local.processes import ManagedProcess
from mlscale.backends.local.scrape import Samples, matching, scrape_all, wanted
from mlscale.net import free_port
from mlscale.tokens import ensure_token


@dataclass
class Replica:
    managed: ManagedProcess
    terminating: bool = False
    created_at: float = field(default_factory=time.time)
    """When the controller asked for it (it may then wait for a start slot)."""
    cpu_milli: float | None = None
    metric_at: float = 0.0
    scraped: Samples = field(default_factory=dict)
    """The Pods metrics of the last /metrics scrape (only those the HPA lists)."""
    _last_cpu: tuple[int, float, float] | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.managed.name

    @property
    def url(self) -> str:
        return self.managed.url

    @property
    def ready(self) -> bool:
        return self.managed.ready and not self.terminating

    @property
    def pending(self) -> bool:
        """Asked for, not started yet: it waits for a start slot (``LocalOptions.max_starting``)."""
        return self.managed.process is None and not self.terminating

    @property
    def starting(self) -> bool:
        return self.managed.process is not None and not self.terminating and not self.managed.ready

    def sample_cpu(self, now: float) -> None:
        """CPU rate since the last sample of the same process, in millicores (metrics-server's window)."""
        pid = self.managed.pid
        if pid is None or not self.managed.alive:
            return
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            return
        used = times.user + times.system
        last = self._last_cpu
        if last is not None and last[0] == pid and now > last[1]:
            self.cpu_milli = (used - last[2]) / (now - last[1]) * 1000
            self.metric_at = now
        self._last_cpu = (pid, now, used)


class LocalSystem:
    def __init__(self, options: LocalOptions, config: HPAConfig, values: Path) -> None:
        self.options = options
        self.config = config
        self.state_dir = Path(options.state_dir)
        self.logs = self.state_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.request_milli = round(cpu_millicores(options.cpu_request))
        self.replica_probes = load_probes(values, "inference")
        self.replicas: list[Replica] = []
        self.counter = 0
        self.upstreams_token = secrets.token_urlsafe(24)
        self.dispatcher_url = f"http://127.0.0.1:{options.dispatcher_port}"
        self.dispatcher = self._dispatcher_process(values)
        self.published: list[str] | None = None
        self.session: aiohttp.ClientSession | None = None
        self.calibration: Calibration | None = None
        self.dispatcher_scraped: Samples = {}
        self.scraped_at = 0.0
        self.announced: Plan | None = None
        self.busy_reading: tuple[float, float] | None = None
        """(time, busy seconds) of the dispatcher's last /stats, for the mean in flight since."""
        self.policy = "cpu"
        self.floor = config.min_replicas
        """The fewest replicas the policy may leave (0 for the scale-to-zero ones)."""

    def _dispatcher_process(self, values: Path) -> ManagedProcess:
        args = ["--host", "127.0.0.1", "--port", str(self.options.dispatcher_port),
                "--result-url", self.options.result_url, "--log-level", "warning"]  # fmt: skip
        if self.options.concurrency is not None:
            args += ["--concurrency", str(self.options.concurrency)]
        return ManagedProcess(
            "dispatcher",
            "mlscale_dispatcher",
            args,
            self.options.dispatcher_port,
            self.logs / "dispatcher.log",
            load_probes(values, "dispatcher"),
            env={  # secrets by environment: a command line is world-readable in /proc
                "MLSCALE_DISPATCHER_CONTROL_TOKEN": self.upstreams_token,
                "MLSCALE_DISPATCHER_RESULT_TOKEN": ensure_token("result", self.state_dir),
            },
        )

    # ---- the ScaleTarget the controller drives
    def current_replicas(self) -> int:
        return sum(1 for r in self.replicas if not r.terminating)

    def pods(self) -> list[Pod]:
        return [
            cpu_pod(
                r.id,
                self.request_milli,
                phase="Pending" if r.pending else "Running",
                ready=r.ready,
                ready_since=r.managed.ready_since
                if r.managed.ready_since is not None
                else r.managed.started_at,
                started_at=None if r.pending else r.managed.started_at,
                deleted=r.terminating,
            )
            for r in self.replicas
        ]

    def observed(self) -> Observed:
        """What the metric APIs would answer: CPU as metrics-server has it, the Pods metrics from
        each replica's /metrics, External and Object ones from the dispatcher's (scrape.py)."""
        window = self.config.scaled(self.config.metric_resolution_seconds)
        usage = {r.id: pod_usage(round(r.cpu_milli), r.metric_at, window)
                 for r in self.replicas if r.cpu_milli is not None}  # fmt: skip
        pods, external, objects = {}, {}, {}
        for spec in self.config.metrics:
            if spec.type == "Pods":
                pods[spec.name] = {r.id: sum(v for _, v in r.scraped[spec.name])
                                   for r in self.replicas if spec.name in r.scraped}  # fmt: skip
            elif spec.type == "External" and spec.name in self.dispatcher_scraped:
                external[spec.name] = matching(self.dispatcher_scraped[spec.name], spec.selector)
            elif spec.type == "Object" and spec.name in self.dispatcher_scraped:
                objects[(spec.described_object, spec.name)] = sum(
                    matching(self.dispatcher_scraped[spec.name], spec.selector)
                )
        return Observed(usage, pods, objects, external, self.scraped_at)

    async def load(self) -> float | None:
        """The dispatcher's queue depth now plus its mean requests in flight since the last read
        (the rate of its busy-seconds counter, as the chart's Prometheus query takes it)."""
        if self.session is None or not self.dispatcher.ready:
            return None
        try:
            async with self.session.get(self.dispatcher_url + "/stats") as response:
                stats = await response.json() if response.status == 200 else None
            if stats is None:
                return None
            reading = (float(stats["time"]), float(stats["busy_seconds"]))
        except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError):
            return None  # KEDA's scaler error: the policy sees no value
        last, self.busy_reading = self.busy_reading, reading
        if last is None or reading[0] <= last[0] or reading[1] < last[1]:
            in_flight = float(stats["in_flight"])  # no earlier reading (or a new dispatcher): now's
        else:
            in_flight = (reading[1] - last[1]) / (reading[0] - last[0])
        return float(stats["queue_depth"]) + in_flight

    def plan(self) -> Plan | None:
        return self.announced

    async def scale_to(self, replicas: int) -> None:
        while self.current_replicas() < replicas:
            self.start_replica()
        while self.current_replicas() > replicas:
            # As a ReplicaSet does: a pending pod first, then not ready, then the newest.
            newest = max((r for r in self.replicas if not r.terminating),
                         key=lambda r: (r.pending, not r.ready, r.managed.started_at))  # fmt: skip
            newest.terminating = True
            await self.publish_upstreams()  # no new work goes to it ...
            newest.managed.stop()  # ... and it drains what it has, then exits

    # ---- processes
    def start_replica(self) -> Replica:
        self.counter += 1
        replica_id = f"replica-{self.counter}"
        port = free_port()
        managed = ManagedProcess(
            replica_id,
            "mlscale_inference",
            ["--host", "127.0.0.1", "--port", str(port), "--replica-id", replica_id,
             "--weights", self.options.weights, "--cpu", self.options.cpu_request, "--log-level", "warning",
             "--engine", self.options.engine,
             *(["--model-file", str(self.options.model_file)] if self.options.model_file else [])],
            port,
            self.logs / f"{replica_id}.log",
            self.replica_probes,
        )  # fmt: skip
        replica = Replica(managed)
        self.replicas.append(replica)
        self.start_pending()
        return replica

    def start_pending(self) -> None:
        """Start waiting replicas, oldest first, while fewer than ``max_starting`` are starting: on
        a 2-core machine each start (importing TensorFlow, building the model) takes a core for
        seconds, and five at once took 40 s each and starved the replica that was serving."""
        limit = self.options.max_starting
        for replica in self.replicas:
            if not replica.pending:
                continue
            if limit is not None and sum(r.starting for r in self.replicas) >= limit:
                return
            replica.managed.start()

    async def watch(self) -> list[str]:
        """Restarts and probes of every process; the dispatcher's upstreams follow the ready set."""
        assert self.session is not None
        for replica in list(self.replicas):
            if replica.terminating and not replica.managed.alive:
                self.replicas.remove(replica)  # drained and gone
        self.start_pending()
        managed = [
            self.dispatcher,
            *(r.managed for r in self.replicas if not r.terminating and not r.pending),
        ]
        dispatcher_pid = self.dispatcher.pid
        rounds = await asyncio.gather(*(m.tick(self.session) for m in managed))
        if self.dispatcher.pid != dispatcher_pid:
            self.published = None  # a new dispatcher process knows no upstreams yet
        await self.publish_upstreams()
        return [event for events in rounds for event in events]

    async def publish_upstreams(self) -> None:
        ready = [r.url for r in self.replicas if r.ready]
        if ready == self.published or self.session is None or not self.dispatcher.alive:
            return
        try:
            async with self.session.put(
                self.dispatcher_url + "/upstreams",
                json={"upstreams": ready},
                headers={"authorization": f"Bearer {self.upstreams_token}"},
            ) as response:
                if response.status == 200:
                    self.published = ready
        except (aiohttp.ClientError, TimeoutError):
            pass  # the dispatcher is not up yet: try again on the next watch

    def sample(self) -> None:
        now = time.time()
        for replica in self.replicas:
            replica.sample_cpu(now)

    async def scrape(self) -> None:
        """Read the Pods, Object and External metrics the HPA lists (none for CPU alone)."""
        per_replica, from_dispatcher = wanted(self.config)
        if self.session is None or not (per_replica or from_dispatcher):
            return
        for replica in self.replicas:
            if not replica.managed.ready:
                replica.scraped = {}  # no stale values from before it went unready
        targets: list[tuple[str, set[str], Replica | None]] = [
            (r.url, per_replica, r) for r in self.replicas if per_replica and r.managed.ready
        ]
        if from_dispatcher:
            targets.append((self.dispatcher_url, from_dispatcher, None))
        pages = await asyncio.gather(*(self._metrics_page(url) for url, _, _ in targets))
        for (_, names, owner), page in zip(targets, pages, strict=True):
            found = scrape_all(page, names) if page is not None else {}
            if owner is not None:
                owner.scraped = found
            elif page is not None:
                self.dispatcher_scraped = found
        self.scraped_at = time.time()

    async def _metrics_page(self, url: str) -> str | None:
        assert self.session is not None
        try:
            async with self.session.get(url + "/metrics") as response:
                return await response.text() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None  # a replica that does not answer has no sample: a missing metric, as in Kubernetes

    def status(self, controller: Controller | None) -> SystemStatus:
        return SystemStatus(
            backend="local",
            dispatcher_url=self.dispatcher_url,
            replicas=[
                ReplicaStatus(
                    id=r.id,
                    url=r.url,
                    ready=r.ready,
                    terminating=r.terminating,
                    cpu_milli=r.cpu_milli,
                    cpu_utilization=r.cpu_milli * 100 / self.request_milli
                    if r.cpu_milli is not None
                    else None,
                    pid=r.managed.pid,
                    restarts=r.managed.restarts,
                    alive=r.managed.alive,
                    created_at=r.created_at,
                    started_at=r.managed.started_at or None,
                    ready_at=r.managed.ready_since,
                )
                for r in self.replicas
            ],
            desired_replicas=controller.desired if controller else self.current_replicas(),
            min_replicas=self.floor,
            policy=self.policy,
            engine=self.options.engine,
            max_replicas=self.config.max_replicas,
            target_cpu_utilization=self.config.target_cpu_utilization,
            time_scale=self.config.time_scale,
            last_decision=controller.decisions[-1] if controller and controller.decisions else None,
            dispatcher=health_of(self.dispatcher),
            calibration=self.calibration.to_json() if self.calibration else None,
            supervisor_pid=os.getpid(),
        )

    def stop_all(self) -> None:
        children = [self.dispatcher, *(r.managed for r in self.replicas)]
        for child in children:
            child.stop()
        deadline = time.monotonic() + 10
        for child in children:
            child.wait_exit(deadline - time.monotonic())


def health_of(process: ManagedProcess) -> ProcessHealth:
    return ProcessHealth(
        pid=process.pid,
        alive=process.alive,
        ready=process.ready,
        restarts=process.restarts,
        last_exit=process.last_exit,
        last_restart_reason=process.last_restart_reason,
    )
