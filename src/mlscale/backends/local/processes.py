"""One local process the supervisor keeps running, as a kubelet keeps a container running.

``ManagedProcess`` starts a Python module as its own process group (dying with the supervisor),
restarts it when it exits or fails its liveness or startup probe (restartPolicy Always, with the
crash back-off in ``health``), and probes it on the schedule of its ``Probes``; ``tick`` does one
round of that and returns what happened, for the supervisor to log and count.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from mlscale.backends.local.health import (
    Probes,
    ProbeSpec,
    ProbeState,
    after_liveness_probe,
    after_readiness_probe,
    after_startup_probe,
    restart_delay,
)

KILL_AFTER_S = 5.0
"""A process told to stop for a failed probe gets SIGKILL if it is still there after this."""


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
class ManagedProcess:
    name: str
    module: str
    args: list[str]
    port: int
    log: Path
    probes: Probes
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    """Wall time of the current start."""
    ready_since: float | None = None
    probe: ProbeState = field(default_factory=ProbeState)
    restarts: int = 0
    last_exit: int | None = None
    last_restart_reason: str | None = None
    stopping: bool = False
    """Told to stop for good (scale-down, shutdown): not restarted."""
    _next_start: float | None = None
    _killing_since: float | None = None
    _due: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def ready(self) -> bool:
        return self.alive and self.probe.ready and self._killing_since is None

    def start(self) -> None:
        self.process = spawn(self.module, self.args, self.log, self.env)
        self.started_at = time.time()
        self.ready_since = None
        self.probe = ProbeState()
        self._killing_since = None
        self._next_start = None
        now = time.monotonic()
        self._due = {"startup": now, "readiness": now, "liveness": now}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop for good: no restart follows."""
        self.stopping = True
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)  # type: ignore[union-attr]

    def _restart_for(self, reason: str, now: float) -> None:
        """A failed probe: SIGTERM now, SIGKILL after ``KILL_AFTER_S``; the exit then restarts it."""
        self.last_restart_reason = reason
        self._killing_since = now
        self.probe = ProbeState()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)  # type: ignore[union-attr]

    async def tick(self, session: aiohttp.ClientSession) -> list[str]:
        """One round: reap and restart, then run the probes that are due. Returns events to log."""
        events: list[str] = []
        now = time.monotonic()
        if self.process is None or self.stopping:
            return events
        code = self.process.poll()
        if code is not None:
            if self._next_start is None:
                self.last_exit = code
                self.ready_since = None
                if self._killing_since is None:
                    self.last_restart_reason = f"exited with {code}"
                ran_for = time.time() - self.started_at
                delay = restart_delay(self.restarts, ran_for)
                self._next_start = now + delay
                events.append(f"{self.name} {self.last_restart_reason}; restarting in {delay:.0f} s")
            if now >= self._next_start:
                self.restarts += 1
                self.start()
                events.append(f"{self.name} restarted (restart {self.restarts})")
            return events
        if self._killing_since is not None:
            if now - self._killing_since > KILL_AFTER_S:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
            return events
        await self._probe(session, now, events)
        return events

    async def _probe(self, session: aiohttp.ClientSession, now: float, events: list[str]) -> None:
        if not self.probe.started:
            if now < self._due["startup"]:
                return
            spec = self.probes.startup
            self._due["startup"] = now + spec.period_s
            verdict = after_startup_probe(spec, self.probe, await self._get(session, spec))
            self.probe = verdict.state
            if verdict.restart:
                self._restart_for(verdict.restart, now)
                events.append(f"{self.name}: {verdict.restart}")
            return
        checks = [kind for kind in ("readiness", "liveness") if now >= self._due[kind]]
        specs = {"readiness": self.probes.readiness, "liveness": self.probes.liveness}
        results = await asyncio.gather(*(self._get(session, specs[kind]) for kind in checks))
        for kind, ok in zip(checks, results, strict=True):
            self._due[kind] = now + specs[kind].period_s
            if kind == "readiness":
                was_ready = self.probe.ready
                self.probe = after_readiness_probe(specs[kind], self.probe, ok)
                if self.probe.ready and not was_ready:
                    self.ready_since = time.time()
                    events.append(f"{self.name} ready")
                elif was_ready and not self.probe.ready:
                    self.ready_since = None
                    events.append(f"{self.name} not ready (readiness probe failed)")
            else:
                verdict = after_liveness_probe(specs[kind], self.probe, ok)
                self.probe = verdict.state
                if verdict.restart:
                    self._restart_for(verdict.restart, now)
                    events.append(f"{self.name}: {verdict.restart}")
                    return

    async def _get(self, session: aiohttp.ClientSession, spec: ProbeSpec) -> bool:
        try:
            timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
            async with session.get(self.url + spec.path, timeout=timeout) as response:
                return 200 <= response.status < 400
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    def wait_exit(self, timeout: float) -> None:
        """After ``stop``: wait, then SIGKILL the group if it is still there."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, timeout))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
