"""`mlscale compare --policies cpu,queue` on the one-node cluster and on the local backend, the same
workload (workloads/spike.txt) at the same requests per second: the real HPA controller on real CPU
against the real KEDA on the chart's Prometheus, beside the local backend's ports of both.

About 45 minutes, so not in CI: ``nox -s cluster -- compare`` runs this module alone (marked
``compare``; the cluster session deselects it otherwise). The README has its numbers.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.cluster.node import CONTAINERD_SOCKET, GATEWAY, OneNodeCluster
from tests.cluster.runs import (
    KUBE_STATE_METRICS_JOB,
    ROOT,
    cluster_env,
    latest_run,
    mlscale,
    pods_cpu_seconds,
    up_on_cluster,
    values_with,
    workload_file,
)
from tests.k8s.testbed import free_port

pytestmark = pytest.mark.compare

WORKLOAD = ROOT / "workloads" / "spike.txt"
REPEAT = int(os.environ.get("MLSCALE_COMPARE_REPEAT", "3"))
SELECTOR = "app.kubernetes.io/instance=mlscale,app.kubernetes.io/component=inference"


def flat_out(cluster: OneNodeCluster, env: dict[str, str], listen: str, values: Path, where: Path) -> float:
    """Requests/s one inference pod serves flat out (its 1-CPU limit over its CPU per image), measured
    on this node under a light constant load: the unit of workloads/spike.txt, for both backends."""
    up_on_cluster(env, "mlscale", f"http://{listen}/storeLatency", values=values, monitoring="prometheus")
    try:
        light = workload_file(where / "light.txt", ((20, 4.0),), unit="requests")
        mlscale(
            env, "loadtest", str(light), "--listen", listen, "--no-live", "--runs-dir", str(where / "warm")
        )
        before = pods_cpu_seconds(cluster.api, "mlscale", SELECTOR)
        mlscale(
            env, "loadtest", str(light), "--listen", listen, "--no-live", "--runs-dir", str(where / "cal")
        )
        after = pods_cpu_seconds(cluster.api, "mlscale", SELECTOR)
        served = len(pd.read_parquet(latest_run(where / "cal") / "requests.parquet"))
    finally:
        mlscale(env, "down", timeout=600)
    cpu_s = sum(after[name] - before.get(name, 0.0) for name in after) / served
    return 1.0 / cpu_s


def ranked(folder: Path) -> dict[str, Any]:
    """Per policy: each measure's median [min, max] over the repeats."""
    compared = json.loads((folder / "compare.json").read_text())
    return {
        policy.split(" · ")[0]: {
            measure: [spread["median"], spread["min"], spread["max"]]
            for measure, spread in row["measures"].items()
        }
        for policy, row in compared["policies"].items()
    }


def test_cpu_and_queue_on_the_cluster_and_locally(addons: OneNodeCluster, tmp_path: Path) -> None:
    port = free_port()
    listen = f"{GATEWAY}:{port}"
    env = cluster_env(addons.kubeconfig, tmp_path / "state")
    monitoring = {"prometheus": {"scrapeInterval": "5s", "extraScrapeConfigs": [KUBE_STATE_METRICS_JOB]},
                  "serviceMonitor": {"enabled": True, "interval": "5s"}}  # fmt: skip
    values = values_with(tmp_path / "values.yaml", {"monitoring": monitoring})
    capacity = flat_out(addons, env, listen, values, tmp_path)
    print(f"\none pod flat out: {capacity:.1f} requests/s (the spike's unit, both backends)")
    up = (f"--backend kubernetes --no-minikube --containerd {CONTAINERD_SOCKET} --expose node-port "
          f"--monitoring prometheus --result-url http://{listen}/storeLatency")  # fmt: skip
    mlscale(env, "compare", str(WORKLOAD), "--policies", "cpu,queue", "--repeat", str(REPEAT),
            "--capacity", f"{capacity:.3f}", "--values", str(values), "--runs-dir", str(tmp_path / "cluster"),
            "--up", up, "--loadtest", f"--listen {listen}", timeout=5400)  # fmt: skip
    local_env = {**os.environ, "MLSCALE_STATE_DIR": str(tmp_path / "local-state"), "COLUMNS": "160"}
    mlscale(local_env, "compare", str(WORKLOAD), "--policies", "cpu,queue", "--repeat", str(REPEAT),
            "--capacity", f"{capacity:.3f}", "--values", str(values), "--runs-dir", str(tmp_path / "local"),
            timeout=5400)  # fmt: skip
    tables = {}
    for backend in ("cluster", "local"):
        (folder,) = (tmp_path / backend).glob("compare-*")
        assert (folder / "compare_policies.png").exists()
        tables[backend] = ranked(folder)
        keep = ROOT / "runs" / "cluster-compare" / backend  # past the test's temporary directory
        shutil.copytree(folder, keep, dirs_exist_ok=True)
        print(
            f"{backend} (median [min, max] of {REPEAT}): {json.dumps(tables[backend], indent=1)}\n-> {keep}"
        )
    for backend, table in tables.items():
        assert set(table) == {"cpu", "queue"}, (backend, table)
