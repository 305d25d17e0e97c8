"""`mlscale up --backend kubernetes` on the real API server: images taken as pre-loaded, the chart
installed, the rollout waited for through the fake kubelet; `status --json` read through the real
API and metrics API; `down` removes it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes import client
from typer.testing import CliRunner

from mlscale.cli import app
from tests.chart.helm import helm_binary
from tests.k8s.conftest import Cluster

runner = CliRunner()


def test_up_status_down_on_a_real_api_server(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helm_binary()  # helm must be on PATH for the backend
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("KUBECONFIG", str(cluster.testbed.kubeconfig))
    cluster.metrics.set_scenario(lambda pod, t: 350.0)  # 70 % of the 500m request
    up = runner.invoke(
        app,
        [
            "up",
            "--backend",
            "kubernetes",
            "--namespace",
            "backend",
            "--skip-build",
            "--skip-load",
            "--no-minikube",
            "--no-monitoring",
            "--weights",
            "none",
            "--dispatcher-url",
            "http://127.0.0.1:9",
        ],
    )
    assert up.exit_code == 0, up.output
    assert "installed release mlscale in namespace backend" in up.output

    deadline = time.monotonic() + 60
    while True:  # the first metrics of a new pod take one scrape
        shown = runner.invoke(app, ["status", "--json"])
        assert shown.exit_code == 0, shown.output
        status = json.loads(shown.output)
        if status["replicas"] and status["replicas"][0]["cpu_utilization"] is not None:
            break
        assert time.monotonic() < deadline, status
        time.sleep(1)
    assert status["backend"] == "kubernetes"
    assert (status["min_replicas"], status["max_replicas"], status["target_cpu_utilization"]) == (1, 5, 70)
    (replica,) = status["replicas"]
    assert replica["id"].startswith("mlscale-inference-")
    assert replica["ready"] is True
    assert replica["cpu_milli"] == pytest.approx(350)
    assert replica["cpu_utilization"] == pytest.approx(70)
    assert (status["cluster"]["namespace"], status["cluster"]["release"]) == ("backend", "mlscale")

    down = runner.invoke(app, ["down"])
    assert down.exit_code == 0, down.output
    assert client.AppsV1Api(cluster.api).list_namespaced_deployment("backend").items == []
