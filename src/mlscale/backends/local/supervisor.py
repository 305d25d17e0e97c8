"""The local backend's supervisor: one detached process that owns the system while it is up.

It starts the dispatcher and the inference replicas (``system.LocalSystem``) and keeps them as a
kubelet keeps containers (``processes.ManagedProcess``: restarts with back-off, startup, readiness
and liveness probes with the chart's own settings); samples their CPU like metrics-server; runs the
HPA controller; measures one replica when the system comes up (``calibration``); and serves the
control API to the CLI (``control``). Every child is its own process group and gets SIGTERM if the
supervisor dies (PR_SET_PDEATHSIG), so nothing outlives it.

Run as ``python -m mlscale.backends.local.supervisor --options JSON`` (``LocalOptions.to_json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from typing import Any

import aiohttp
import psutil

from mlscale.autoscaling.config import load_hpa_config, merged_values
from mlscale.autoscaling.controller import Controller
from mlscale.autoscaling.policies import (
    Measured,
    Policy,
    make_policy,
    parse_policy_settings,
    scales_to_zero,
    with_floor,
)
from mlscale.backends.local.calibration import calibrate
from mlscale.backends.local.control import control_app, control_server
from mlscale.backends.local.options import LocalOptions
from mlscale.backends.local.system import LocalSystem
from mlscale.backends.state import clear_state, write_state
from mlscale.errors import ConfigError, MlscaleError
from mlscale.images import ImagePool, load_images
from mlscale.locations import values_file
from mlscale.net import free_port
from mlscale.tokens import ensure_token

log = logging.getLogger("mlscale.supervisor")


async def _calibrate(system: LocalSystem) -> None:
    """Measure the first ready replica; a failure is logged, never fatal (workloads in rps still run)."""
    first = system.replicas[0]
    images: ImagePool | None = None
    if system.options.images:
        with contextlib.suppress(MlscaleError):  # no such folder: a synthetic image will do
            images = await asyncio.to_thread(load_images, system.options.images)
    try:
        assert first.managed.pid is not None
        system.calibration = await calibrate(
            first.url, first.managed.pid, images, system.request_milli, system.config.target_cpu_utilization
        )
        log.info("calibration: %s", json.dumps(system.calibration.to_json()))
    except (aiohttp.ClientError, TimeoutError, RuntimeError, psutil.Error) as exc:
        log.warning("calibration failed: %r", exc)


class Supervisor:
    """The loop that runs the system: watch processes, sample CPU, start the controller once ready."""

    def __init__(self, options: LocalOptions) -> None:
        values = options.values_file or values_file()
        self.options = options
        self.config = load_hpa_config(
            values,
            min_replicas=options.min_replicas,
            max_replicas=options.max_replicas,
            target_cpu_utilization=options.target_cpu,
            time_scale=options.time_scale,
        )
        settings = parse_policy_settings(merged_values(values).get("autoscaling"), self.config)
        if options.min_replicas is not None:  # --min-replicas: the floor of whichever policy runs
            settings = with_floor(settings, options.min_replicas)
        self.policy_settings = replace(settings, name=options.policy or settings.name)
        self.system = LocalSystem(options, self.config, values)
        self.system.policy = self.policy_settings.name
        self.system.floor = 0 if scales_to_zero(self.policy_settings) else self.config.min_replicas
        self.stop = asyncio.Event()
        self.controller: Controller | None = None
        self.control_port = free_port()
        self.state: dict[str, Any] = {
            "backend": "local",
            "supervisor_pid": os.getpid(),
            "control_url": f"http://127.0.0.1:{self.control_port}",
            "dispatcher_url": self.system.dispatcher_url,
            "logs": str(self.system.logs),
            "phase": "starting",
            "started_at": time.time(),
        }

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        token = ensure_token("control", self.system.state_dir)
        app = control_app(
            lambda: self.system.status(self.controller), lambda: self.controller, self.stop.set, token,
            self.control_port, announce=lambda plan: setattr(self.system, "announced", plan),
        )  # fmt: skip
        server = control_server(app, self.control_port)
        serving = asyncio.create_task(server.serve())
        write_state(self.state)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                self.system.session = session
                await self._loop()
        finally:
            self.system.stop_all()
            clear_state()
            server.should_exit = True
            await serving

    async def _loop(self) -> None:
        system, config = self.system, self.config
        for _ in range(max(config.min_replicas, 1)):  # one at least: up measures it, Knative starts so too
            system.start_replica()
        system.dispatcher.start()
        resolution = config.scaled(config.metric_resolution_seconds)
        next_sample = 0.0
        control: asyncio.Task[None] | None = None
        while not self.stop.is_set():
            for event in await system.watch():
                log.info(event)
            if time.monotonic() >= next_sample:
                system.sample()
                await system.scrape()
                next_sample = time.monotonic() + resolution
            if control is None and system.published and system.dispatcher.ready:
                if self.options.calibrate:
                    await _calibrate(system)
                self.controller = Controller(system, self._policy())
                control = asyncio.create_task(self.controller.run(self.stop))
            if control is not None:
                self._publish_phase()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.5)
        if control is not None:
            await control

    def _policy(self) -> Policy[Any]:
        """The chosen policy; the oracle's start-up time is the first replica's, as measured."""
        first = self.system.replicas[0].managed
        startup = first.ready_since - first.started_at if first.ready_since is not None else None
        calibration = self.system.calibration
        if self.policy_settings.name == "oracle" and calibration is None:
            raise ConfigError(
                "the oracle policy needs what one replica costs per request, and it was not measured "
                "(calibration off, or the 'calibration failed' line above says why); choose another "
                "--policy"
            )
        measured = (
            Measured(calibration.flat_out_rps, calibration.wall_ms_per_request / 1000, startup)
            if calibration
            else None
        )
        return make_policy(self.policy_settings, self.config, measured)

    def _publish_phase(self) -> None:
        """The state file says ready (or degraded, while the dispatcher is not) and the calibration."""
        phase = "ready" if self.system.dispatcher.ready else "degraded"
        calibration = self.system.calibration.to_json() if self.system.calibration else None
        if self.state["phase"] != phase or self.state.get("calibration") != calibration:
            self.state = {**self.state, "phase": phase, "calibration": calibration}
            write_state(self.state)


async def supervise(options: LocalOptions) -> None:
    await Supervisor(options).run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--options", required=True, help="LocalOptions as JSON")
    args = parser.parse_args()
    options = LocalOptions.from_json(args.options)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(supervise(options))
    except ConfigError as exc:  # the system is stopped by now; `up` shows this line from the log
        log.error("the local system cannot run: %s", exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
