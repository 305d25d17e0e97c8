"""What the cluster tests share: the CLI as a user runs it, workload files, a run's summary."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

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
CPU_LIMIT_CORES = 1.0
"""The chart's inference CPU limit: what one pod serves flat out is this over its CPU per image."""
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
    """The environment a user of the test cluster has: its dockerd, its kubeconfig, a state dir, and
    the cluster's release of kubectl and ctr first on PATH."""
    from tests.cluster.node import DOCKER_HOST
    from tests.k8s.testbed import BIN

    return {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "DOCKER_HOST": DOCKER_HOST,
        "KUBECONFIG": str(kubeconfig),
        "MLSCALE_STATE_DIR": str(state),
        "COLUMNS": "160",
    }


def up_on_cluster(
    env: dict[str, str],
    namespace: str,
    result_url: str,
    *more: str,
    values: Path = VALUES,
    monitoring: str = "off",
) -> str:
    """`mlscale up --backend kubernetes` on the test cluster, as its user would run it: the images
    imported into the node's containerd unless ``more`` names a registry."""
    from tests.cluster.node import CONTAINERD_SOCKET

    shipping = () if "--registry" in more else ("--containerd", str(CONTAINERD_SOCKET))
    return mlscale(
        env,
        "up",
        "--backend", "kubernetes",
        "--no-minikube",
        "--monitoring", monitoring,
        "--weights", "none",
        "--namespace", namespace,
        "--values", str(values),
        "--result-url", result_url,
        "--expose", "node-port",  # as a user load-tests: through a Service, not a port-forward
        *shipping,
        *more,
    )  # fmt: skip


def values_with(path: Path, extra: dict[str, Any]) -> Path:
    """The one-node values with ``extra`` merged in (one level of sections deep), written to ``path``."""
    merged: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    for section, settings in extra.items():
        merged[section] = {**(merged.get(section) or {}), **settings}
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    return path


KUBE_STATE_METRICS_JOB = {
    "job_name": "kube-state-metrics",
    "static_configs": [{"targets": ["kube-state-metrics.kube-system.svc:8080"]}],
}
"""The dashboard's HPA replica series, for the chart's own Prometheus (monitoring.prometheus)."""


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
        "hops": hops(ok),
        "served_by": ok["replica"].value_counts().to_dict(),
    }


HOPS = {
    "enqueue_ms": "to the dispatcher",
    "queue_ms": "queued",
    "infer_ms": "to the pod and back",
    "latency_ms": "end to end",
}
"""Where a request's time goes, as its row records it: the load tester's POST until the dispatcher
accepted it; waiting in the dispatcher's queue; the dispatcher's call to an inference pod (the
network both ways and the pod's own work); and from send to the result's arrival back."""


def hops(ok: pd.DataFrame) -> dict[str, list[float]]:
    """[p50, p95] in ms of each hop, over the requests that ended ok."""
    return {
        column: [round(float(ok[column].quantile(q)), 1) for q in (0.5, 0.95)]
        for column in HOPS
        if column in ok and len(ok)
    }


def hop_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [f"  {'':>28} " + " ".join(f"{label:>22}" for label in HOPS.values())]
    for name, row in rows.items():
        cells = [row["hops"].get(column) for column in HOPS]
        lines.append(f"  {name:>28} " + " ".join(f"{f'{c[0]} / {c[1]}' if c else '-':>22}" for c in cells))
    return "\n".join(lines) + "\n  (p50 / p95 ms)"


COMPARISON: dict[str, dict[str, Any]] = {}


@contextlib.contextmanager
def port_forward(env: dict[str, str], namespace: str) -> Iterator[str]:
    """`kubectl port-forward svc/mlscale-dispatcher` for the block: the dispatcher's local URL."""
    from tests.k8s.testbed import free_port

    port = free_port()
    with tempfile.TemporaryFile() as said:
        process = subprocess.Popen(
            ["kubectl", "port-forward", "svc/mlscale-dispatcher", f"{port}:8000", "-n", namespace],
            env=env, stdout=said, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not _listening(port):
                if process.poll() is not None:
                    said.seek(0)
                    raise AssertionError(f"kubectl port-forward exited: {said.read().decode()}")
                assert time.monotonic() < deadline, "kubectl port-forward did not listen in 30 s"
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def pod_exec(
    kubeconfig: Path, namespace: str, pod: str, container: str, command: list[str]
) -> tuple[int, str]:
    """`kubectl exec` (the API server, the kubelet, the runtime's exec): the command's exit code and
    what it printed, stdout and stderr together."""
    from tests.k8s.testbed import BIN

    done = subprocess.run(
        [str(BIN / "kubectl"), f"--kubeconfig={kubeconfig}", "exec", "-n", namespace, pod, "-c", container,
         "--", *command],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def pods_cpu_seconds(api: Any, namespace: str, selector: str) -> dict[str, float]:
    """Each selected pod's CPU time from its cgroup, v1 or v2 (exact and current; the kubelet's lags
    by its housekeeping)."""
    from kubernetes import client

    from tests.cluster.cgroups import pod_cpu_seconds

    pods: list[Any] = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    seconds = {pod.metadata.name: pod_cpu_seconds(pod.metadata.uid) for pod in pods}
    return {name: value for name, value in seconds.items() if value is not None}
