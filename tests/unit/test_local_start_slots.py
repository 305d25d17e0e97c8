"""The local backend starts at most ``max_starting`` replicas at once; the rest wait as Pending
pods (no process), oldest first, and a scale-down takes a waiting one without starting it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mlscale.autoscaling.config import HPAConfig
from mlscale.backends.local import system as local_system
from mlscale.backends.local.health import ProbeState
from mlscale.backends.local.options import LocalOptions
from mlscale.backends.local.processes import ManagedProcess
from mlscale.locations import values_file


class FakeProcess:
    pid = 4242

    def poll(self) -> None:
        return None  # running


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []

    def start(self: ManagedProcess) -> None:
        self.process = FakeProcess()  # type: ignore[assignment]
        names.append(self.name)

    monkeypatch.setattr(ManagedProcess, "start", start)
    monkeypatch.setattr(ManagedProcess, "stop", lambda self, sig=0: setattr(self, "stopping", True))
    return names


def make(tmp_path: Path, max_starting: int | None) -> local_system.LocalSystem:
    options = LocalOptions(state_dir=tmp_path, max_starting=max_starting, calibrate=False)
    return local_system.LocalSystem(options, HPAConfig(), values_file())


def test_one_replica_starts_at_a_time_and_the_rest_wait_as_pending_pods(
    tmp_path: Path, started: list[str]
) -> None:
    system = make(tmp_path, 1)
    for _ in range(3):
        system.start_replica()
    assert started == ["replica-1"]
    assert [p.phase for p in system.pods()] == ["Running", "Pending", "Pending"]
    assert system.current_replicas() == 3  # asked for: they count toward spec.replicas
    system.replicas[0].managed.probe = ProbeState(started=True, ready=True)
    system.start_pending()
    assert started == ["replica-1", "replica-2"]  # the oldest waiting one, and only one


def test_a_scale_down_takes_a_waiting_replica_without_starting_it(tmp_path: Path, started: list[str]) -> None:
    system = make(tmp_path, 1)
    system.start_replica()
    system.start_replica()
    asyncio.run(system.scale_to(1))
    assert started == ["replica-1"]
    assert [r.id for r in system.replicas if not r.terminating] == ["replica-1"]


def test_without_a_limit_every_replica_starts_at_once(tmp_path: Path, started: list[str]) -> None:
    system = make(tmp_path, None)
    for _ in range(4):
        system.start_replica()
    assert len(started) == 4
