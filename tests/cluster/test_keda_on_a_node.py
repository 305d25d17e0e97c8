"""`mlscale up --backend kubernetes --policy queue --monitoring prometheus` on a real node: the chart's
ScaledObject read by a real KEDA 2.16.1, its trigger answered by the chart's own Prometheus scraping
the dispatcher, the inference Deployment activated from zero when requests arrive, scaled out by the
HPA KEDA makes, and returned to zero after the cooldown; every request ok.

Sized by measurement, not by this machine's speed: one pod's CPU per image is measured first (as
test_backend_on_a_node does) and the load is a multiple of that pod's capacity.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kubernetes import client

from tests.cluster.addons import Prometheus
from tests.cluster.node import GATEWAY, OneNodeCluster
from tests.cluster.runs import (
    CPU_LIMIT_CORES,
    KUBE_STATE_METRICS_JOB,
    REQUEST_CORES,
    ROOT,
    TARGET,
    cluster_env,
    latest_run,
    mlscale,
    pods_cpu_seconds,
    summarize,
    up_on_cluster,
    values_with,
    workload_file,
)
from tests.k8s.testbed import free_port

NAMESPACE = "mlscale-queue"
INFERENCE = "mlscale-inference"
SELECTOR = "app.kubernetes.io/instance=mlscale,app.kubernetes.io/component=inference"
SCRAPE = "5s"
"""Prometheus' interval here (the chart's default is 15 s): the activation path is scrape, KEDA's
5 s poll, the pod's start; a 15 s scrape would add up to 10 s to the first requests' wait."""
COOLDOWN_S = 30
"""The chart's autoscaling.queue.cooldownPeriod."""


@dataclass
class Queue:
    env: dict[str, str]
    runs: Path
    listen: str
    observed: list[dict[str, Any]] = field(default_factory=list)
    """What the test saw of the ScaledObject and the Deployment while the load ran."""


@pytest.fixture(scope="module")
def queue(addons: OneNodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queue]:
    where = tmp_path_factory.mktemp("queue")
    port = free_port()
    env = cluster_env(addons.kubeconfig, where / "state")
    values = values_with(
        where / "values.yaml",
        {
            "monitoring": {
                "serviceMonitor": {"enabled": True, "interval": SCRAPE},
                "prometheus": {"scrapeInterval": SCRAPE, "extraScrapeConfigs": [KUBE_STATE_METRICS_JOB]},
            },
        },
    )
    output = up_on_cluster(
        env, NAMESPACE, f"http://{GATEWAY}:{port}/storeLatency", "--policy", "queue",
        values=values, monitoring="prometheus",
    )  # fmt: skip
    print(f"\n{output[-1200:]}")
    try:
        yield Queue(env, where / "runs", f"{GATEWAY}:{port}")
    finally:
        print(mlscale(env, "down", timeout=600)[-300:])


def scaled_object(cluster: OneNodeCluster) -> dict[str, Any]:
    found: Any = client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(
        "keda.sh", "v1alpha1", NAMESPACE, "scaledobjects", INFERENCE
    )
    return dict(found)


def conditions(cluster: OneNodeCluster) -> dict[str, str]:
    return {c["type"]: c["status"] for c in scaled_object(cluster).get("status", {}).get("conditions", [])}


def replicas(cluster: OneNodeCluster) -> int:
    scale: Any = client.AppsV1Api(cluster.api).read_namespaced_deployment_scale(INFERENCE, NAMESPACE)
    return int(scale.spec.replicas or 0)


