"""The real HPA controller (kube-controller-manager 1.20) against mlscale's HPA port.

1. On the chart's inference Deployment, it scales up when the scenario drives CPU above 70 % and
   back down after the scale-down window.
2. Conformance: for several CPU scenarios, at every sync the replica count the real controller
   chooses equals the one ``mlscale.autoscaling.hpa.decide`` chooses from the same per-pod
   metrics, pod states and behavior. The fake metrics server's log is the controller's input: one
   pod-metrics request per sync.
"""

from __future__ import annotations

import bisect
import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from kubernetes import client

from mlscale.autoscaling.config import HPAConfig, parse_hpa_config
from mlscale.autoscaling.hpa import HPAState, Pod, decide
from tests.chart.helm import SUBCHARTS_OFF, chart_copy, helm_binary
from tests.k8s.conftest import Cluster
from tests.k8s.metrics import Served

SYNC = 2.0  # the testbed's --horizontal-pod-autoscaler-sync-period
# Windows and periods off the 2 s sync grid, so neither side sits on a boundary by a millisecond.
BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 3,
        "selectPolicy": "Max",
        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 5}],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 9,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 5}],
    },
}


@contextmanager
def replica_timeline(apps: client.AppsV1Api, namespace: str, name: str) -> Iterator[list[tuple[float, int]]]:
    """(time, the Deployment's spec.replicas), sampled every 50 ms while the block runs."""
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.05):
            with contextlib.suppress(client.exceptions.ApiException):
                replicas = apps.read_namespaced_deployment(name, namespace).spec.replicas
                samples.append((time.time(), int(replicas)))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def at(samples: list[tuple[float, int]], moment: float) -> int:
    """The last sampled value at or before ``moment``."""
    index = bisect.bisect_right([t for t, _ in samples], moment) - 1
    return samples[max(0, index)][1]


