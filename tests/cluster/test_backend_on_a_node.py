"""`mlscale up --backend kubernetes --monitoring prometheus` on a real node, through the product's own
path, then a workload that the real HPA controller scales on real CPU, which the chart's Prometheus
scrapes and its dashboard's every query draws; then the same workload on the local backend.

Nothing here is sized for one machine's speed: the test measures what one inference pod's request
costs in CPU on this machine first, and gives the load tester that capacity, as `mlscale up`'s
calibration does on the local backend.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kubernetes import client

from mlscale import __version__
from mlscale.report.balance import steady_share
from tests.cluster.addons import Logs, Prometheus
from tests.cluster.dashboard import panel_queries
from tests.cluster.node import GATEWAY, OneNodeCluster
from tests.cluster.runs import (
    COMPARISON,
    KUBE_STATE_METRICS_JOB,
    PHASES,
    REQUEST_CORES,
    TARGET,
    cluster_env,
    inference_image,
    latest_run,
    mlscale,
    pod_exec,
    pods_cpu_seconds,
    port_forward,
    summarize,
    up_on_cluster,
    values_with,
    workload_file,
)
from tests.k8s.testbed import free_port

NAMESPACE = "mlscale"


@dataclass
class System:
    env: dict[str, str]
    runs: Path
    listen: str
    started: float
    workload_run: Path | None = None
    """The scaled workload's run, once test_a_workload_... has made it."""


@pytest.fixture(scope="module")
def system(addons: OneNodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    where = tmp_path_factory.mktemp("backend")
    port = free_port()
    env = cluster_env(addons.kubeconfig, where / "state")
    values = values_with(
        where / "values.yaml",
        {
            "monitoring": {"prometheus": {"extraScrapeConfigs": [KUBE_STATE_METRICS_JOB]}},
            "logs": {"victoriaLogs": {"enabled": True}, "vlagent": {"podLogsDir": str(addons.pod_logs)}},
        },
    )
    began = time.monotonic()
    output = up_on_cluster(
        env, NAMESPACE, f"http://{GATEWAY}:{port}/storeLatency", values=values, monitoring="prometheus"
    )
    print(f"\nmlscale up (builds included) took {time.monotonic() - began:.0f} s\n{output[-1500:]}")
    try:
        yield System(env, where / "runs", f"{GATEWAY}:{port}", began)
    finally:
        print(mlscale(env, "down", timeout=600)[-500:])


def test_up_built_both_images_and_rolled_out_the_chart(one_node: OneNodeCluster, system: System) -> None:
    images = one_node.docker().images.list()
    tags = {tag for image in images for tag in image.tags}
    inference = f"{inference_image()}:{__version__}"
    assert {f"mlscale-dispatcher:{__version__}", inference} <= tags
    sizes = {tag: image.attrs["Size"] / 1e6 for image in images for tag in image.tags if "mlscale" in tag}
    print(f"\nimages built by up (MB): {json.dumps(sizes, default=lambda x: round(x))}")
    if inference_image() != "mlscale-inference":  # a fast engine's image carries no TensorFlow
        container = one_node.docker().containers.run(inference, ["python", "-c", "import tensorflow"],
                                                     remove=False, detach=True)  # fmt: skip
        try:
            assert container.wait(timeout=60)["StatusCode"] != 0
            assert b"No module named 'tensorflow'" in container.logs()
        finally:
            container.remove(force=True)
    # Imported into the node's containerd, where the kubelet's CRI finds them (nothing pulled).
    held = one_node.image_names()
    assert {
        f"docker.io/library/mlscale-dispatcher:{__version__}",
        f"docker.io/library/{inference}",
    } <= held, held
    apps = client.AppsV1Api(one_node.api)
    for name in ("mlscale-dispatcher", "mlscale-inference"):
        deployment: Any = apps.read_namespaced_deployment(name, NAMESPACE)
        assert deployment.status.ready_replicas == deployment.spec.replicas >= 1


def _python_in(one_node: OneNodeCluster, component: str, code: str, *args: str) -> tuple[int, str]:
    """`python -c CODE ARGS` in the first pod of the release's component, through the API server,
    the kubelet and CRI's exec: its exit code and output."""
    pods: list[Any] = (
        client.CoreV1Api(one_node.api)
        .list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/component={component}")
        .items
    )
    assert pods, f"no {component} pod"
    return pod_exec(
        one_node.kubeconfig, NAMESPACE, pods[0].metadata.name, component, ["python", "-c", code, *args]
    )


@pytest.mark.parametrize("name", ["inference", "dispatcher"])
def test_pods_run_as_the_chart_hardens_them(one_node: OneNodeCluster, system: System, name: str) -> None:
    """Checked inside the running container."""
    assert _python_in(one_node, name, "import os; print(os.getuid(), os.getgid())") == (0, "10001 10001\n")
    status = _python_in(one_node, name, "print(open('/proc/self/status').read())")[1]
    capabilities = dict(line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))
    assert capabilities["CapEff"] == capabilities["CapBnd"] == "0000000000000000", capabilities
    code, said = _python_in(one_node, name, "open('/probe', 'w')")
    assert code != 0
    assert "Read-only file system" in said
    # /tmp is the one writable place (an emptyDir)
    assert _python_in(one_node, name, "open('/tmp/probe', 'w').write('ok')")[0] == 0