def wait_for(what: str, check: Any, timeout: float) -> float:
    """Poll ``check`` each second until it holds: seconds taken."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(1)
    return time.monotonic() - began


def test_keda_reads_the_scaled_object_and_scales_to_zero(addons: OneNodeCluster, queue: Queue) -> None:
    took = wait_for("the ScaledObject Ready", lambda: conditions(addons).get("Ready") == "True", 120)
    hpa: Any = client.AutoscalingV2Api(addons.api).read_namespaced_horizontal_pod_autoscaler(
        f"keda-hpa-{INFERENCE}", NAMESPACE
    )
    assert hpa.spec.scale_target_ref.name == INFERENCE
    assert hpa.spec.metrics[0].external.metric.name == "s0-prometheus"
    assert hpa.spec.max_replicas == 3
    # no requests: inactive, and KEDA takes the Deployment to zero once its cooldown has passed
    to_zero = wait_for("scaled to zero while idle", lambda: replicas(addons) == 0, COOLDOWN_S + 150)
    assert conditions(addons)["Active"] == "False"
    print(f"\nScaledObject Ready after {took:.0f} s; idle -> 0 replicas after {to_zero:.0f} s more")


def test_requests_activate_from_zero_scale_out_and_return_to_zero(
    addons: OneNodeCluster, queue: Queue, tmp_path: Path
) -> None:
    assert replicas(addons) == 0, "not at zero before the load"
    # Activation, and the pod's CPU per image across a light constant load once it serves.
    light = workload_file(tmp_path / "light.txt", ((25, 4.0),), unit="requests")
    mlscale(queue.env, "loadtest", str(light), "--listen", queue.listen, "--no-live",
            "--runs-dir", str(queue.runs / "light"))  # fmt: skip
    first = latest_run(queue.runs / "light")
    served = pd.read_parquet(first / "requests.parquet")
    assert (served["outcome"] == "ok").all(), served["outcome"].value_counts()
    waited = served.sort_values("latency_ms")["latency_ms"].iloc[-1] / 1000
    print(f"\nfrom zero: {len(served)} requests ok, the longest waited {waited:.1f} s for the first pod")
    before = pods_cpu_seconds(addons.api, NAMESPACE, SELECTOR)
    calibrate = workload_file(tmp_path / "calibrate.txt", ((15, 4.0),), unit="requests")
    mlscale(queue.env, "loadtest", str(calibrate), "--listen", queue.listen, "--no-live",
            "--runs-dir", str(queue.runs / "calibration"))  # fmt: skip
    after = pods_cpu_seconds(addons.api, NAMESPACE, SELECTOR)
    count = len(pd.read_parquet(latest_run(queue.runs / "calibration") / "requests.parquet"))
    cpu_s = sum(after[name] - before.get(name, 0.0) for name in after) / count
    at_target = TARGET * REQUEST_CORES / cpu_s
    flat_out = CPU_LIMIT_CORES / cpu_s
    print(f"calibration: {cpu_s * 1000:.1f} ms CPU per image, {at_target:.1f} requests/s at 70 %, "
          f"{flat_out:.1f}/s flat out at the pod's 1-CPU limit")  # fmt: skip

    # 1.3 of what one pod serves flat out: its queue grows whatever its CPU reads, so KEDA's HPA asks
    # for more. (2.5 pods' worth at the 70 % target, 0.87 of a core, was once served by one pod with
    # about one request waiting, under the threshold of 2: no scale-out, and the test failed.)
    busy = workload_file(tmp_path / "busy.txt", ((90, 1.3), (10, 0.05)), unit="replicas")
    capacity = flat_out
    said = tmp_path / "loadtest.log"
    with said.open("w") as output, subprocess.Popen(
        [sys.executable, "-m", "mlscale", "loadtest", str(busy), "--listen", queue.listen, "--no-live",
         "--capacity", f"{capacity:.3f}", "--runs-dir", str(queue.runs)],
        env=queue.env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
    ) as running:  # fmt: skip
        while running.poll() is None:  # what KEDA and the Deployment say while the load runs
            queue.observed.append({"at": time.time(), "replicas": replicas(addons), **conditions(addons)})
            time.sleep(2)
    assert running.returncode == 0, said.read_text()[-3000:]
    run_dir = latest_run(queue.runs)
    summary = summarize(run_dir)
    shown = {k: summary[k] for k in ("counts", "max_replicas", "p95_ms")}
    print(f"queue run {run_dir.name}: {json.dumps(shown)}")
    planned = json.loads((run_dir / "run.json").read_text())["planned_requests"]
    assert {k: n for k, n in summary["counts"].items() if n} == {"ok": planned}, summary["counts"]
    assert summary["requests"] == planned
    peak = max(o["replicas"] for o in queue.observed)
    assert peak >= 2, queue.observed
    assert any(o.get("Active") == "True" and o.get("Ready") == "True" for o in queue.observed)
    seen = {(o["replicas"], o.get("Ready"), o.get("Active")) for o in queue.observed}
    print(f"seen during the load (replicas, Ready, Active): {sorted(seen)}")

    # Back to zero: the HPA takes it to one (its 60 s scale-down window), KEDA to zero after the
    # cooldown; the ScaledObject inactive.
    back = wait_for("back to zero", lambda: replicas(addons) == 0, 60 + 15 + COOLDOWN_S + 120)
    assert conditions(addons)["Active"] == "False"
    print(f"0 -> {peak} -> 0: back at zero {back:.0f} s after the load ended")
    prometheus = Prometheus(addons, NAMESPACE, "mlscale-prometheus")
    health = {t["scrapeUrl"]: t["health"] for t in prometheus.targets()}
    assert set(health.values()) == {"up"}, health
