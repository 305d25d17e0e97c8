"""On a machine without a Docker engine or Minikube (this one), `mlscale up --backend kubernetes`
stops in preflight: exit 2, every missing piece named with how to get it, nothing changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlscale.backends.state import read_state
from mlscale.cli import app


def test_preflight_names_what_is_missing_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("minikube") is not None:
        pytest.skip("this machine has minikube: the check is for one without it")
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")  # no engine, whatever the host has
    result = CliRunner().invoke(app, ["up", "--backend", "kubernetes"])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "nothing was changed" in output
    assert "- docker: docker is not reachable" in output
    assert "fix: start Docker" in output
    assert "- minikube: minikube is not on PATH" in output
    assert "fix: install minikube" in output
    assert "minikube start --memory=8192 --cpus=4" in output
    assert "Traceback" not in result.output
    assert read_state() is None