def test_a_pod_cannot_reach_the_metadata_address(one_node: OneNodeCluster, system: System) -> None:
    probe = "import socket; s = socket.socket(); s.settimeout(5); s.connect(('169.254.169.254', 80))"
    one_node.metadata_probes += 1  # one SYN, refused at once by the FORWARD rule
    code, said = _python_in(one_node, "dispatcher", probe)
    assert code != 0
    assert "Network is unreachable" in said, said


LOOKUP = (
    "import socket, sys\ntry: print(socket.gethostbyname(sys.argv[1]))\n"
    "except OSError as e: print('no address:', e)"
)


def test_pods_resolve_cluster_names_and_no_other(one_node: OneNodeCluster, system: System) -> None:
    """CoreDNS answers the cluster's names; a name outside it gets no address (nothing forwarded)."""
    service = client.CoreV1Api(one_node.api).read_namespaced_service("mlscale-dispatcher", NAMESPACE)
    name = f"mlscale-dispatcher.{NAMESPACE}.svc.cluster.local"
    assert _python_in(one_node, "dispatcher", LOOKUP, name) == (0, f"{service.spec.cluster_ip}\n")
    code, said = _python_in(one_node, "dispatcher", LOOKUP, "pypi.org")
    assert (code, said.split(":")[0]) == (0, "no address"), said


def _restarts(one_node: OneNodeCluster, selector: str) -> dict[str, str]:
    """Each restarted container of the selected pods: its restart count and why it last ended."""
    pods: list[Any] = (
        client.CoreV1Api(one_node.api).list_namespaced_pod(NAMESPACE, label_selector=selector).items
    )
    restarted = {}
    for pod in pods:
        for status in pod.status.container_statuses or []:
            if status.restart_count:
                ended = status.last_state.terminated if status.last_state else None
                why = f"{ended.reason} (exit {ended.exit_code})" if ended else "unknown"
                restarted[f"{pod.metadata.name}/{status.name}"] = f"{status.restart_count}x, last {why}"
    return restarted


