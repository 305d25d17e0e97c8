"""The supervisor refuses a policy it cannot run with a reason, and exits 2 with that reason on
one log line (no traceback), its system stopped: `up` shows the log's last lines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mlscale.backends.local import supervisor
from mlscale.backends.local.options import LocalOptions
from mlscale.backends.local.processes import ManagedProcess
from mlscale.errors import ConfigError


class FakeProcess:
    pid = 4242

    def poll(self) -> None:
        return None


def test_the_oracle_without_a_measured_cost_is_refused_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ManagedProcess, "start", lambda self: setattr(self, "process", FakeProcess()))
    chosen = supervisor.Supervisor(LocalOptions(state_dir=tmp_path, policy="oracle", calibrate=False))
    chosen.system.start_replica()
    assert chosen.system.calibration is None
    with pytest.raises(ConfigError, match="oracle policy needs what one replica costs"):
        chosen._policy()
    other = supervisor.Supervisor(LocalOptions(state_dir=tmp_path, policy="queue", calibrate=False))
    other.system.start_replica()
    assert other._policy().name == "queue"  # the others need no calibration


def test_a_config_error_exits_2_with_its_reason_on_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    async def refuses(options: LocalOptions) -> None:
        raise ConfigError("the oracle policy needs what one replica costs per request")

    monkeypatch.setattr(supervisor, "supervise", refuses)
    monkeypatch.setattr("sys.argv", ["supervisor", "--options", LocalOptions(state_dir=tmp_path).to_json()])
    with caplog.at_level(logging.ERROR, logger="mlscale.supervisor"), pytest.raises(SystemExit) as exited:
        supervisor.main()
    assert exited.value.code == 2
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage() == (
        "the local system cannot run: the oracle policy needs what one replica costs per request"
    )
    assert line.exc_info is None
