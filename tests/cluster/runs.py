"""What the cluster tests share: the CLI as a user runs it, workload files, a run's summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm" / "mlscale" / "ci" / "one-node-values.yaml"
"""The chart sized for a 2-core node."""


def inference_image() -> str:
    """The inference image ``up`` builds for the chart's engine (the fast one unless keras)."""
    from mlscale.autoscaling.config import load_values
    from mlscale.backends.kubernetes.backend import image_tag
    from mlscale.backends.kubernetes.options import KubernetesOptions

    engine = str(load_values(None).get("inference", {}).get("engine", "keras"))
    return image_tag(KubernetesOptions(engine=engine), "inference").split(":")[0]


TARGET = 0.70
REQUEST_CORES = 0.5
PHASES = ((20, 0.5), (150, 2.8), (150, 0.1))
"""(seconds, replicas' worth of load): light, then 2.8 replicas (one pod near its 1-CPU limit,
so the HPA asks for 3), then nearly idle until the 60 s scale-down window has passed twice."""


def mlscale(env: dict[str, str], *args: str, timeout: float = 1800) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mlscale", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"mlscale {' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def cluster_env(kubeconfig: Path, state: Path) -> dict[str, str]:
    """The environment a user of the test cluster has: its dockerd, its kubeconfig, a state dir."""
    from tests.cluster.node import DOCKER_HOST

    return {
        **os.environ,
        "DOCKER_HOST": DOCKER_HOST,
        "KUBECONFIG": str(kubeconfig),
        "MLSCALE_STATE_DIR": str(state),
        "COLUMNS": "160",
    }


def up_on_cluster(env: dict[str, str], namespace: str, result_url: str, *more: str) -> str:
    """`mlscale up --backend kubernetes` on the test cluster, as its user would run it."""
    return mlscale(
        env,
        "up",
        "--backend", "kubernetes",
        "--no-minikube",
        "--no-monitoring",
        "--weights", "none",
        "--namespace", namespace,
        "--values", str(VALUES),
        "--result-url", result_url,
        *more,
    )  # fmt: skip


def workload_file(path: Path, phases: tuple[tuple[int, float], ...], unit: str) -> Path:
    lines = [f"# unit: {unit}"] if unit == "replicas" else []
    lines += [",".join([f"{rate:g}"] * seconds) for seconds, rate in phases]
    path.write_text("\n".join(lines) + "\n")
    return path


def latest_run(runs: Path) -> Path:
    return max(runs.iterdir(), key=lambda p: p.stat().st_mtime)


def summarize(run_dir: Path, sync_seconds: int = 15) -> dict[str, Any]:
    meta = json.loads((run_dir / "run.json").read_text())
    requests = pd.read_parquet(run_dir / "requests.parquet")
    timeline = pd.read_parquet(run_dir / "timeline.parquet")
    decisions = meta.get("autoscaler", [])
    ups = [d for d in decisions if d["desired"] > d["current"]]
    ok = requests[requests["outcome"] == "ok"]
    replicas = timeline["replicas"].astype("Int64")
    return {
        "requests": len(requests),
        "counts": meta["counts"],
        "first_scale_up_s": round(float(ups[0]["at"]) - meta["start_at"], 1) if ups else None,
        "replicas_per_sync": [
            int(replicas.iloc[i])
            for i in range(0, len(replicas), sync_seconds)
            if not pd.isna(replicas.iloc[i])
        ],
        "max_replicas": int(replicas.max()),
        "desired": [d["desired"] for d in decisions],
        "p95_ms": round(float(ok["latency_ms"].quantile(0.95)), 1) if len(ok) else None,
        "served_by": ok["replica"].value_counts().to_dict(),
    }


COMPARISON: dict[str, dict[str, Any]] = {}