def test_a_workload_is_scaled_by_the_real_hpa_on_real_cpu(
    one_node: OneNodeCluster, system: System, tmp_path: Path
) -> None:
    selector = "app.kubernetes.io/instance=mlscale,app.kubernetes.io/component=inference"
    # Calibration: a light constant load, and the inference pod's CPU time across it.
    before = pods_cpu_seconds(one_node.api, NAMESPACE, selector)
    calibrate = workload_file(tmp_path / "calibrate.txt", ((15, 4.0),), unit="requests")
    mlscale(system.env, "loadtest", str(calibrate), "--listen", system.listen, "--no-live",
            "--runs-dir", str(system.runs / "calibration"))  # fmt: skip
    after = pods_cpu_seconds(one_node.api, NAMESPACE, selector)
    served = pd.read_parquet(latest_run(system.runs / "calibration") / "requests.parquet")
    assert (served["outcome"] == "ok").all(), served["outcome"].value_counts()
    cpu_s = sum(after[name] - before.get(name, 0.0) for name in after) / len(served)
    capacity = TARGET * REQUEST_CORES / cpu_s
    print(f"\ncalibration: {cpu_s * 1000:.1f} ms CPU per image in a pod, {capacity:.1f} requests/s at 70 %")
    COMPARISON["light, node port"] = summarize(latest_run(system.runs / "calibration"))
    # The same light load through `kubectl port-forward` (API server, kubelet, the runtime's stream):
    # what the harness cost before it went through the node port as a user's load test would.
    with port_forward(system.env, NAMESPACE) as forwarded:
        mlscale(system.env, "loadtest", str(calibrate), "--dispatcher", forwarded, "--listen", system.listen,
                "--no-live", "--runs-dir", str(system.runs / "forwarded"))  # fmt: skip
    COMPARISON["light, kubectl port-forward"] = summarize(latest_run(system.runs / "forwarded"))

    workload = workload_file(tmp_path / "scale.txt", PHASES, unit="replicas")
    mlscale(system.env, "loadtest", str(workload), "--listen", system.listen, "--no-live",
            "--capacity", f"{capacity:.3f}", "--runs-dir", str(system.runs), timeout=900)  # fmt: skip
    run_dir = system.workload_run = latest_run(system.runs)
    summary = summarize(run_dir)
    COMPARISON["kubernetes"] = {**summary, "capacity": capacity}
    print(f"kubernetes run {run_dir.name}: {json.dumps(summary)}")

    planned = json.loads((run_dir / "run.json").read_text())["planned_requests"]
    assert summary["requests"] == planned
    # A dispatcher restart loses what it held (a 512 Mi pod was once OOM-killed at ~800 queued
    # images): say so by name, before the count of lost requests it would explain.
    assert _restarts(one_node, "app.kubernetes.io/component=dispatcher") == {}
    # Every request ok: a run of errors or timeouts has no lost request either.
    assert {k: n for k, n in summary["counts"].items() if n} == {"ok": planned}, summary["counts"]
    # The real controller scaled up on the pods' real CPU, and back down after the load dropped.
    assert max(summary["desired"], default=1) >= 2, summary
    assert summary["max_replicas"] >= 2, summary
    assert summary["replicas_per_sync"][-1] < summary["max_replicas"], summary
    replicas = pd.read_parquet(run_dir / "replicas.parquet")
    assert replicas["replica"].nunique() >= 2
    assert replicas["cpu_utilization"].notna().any()

    # Load reaches the new pods: the dispatcher balances over the ready pods (a headless Service),
    # not over kube-proxy's per-connection choice, which left a scale-out's new pod with 0 of 5,090
    # requests when the dispatcher called the Service (chart value dispatcher.balance=service).
    meta = json.loads((run_dir / "run.json").read_text())
    share = steady_share(pd.read_parquet(run_dir / "requests.parquet"), replicas, meta["start_at"])
    print(f"steady stretch with >= 2 ready pods: {share}")
    assert share is not None, "no stretch of >= 5 s with two ready pods"
    assert share["max_deviation"] <= 0.5, share  # every pod within half of its fair share

    report = mlscale(system.env, "report", str(run_dir))
    assert (run_dir / "timeline.png").exists(), report[-2000:]


