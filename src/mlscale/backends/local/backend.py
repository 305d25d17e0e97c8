"""The local backend, CLI side: start the supervisor detached, talk to its control API, stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mlscale.backends.base import SystemStatus
from mlscale.backends.local.export import exported_model
from mlscale.backends.local.installed import check_installed
from mlscale.backends.local.options import LocalOptions
from mlscale.backends.state import clear_state, read_state
from mlscale.errors import AlreadyUp, BackendUnreachable, MlscaleError, NotUp, StartError
from mlscale.locations import cache_dir, state_dir
from mlscale.tokens import read_token

# Supervisors this CLI process started, so ``down`` in the same process reaps them (no zombie).
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}
UP_TIMEOUT_S = 300.0  # TensorFlow's import alone takes ~20 s per replica on 2 cores


def _port_taken(port: int) -> bool:
    """Would uvicorn fail to bind it? It sets SO_REUSEADDR, so a TIME_WAIT socket left by the last
    load test does not count (a plain bind said "taken" for up to a minute after `down`)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend:
    name = "local"

    def __init__(self, options: LocalOptions | None = None, console: Console | None = None) -> None:
        self.options = options or LocalOptions(state_dir=state_dir())
        self.console = console or Console()

    def _state(self) -> dict[str, Any]:
        state = read_state()
        if state is None or state.get("backend") != "local":
            raise NotUp("no local system is up; run `mlscale up` first")
        if not _alive(int(state["supervisor_pid"])):
            clear_state()
            raise NotUp("the local system's supervisor is gone (its state file was stale and is removed)")
        return state

    def _headers(self) -> dict[str, str]:
        token = read_token("control", self.options.state_dir)
        return {"authorization": f"Bearer {token}"} if token else {}

    def _get(self, path: str) -> Any:
        try:
            response = httpx.get(self._state()["control_url"] + path, headers=self._headers(), timeout=5)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise BackendUnreachable(f"the local system's control API did not answer: {exc}") from exc
        return response.json()

    def announce(self, rates: list[float], start_at: float) -> None:
        """Tell the supervisor the workload that is starting (the oracle policy plans from it)."""
        try:
            response = httpx.post(self._state()["control_url"] + "/plan", headers=self._headers(),
                                  json={"rates": rates, "start_at": start_at}, timeout=5)  # fmt: skip
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise BackendUnreachable(f"the local system's control API did not take the plan: {exc}") from exc

    def up(self) -> SystemStatus:
        existing = read_state()
        if existing is not None and _alive(int(existing.get("supervisor_pid", 0)) or 0):
            raise AlreadyUp(
                f"a {existing.get('backend')} system is already up "
                f"(dispatcher {existing.get('dispatcher_url')}); run `mlscale down` first"
            )
        clear_state()
        if _port_taken(self.options.dispatcher_port):
            raise AlreadyUp(
                f"port {self.options.dispatcher_port} on 127.0.0.1 is taken; "
                "free it or pass --dispatcher-port"
            )
        check_installed(self.options.engine, exported=self.options.model_file is not None)
        if self.options.engine != "keras" and self.options.model_file is None:
            model = exported_model(self.options.engine, self.options.weights, cache_dir(), self.console)
            self.options = replace(self.options, model_file=model)
        logs = self.options.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "supervisor.log").open("ab") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlscale.backends.local.supervisor",
                    "--options",
                    self.options.to_json(),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives this CLI; `mlscale down` ends it
            )
        _SPAWNED[process.pid] = process
        try:
            return self._wait_ready(process)
        except BaseException:
            self._stop_pid(process.pid)  # Ctrl-C or a failed start: leave nothing behind
            raise

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> SystemStatus:
        deadline = time.monotonic() + UP_TIMEOUT_S
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task("starting the supervisor", total=None)
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    log = (self.options.state_dir / "logs" / "supervisor.log").read_text(errors="replace")
                    raise StartError(f"the local system failed to start:\n{log[-2000:]}")
                state = read_state()
                if state and state.get("phase") == "ready":
                    return self.status()
                if state:
                    with contextlib.suppress(MlscaleError, httpx.HTTPError):
                        status = self.status()
                        progress.update(
                            task,
                            description=f"waiting for replicas: {status.ready_replicas}/"
                            f"{len(status.replicas)} ready",
                        )
                time.sleep(0.5)
        raise StartError(
            f"the local system was not ready after {UP_TIMEOUT_S:.0f} s; "
            f"see {self.options.state_dir / 'logs'}"
        )

    def status(self) -> SystemStatus:
        return SystemStatus.from_json(self._get("/status"))

    def decisions(self) -> list[dict[str, Any]]:
        return list(self._get("/decisions"))

    def down(self, *, delete_cluster: bool = False) -> None:
        """Stop the system; return only when the supervisor and every child it ran have exited.

        ``delete_cluster`` has nothing to delete here: there is no cluster."""
        state = self._state()
        children: set[int] = set()
        with contextlib.suppress(MlscaleError, httpx.HTTPError):
            current = self.status()
            children = {r.pid for r in current.replicas if r.pid} | (
                {current.dispatcher.pid} if current.dispatcher and current.dispatcher.pid else set()
            )
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(state["control_url"] + "/shutdown", headers=self._headers(), timeout=5)
        self._stop_pid(int(state["supervisor_pid"]))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        for pid in children:  # the supervisor died before its children: do its work
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        clear_state()

    @staticmethod
    def _stop_pid(pid: int, timeout: float = 60.0) -> None:
        """Ask the supervisor to stop (it stops its children), then make sure."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        child = _SPAWNED.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout)
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if child is not None:
                child.wait()