def helm(cluster: Cluster, *args: str) -> None:
    result = subprocess.run(
        [helm_binary(), *args, "--kubeconfig", str(cluster.testbed.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_real_controller_scales_the_chart_up_and_back_down(cluster: Cluster) -> None:
    namespace = "scaling"
    helm(
        cluster,
        "install",
        "mlscale",
        str(chart_copy()),
        "-n",
        namespace,
        "--create-namespace",
        *SUBCHARTS_OFF,
        "--set",
        "inference.weights=none,autoscaling.behavior.scaleUp.stabilizationWindowSeconds=0",
        "--set",
        "autoscaling.behavior.scaleDown.stabilizationWindowSeconds=10",
        "--wait",
        "--timeout",
        "120s",
    )
    apps = client.AppsV1Api(cluster.api)
    try:
        began = time.time()
        cluster.metrics.set_scenario(lambda pod, t: 600.0 if t < 20 else 50.0)  # 120 %, then 10 %
        with replica_timeline(apps, namespace, "mlscale-inference") as samples:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                time.sleep(1)
                if time.time() - began > 25 and samples and samples[-1][1] == 1:
                    break
        counts = [n for _, n in samples]
        peak = max(counts)
        assert peak >= 3, counts
        assert counts[-1] == 1, counts
        up_at = next(t for t, n in samples if n > 1) - began
        down_at = next(t for t, n in samples if t - began > 20 and n == 1) - began
        print(
            f"real controller: 1 -> {peak} replicas (first scale-up {up_at:.1f} s after CPU rose), "
            f"back to 1 at {down_at:.1f} s (CPU fell at 20 s, scale-down window 10 s)"
        )
        assert down_at >= 20 + 10 - SYNC  # not before the window passed
    finally:
        helm(cluster, "uninstall", "mlscale", "-n", namespace, "--wait")


# --- conformance ------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    cpu: Callable[[int, float], float | None]
    """(pod's index by creation, seconds) -> millicores."""
    seconds: float
    min_replicas: int = 1
    not_ready_first_pod: bool = False


SCENARIOS = [
    Scenario("step up", lambda i, t: 100.0 if t < 8 else 600.0, 30),
    Scenario("spike", lambda i, t: 700.0 if 8 <= t < 12 else 150.0, 34),
    Scenario("slow ramp", lambda i, t: 100.0 + 18.0 * t, 30),
    Scenario("oscillation around the target", lambda i, t: 390.0 if int(t / 4) % 2 else 310.0, 30),
    # The not-ready pod counts as 0 % on a scale-up: (900 + 0) / (2 × 500) = 90 % still scales up.
    Scenario("a pod that is not ready", lambda i, t: 900.0, 24, min_replicas=2, not_ready_first_pod=True),
]


def hpa_config(scenario: Scenario, one_window: bool) -> HPAConfig:
    config = parse_hpa_config(
        {
            "minReplicas": scenario.min_replicas,
            "maxReplicas": 6,
            "targetCPUUtilizationPercentage": 70,
            "behavior": BEHAVIOR,
            "syncPeriodSeconds": SYNC,
            "tolerance": 0.1,
        }
    )
    return replace(config, one_window_stabilization=one_window)


def our_pods(served: Served, window: float) -> list[Pod]:
    return [
        Pod(
            name=p["name"],
            cpu_request_milli=p["request_milli"],
            phase=p["phase"] or "Pending",
            ready=p["ready"],
            ready_since=p["ready_since"] if p["ready_since"] is not None else float("-inf"),
            started_at=p["started_at"] if p["started_at"] is not None else float("-inf"),
            deleted=p["deleting"],
            usage_milli=None if p["cpu_milli"] is None else round(p["cpu_milli"]),
            metric_at=served.at,
            metric_window=window,
        )
        for p in served.pods
    ]


@dataclass
class Comparison:
    real: list[int]
    ours: list[int]
    """hpa.decide with Kubernetes 1.20's one-window stabilization, as the controller under test."""
    ours_today: list[int]
    """hpa.decide as today's Kubernetes (the local backend's default)."""
    differences: list[str]


def run_scenario(cluster: Cluster, scenario: Scenario, namespace: str) -> Comparison:
    core, apps = client.CoreV1Api(cluster.api), client.AppsV1Api(cluster.api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    labels = {"app": "conformance"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="app"),
            spec=client.V1DeploymentSpec(
                replicas=scenario.min_replicas,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        automount_service_account_token=False,
                        termination_grace_period_seconds=0,
                        containers=[
                            client.V1Container(
                                name="app",
                                image="mlscale-inference:test",
                                resources=client.V1ResourceRequirements(requests={"cpu": "500m"}),
                            )
                        ],
                    ),
                ),
            ),
        ),
    )
    deadline = time.monotonic() + 60
    while (
        apps.read_namespaced_deployment("app", namespace).status.ready_replicas or 0
    ) < scenario.min_replicas:
        assert time.monotonic() < deadline, "the conformance deployment never became ready"
        time.sleep(0.2)
    if scenario.not_ready_first_pod:
        pods = sorted(core.list_namespaced_pod(namespace).items, key=lambda p: p.metadata.creation_timestamp)
        cluster.kubelet.not_ready.add(pods[0].metadata.name)
        time.sleep(1)
    order: dict[str, int] = {}

    def cpu(pod: Any, t: float) -> float | None:
        if pod.metadata.namespace != namespace:
            return 100.0
        index = order.setdefault(pod.metadata.name, len(order))
        return scenario.cpu(index, t)

    cluster.metrics.set_scenario(cpu)
    with replica_timeline(apps, namespace, "app") as samples:
        client.CustomObjectsApi(cluster.api).create_namespaced_custom_object(
            "autoscaling",
            "v2beta2",
            namespace,
            "horizontalpodautoscalers",
            {
                "apiVersion": "autoscaling/v2beta2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "app"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
                    "minReplicas": scenario.min_replicas,
                    "maxReplicas": 6,
                    "behavior": BEHAVIOR,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 70},
                            },
                        }
                    ],
                },
            },
        )
        time.sleep(scenario.seconds)
    syncs = [s for s in cluster.metrics.log if s.namespace == namespace]
    real = [at(samples, served.at + SYNC / 2) for served in syncs[:-1]]  # the last may not be sampled yet
    replays = {}
    notes: list[str] = []
    for one_window in (True, False):
        config, state, chosen = hpa_config(scenario, one_window), HPAState(), []
        for served, result in zip(syncs, real, strict=False):
            current = at(samples, served.at - 0.01)
            seen_pods = our_pods(served, cluster.metrics.window_seconds)
            decision, state = decide(current, seen_pods, served.at, state, config)
            chosen.append(decision.desired)
            if one_window and decision.desired != result:
                seen = [
                    (
                        p["name"][-5:],
                        p["cpu_milli"],
                        p["ready"],
                        None if p["ready_since"] is None else round(served.at - p["ready_since"], 3),
                    )
                    for p in served.pods
                ]  # (pod, CPU, ready, seconds since its Ready condition changed)
                notes.append(
                    f"t={served.at - syncs[0].at:.1f}s current={current} real={result} "
                    f"ours={decision.desired} ({decision.reason}); pods={seen}"
                )
        replays[one_window] = chosen
    if notes:
        events = core.list_namespaced_event(
            namespace, field_selector="involvedObject.kind=HorizontalPodAutoscaler"
        )
        for event in events.items:
            when = event.last_timestamp or event.event_time
            notes.append(f"  event {when.timestamp() - syncs[0].at if when else None}: {event.reason} "
                         f"x{event.count}: {event.message}")  # fmt: skip
        for served, result in zip(syncs, real, strict=False):
            notes.append(
                f"  sync t={served.at - syncs[0].at:.3f} real={result} pods="
                + str(
                    [
                        (p["name"][-5:], p["ready"], round(served.at - (p["ready_since"] or 0), 3))
                        for p in served.pods
                    ]
                )
            )
    cluster.kubelet.not_ready.clear()
    core.delete_namespace(namespace)
    return Comparison(real, replays[True], replays[False], notes)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_our_hpa_chooses_what_the_real_controller_chooses(cluster: Cluster, scenario: Scenario) -> None:
    namespace = "conformance-" + scenario.name.replace(" ", "-")[:40].strip("-")
    result = run_scenario(cluster, scenario, namespace)
    matching = sum(r == o for r, o in zip(result.real, result.ours, strict=True))
    today = sum(r == o for r, o in zip(result.real, result.ours_today, strict=True))
    print(f"\n{scenario.name}: {matching}/{len(result.real)} syncs match (with today's stabilization: "
          f"{today}/{len(result.real)})\n  real 1.20:    {result.real}\n  ours (1.20):  {result.ours}\n"
          f"  ours (today): {result.ours_today}")  # fmt: skip
    assert len(result.real) >= scenario.seconds / SYNC - 3  # the controller synced throughout
    assert len(set(result.real)) > 1, result.real  # the scenario moved the controller
    assert result.differences == [], "\n".join(result.differences)