def test_prometheus_scraped_every_pod_and_every_dashboard_query_answers(
    one_node: OneNodeCluster, system: System
) -> None:
    """The chart's own Prometheus (its jobs are the operator's reading of the chart's ServiceMonitors)
    scraped the dispatcher and every inference pod of the run, and each query of the chart's Grafana
    dashboard, evaluated in the middle of the run's busy phase, returns series with values."""
    assert system.workload_run is not None, "the scaled workload did not run"
    meta = json.loads((system.workload_run / "run.json").read_text())
    start, end = float(meta["start_at"]), float(meta["end_at"])
    prometheus = Prometheus(one_node, NAMESPACE, "mlscale-prometheus")
    pods = set(pd.read_parquet(system.workload_run / "replicas.parquet")["replica"])
    window = f"{int(end - start) + 60}s"
    scraped = {
        (r["metric"]["job"], r["metric"]["pod"])
        for r in prometheus.query(
            f'max by (job, pod) (max_over_time(up{{namespace="{NAMESPACE}"}}[{window}])) == 1', at=end
        )
    }
    print(f"\npods scraped up during the run: {sorted(scraped)}")
    assert {pod for job, pod in scraped if job == "mlscale-inference"} >= pods, (pods, scraped)
    assert any(job == "mlscale-dispatcher" for job, _ in scraped), scraped
    jobs = {(t["labels"]["job"], t["scrapePool"]) for t in prometheus.targets()}
    assert ("mlscale-dispatcher", f"serviceMonitor/{NAMESPACE}/mlscale-dispatcher/0") in jobs, jobs
    # every target now: the dispatcher, the remaining inference pods, kube-state-metrics
    health = {t["scrapeUrl"]: t["health"] for t in prometheus.targets()}
    assert set(health.values()) == {"up"}, health

    busy = start + PHASES[0][0] + PHASES[1][0] * 0.8  # the 1 m windows inside the 2.8-replica phase
    empty = []
    for title, expr in panel_queries():
        series = prometheus.query(expr, at=busy)
        values = [float(s["value"][1]) for s in series]
        if not series or not all(math.isfinite(v) for v in values):
            empty.append(f"{title}: {expr} -> {series}")
        print(f"  {title[:40]:40} {len(series)} series, {[round(v, 2) for v in values][:4]}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
    # the replica panel drew kube-state-metrics' series (not its fallback for the local backend)
    current = prometheus.query(
        'kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler="mlscale-inference"}',
        at=busy,
    )
    assert current, "kube-state-metrics reported no replicas of the HPA"
    assert float(current[0]["value"][1]) >= 2, current
    print(
        f"{len(panel_queries())} dashboard queries of {len({t for t, _ in panel_queries()})} panels answered"
    )


def test_the_pods_json_logs_are_aggregated_and_queryable(one_node: OneNodeCluster, system: System) -> None:
    """The chart's logs option: vlagent ships every container's log from the node to VictoriaLogs,
    where the services' JSON lines are fields (level, logger, msg) a LogsQL query selects by."""
    assert system.workload_run is not None, "the scaled workload did not run"
    pods = set(pd.read_parquet(system.workload_run / "replicas.parquet")["replica"])
    logs = Logs(one_node, NAMESPACE, "mlscale-logs")
    # `level` is a field of the services' own JSON, parsed on the way in
    query = (f"kubernetes.pod_namespace:={NAMESPACE} level:=info"
             " | stats by (kubernetes.container_name, kubernetes.pod_name) count() lines")  # fmt: skip
    deadline = time.monotonic() + 60  # vlagent ships within seconds; the last lines may be in flight
    while True:
        rows = logs.query(query)
        by_pod = {
            row["kubernetes.pod_name"]: (row["kubernetes.container_name"], int(row["lines"])) for row in rows
        }
        shipped = {pod for pod, (container, _) in by_pod.items() if container == "inference"}
        if shipped >= pods or time.monotonic() > deadline:
            break
        time.sleep(2)
    print(f"\ninfo lines per pod in VictoriaLogs: {by_pod}")
    assert shipped >= pods, (pods, by_pod)
    assert any(container == "dispatcher" for container, _ in by_pod.values()), by_pod
