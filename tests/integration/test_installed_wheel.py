"""mlscale installed from built wheels, not from the checkout: the chart, values.yaml, workloads and
images it needs travel as package data (issue 15). Built with uv, installed into a fresh venv, run
from a folder with nothing of the checkout in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.services import ROOT, free_port

PROJECTS = (
    ROOT,
    ROOT / "services" / "dispatcher",
    ROOT / "services" / "inference",
    ROOT / "services" / "http",
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv's bin folder, with the four wheels installed."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build and install the wheels (nox installs it: nox[uv])")
    scratch = tmp_path_factory.mktemp("wheels")
    for project in PROJECTS:  # sdist first, then the wheel from it: what a release would ship
        subprocess.run([uv, "build", "--quiet", "--out-dir", str(scratch / "dist"), str(project)], check=True)
    venv = scratch / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    wheels = sorted((scratch / "dist").glob("*.whl"))
    assert len(wheels) == 4, wheels
    # One install, as a user with the four wheels would: mlscale[local] brings both services.
    (main,) = [w for w in wheels if w.name.startswith("mlscale-")]  # not mlscale_dispatcher-...
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         "--find-links", str(scratch / "dist"), f"mlscale[local] @ {main.as_uri()}"],
        check=True,
    )  # fmt: skip
    return venv / "bin"


def mlscale(bin_dir: Path, cwd: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLSCALE_STATE_DIR", "PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / "mlscale"), *args],
        cwd=cwd,
        env={**env, "COLUMNS": "160", "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_installed_package_does_not_come_from_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import mlscale.locations as l; print(l.__file__); print(l.chart_dir())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not where[0].startswith(str(ROOT)), where
    assert where[1].endswith("mlscale/_data/helm/mlscale"), where
    assert (Path(where[1]) / "values.yaml").read_text() == (ROOT / "helm/mlscale/values.yaml").read_text()


def test_the_local_extra_brings_both_services(installed: Path, tmp_path: Path) -> None:
    missing = subprocess.run(
        [str(installed / "python"), "-c",
         "import importlib.util as u; print([n for n in ('mlscale_dispatcher', 'mlscale_inference', "
         "'ai_edge_litert', 'keras') if u.find_spec(n) is None])"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert missing == "[]"


def test_help_runs_installed(installed: Path, tmp_path: Path) -> None:
    top = mlscale(installed, tmp_path, "--help")
    assert top.returncode == 0, top.stderr
    assert all(command in top.stdout for command in ("up", "loadtest", "report", "down", "demo"))
    loadtest = mlscale(installed, tmp_path, "loadtest", "--help")
    assert loadtest.returncode == 0, loadtest.stderr
    assert "--dispatcher" in loadtest.stdout


def test_up_loadtest_down_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    """No helm/, workloads/ or images/ here: the shipped ones are used (and a run is written)."""
    port = str(free_port())
    up = mlscale(installed, tmp_path, "up", "--weights", "none", "--dispatcher-port", port)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "calibration: one replica" in up.stdout  # the shipped sample images were sent
        status = json.loads(mlscale(installed, tmp_path, "status", "--json").stdout)
        assert status["backend"] == "local"
        assert status["dispatcher_url"].endswith(f":{port}")
        run = mlscale(
            installed, tmp_path, "loadtest", "workloads/demo.txt", "--max-images", "20", "--no-live",
            "--listen", f"127.0.0.1:{free_port()}",
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        (run_dir,) = (tmp_path / "runs").iterdir()
        meta = json.loads((run_dir / "run.json").read_text())
        assert meta["workload"]["name"] == "demo"
        assert meta["counts"]["ok"] == 20
    finally:
        down = mlscale(installed, tmp_path, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not (tmp_path / ".mlscale" / "state.json").exists()
    supervisor = int(status["supervisor_pid"])
    assert not Path(f"/proc/{supervisor}").exists()
