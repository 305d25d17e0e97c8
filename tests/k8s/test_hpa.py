"""The real HPA controller (kube-controller-manager, the current release) against mlscale's HPA port.

1. On the chart's inference Deployment, it scales up when the scenario drives CPU above 70 % and
   back down after the scale-down window.
2. Conformance: for several scenarios, at every sync the replica count the real controller
   chooses equals the one ``mlscale.autoscaling.hpa.decide`` chooses, in its default mode (today's
   Kubernetes, as the local backend and the simulator run it), from the same per-pod
   metrics, pod states and behavior: CPU alone, CPU beside an External metric with an AverageValue
   target (KEDA's shape, served through external.metrics.k8s.io), and an HPA without ``behavior``
   (the older path). The fake metrics server's log is the controller's input: one pod-metrics
   request per sync, and that sync's external-metric request beside it.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import urllib3
from kubernetes import client

from mlscale.autoscaling.behavior import HPAState, record_scale
from mlscale.autoscaling.config import HPAConfig, parse_hpa_config
from mlscale.autoscaling.hpa import decide
from mlscale.autoscaling.metrics import Observed, pod_usage
from mlscale.autoscaling.policies import Snapshot
from mlscale.autoscaling.policies.cpu import CPUPolicy
from mlscale.autoscaling.policies.queue import (
    METRIC_NAME,
    SELECTOR_LABEL,
    QueuePolicy,
    QueueSettings,
    keda_hpa_spec,
)
from mlscale.autoscaling.replicas import Pod, cpu_pod
from tests.chart.helm import SUBCHARTS_OFF, chart_copy, helm_binary
from tests.k8s.conftest import Cluster
from tests.k8s.controller_log import Decision, decision_of_sync, decisions
from tests.k8s.metrics import ExternalServed, Served
from tests.k8s.testbed import KUBERNETES

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


@dataclass
class Timeline:
    spec: list[tuple[float, int]] = field(default_factory=list)
    """(time, the Deployment's spec.replicas)."""
    status: list[tuple[float, int]] = field(default_factory=list)
    """(time, its status.replicas: the pods that exist, which per-pod External targets divide by)."""


@contextmanager
def replica_timeline(apps: client.AppsV1Api, namespace: str, name: str) -> Iterator[Timeline]:
    """The Deployment's replica counts, sampled every 50 ms while the block runs."""
    timeline = Timeline()
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.05):
            # One failed read (an API error, or a response cut short on a loaded machine, as a CI
            # run once had) is one missing sample, not a dead sampler and a failed scenario.
            with contextlib.suppress(client.exceptions.ApiException, urllib3.exceptions.HTTPError):
                deployment = apps.read_namespaced_deployment(name, namespace)
                now = time.time()
                timeline.spec.append((now, int(deployment.spec.replicas)))
                timeline.status.append((now, int(deployment.status.replicas or 0)))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield timeline
    finally:
        stop.set()
        thread.join()


def at(samples: list[tuple[float, int]], moment: float) -> int:
    """The last sampled value at or before ``moment``."""
    index = bisect.bisect_right([t for t, _ in samples], moment) - 1
    return samples[max(0, index)][1]


def failed_rescales(core: client.CoreV1Api, namespace: str) -> list[tuple[float, int]]:
    """The controller's FailedRescale events: (when, to the second, the size it had decided)."""
    events = core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=HorizontalPodAutoscaler,reason=FailedRescale"
    )
    found = []
    for event in events.items:
        size = re.search(r"New size: (\d+)", event.message or "")
        when = event.last_timestamp or event.event_time
        if size and when:
            found.append((when.timestamp(), int(size.group(1))))
    return sorted(found)


def decided_counts(
    sampled: list[int], sync_times: list[float], failed: list[tuple[float, int]]
) -> tuple[list[int], set[int]]:
    """What the controller decided at each sync: the count it left, or, where its rescale failed,
    the size its FailedRescale names. The write can lose a race with the deployment controller's
    own update of the Deployment ("the object has been modified"): the controller decided, the
    count stayed, and it stores no scale event (a fresh machine once failed 957 -> 1000 so).
    Returns the counts and the syncs whose rescale failed. An event's time is to the second: it
    belongs to the last sync that began before it, or within its second."""
    decided, failed_syncs = list(sampled), set()
    for when, size in failed:
        begun = [i for i, t in enumerate(sync_times[: len(sampled)]) if t < when + 1]
        if begun:
            decided[begun[-1]] = size
            failed_syncs.add(begun[-1])
    return decided, failed_syncs


def test_a_failed_rescale_counts_as_what_the_controller_decided() -> None:
    sampled, times = [957, 957, 1000], [100.0, 102.0, 104.0]
    # The sync at 100.0 decided 1000; its write failed at 100.6, logged as second 100.
    assert decided_counts(sampled, times, [(100.0, 1000)]) == ([1000, 957, 1000], {0})
    assert decided_counts(sampled, times, [(101.0, 1000)]) == ([1000, 957, 1000], {0})
    assert decided_counts(sampled, times, [(102.0, 999)]) == ([957, 999, 1000], {1})
    assert decided_counts(sampled, times, []) == (sampled, set())


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
        with replica_timeline(apps, namespace, "mlscale-inference") as timeline:
            samples = timeline.spec
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
    queue: Callable[[float], float] | None = None
    """An External metric ``queue`` (seconds -> its value) beside CPU, target AverageValue 5 per pod."""
    behavior: bool = True
    keda: Callable[[float], float] | None = None
    """The queue policy's HPA half alone: the HPA KEDA generates (``keda_hpa_spec``) over the
    External metric ``s0-prometheus``, served for the ScaledObject's selector; seconds -> value."""
    max_replicas: int = 6
    behavior_spec: dict[str, Any] | None = None
    """None: BEHAVIOR."""


QUEUE_METRIC = {
    "type": "External",
    "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "5"}},
}
CPU_METRIC = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
}
DOWNSCALE_WINDOW = 9  # the testbed's --horizontal-pod-autoscaler-downscale-stabilization, off the sync grid

SCENARIOS = [
    Scenario("step up", lambda i, t: 100.0 if t < 8 else 600.0, 30),
    Scenario("spike", lambda i, t: 700.0 if 8 <= t < 12 else 150.0, 34),
    Scenario("slow ramp", lambda i, t: 100.0 + 18.0 * t, 30),
    Scenario("oscillation around the target", lambda i, t: 390.0 if int(t / 4) % 2 else 310.0, 30),
    # The not-ready pod counts as 0 % on a scale-up: (900 + 0) / (2 × 500) = 90 % still scales up.
    Scenario("a pod that is not ready", lambda i, t: 900.0, 24, min_replicas=2, not_ready_first_pod=True),
    # CPU stays low (30 %); the queue asks for 3, then 6 replicas, then none: the larger proposal wins.
    Scenario(
        "cpu and an external queue",
        lambda i, t: 150.0,
        34,
        queue=lambda t: 0.0 if t < 6 else 14.0 if t < 12 else 40.0 if t < 20 else 0.0,
    ),
    # KEDA's HPA for the queue policy (threshold 5 per replica): a backlog of 12, then 26, then 6
    # asks for 3 and 6 (2 pods per 5 s at most) and, once the 9 s scale-down window passes, 2.
    Scenario(
        "queue policy, the HPA KEDA generates",
        lambda i, t: 100.0,
        34,
        keda=lambda t: 2.0 if t < 4 else 12.0 if t < 10 else 26.0 if t < 18 else 6.0,
    ),
    # No behavior: 400 % of the request wants 6 from 1, capped at max(2 x 1, 4) = 4 (ScaleUpLimit),
    # then 6 (TooManyReplicas); the scale-down waits for the controller's downscale window (9 s).
    Scenario("without behavior", lambda i, t: 2000.0 if 4 <= t < 14 else 60.0, 34, behavior=False),
]


KEDA_SETTINGS = QueueSettings(threshold=5, max_replica_count=6, behavior=BEHAVIOR, sync_period_seconds=SYNC)
SCALED_OBJECT = "app"


def keda_spec() -> dict[str, Any]:
    """The generated HPA's spec with the testbed's controller flags (for our replay)."""
    return {**keda_hpa_spec(KEDA_SETTINGS, SCALED_OBJECT), "tolerance": 0.1,
            "downscaleStabilizationSeconds": DOWNSCALE_WINDOW}  # fmt: skip


def hpa_config(scenario: Scenario) -> HPAConfig:
    if scenario.keda:
        # The very config the local backend's queue policy runs its HPA half with.
        policy = QueuePolicy.make(KEDA_SETTINGS, SCALED_OBJECT)
        config = replace(policy.hpa, tolerance=0.1, downscale_stabilization_seconds=DOWNSCALE_WINDOW)
        assert config == parse_hpa_config(keda_spec())
        return config
    config = parse_hpa_config(
        {
            "minReplicas": scenario.min_replicas,
            "maxReplicas": scenario.max_replicas,
            "metrics": [CPU_METRIC, QUEUE_METRIC] if scenario.queue else [CPU_METRIC],
            "behavior": (scenario.behavior_spec or BEHAVIOR) if scenario.behavior else {},
            "syncPeriodSeconds": SYNC,
            "tolerance": 0.1,
            "downscaleStabilizationSeconds": DOWNSCALE_WINDOW,
        }
    )
    return config


def hpa_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``keda_hpa_spec`` an HPA object has (the rest are controller flags)."""
    return {k: spec[k] for k in ("minReplicas", "maxReplicas", "metrics", "behavior") if k in spec}


def our_inputs(served: Served, window: float, external: list[ExternalServed]) -> tuple[list[Pod], Observed]:
    """The pods and metric answers of one sync, as the controller was given them."""
    pods = [
        cpu_pod(
            p["name"],
            p["request_milli"],
            phase=p["phase"] or "Pending",
            ready=p["ready"],
            ready_since=p["ready_since"] if p["ready_since"] is not None else float("-inf"),
            started_at=p["started_at"],
            deleted=p["deleting"],
        )
        for p in served.pods
    ]
    usage = {p["name"]: pod_usage(round(p["cpu_milli"]), served.at, window)
             for p in served.pods if p["cpu_milli"] is not None}  # fmt: skip
    # This sync's external request is within milliseconds of its pod-metrics one (the pod-metrics
    # time is taken after the fake server lists the pods, so the external may log first).
    near = [e for e in external if e.namespace == served.namespace and abs(e.at - served.at) < SYNC / 2]
    asked = sorted(near, key=lambda e: abs(e.at - served.at))
    values = {e.metric: [round(e.value * 1000)] for e in asked[:1] if e.value is not None}
    return pods, Observed(usage, external=values, timestamp=served.at)


@dataclass
class Comparison:
    real: list[int]
    ours: list[int]
    """hpa.decide in its default mode (today's Kubernetes), replayed on the controller's inputs."""
    differences: list[str]
    through_policy: list[int] = field(default_factory=list)
    """The same replay through the policy object the simulator and the local backend tick
    (``CPUPolicy.step``/``scaled``), for the CPU-only scenarios (its status count is its pods')."""


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
    deadline = time.monotonic() + 60 + scenario.min_replicas * 0.5
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

    queue, keda = scenario.queue, scenario.keda
    if keda:
        cluster.metrics.set_scenario(cpu, lambda name, t: keda(t) if name == METRIC_NAME else None)
    else:
        cluster.metrics.set_scenario(
            cpu, (lambda name, t: queue(t) if name == "queue" else None) if queue else None
        )
    with replica_timeline(apps, namespace, "app") as timeline:
        client.CustomObjectsApi(cluster.api).create_namespaced_custom_object(
            "autoscaling",
            "v2",
            namespace,
            "horizontalpodautoscalers",
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "app"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
                    **(
                        hpa_fields(keda_spec())
                        if scenario.keda
                        else {
                            "minReplicas": scenario.min_replicas,
                            "maxReplicas": scenario.max_replicas,
                            **({"behavior": scenario.behavior_spec or BEHAVIOR} if scenario.behavior else {}),
                            "metrics": [CPU_METRIC, QUEUE_METRIC] if scenario.queue else [CPU_METRIC],
                        }
                    ),
                },
            },
        )
        time.sleep(scenario.seconds)
    syncs = [s for s in cluster.metrics.log if s.namespace == namespace]
    samples, external = timeline.spec, list(cluster.metrics.external_log)
    if keda:  # the controller asked as KEDA's HPA asks: for the ScaledObject's series
        asked = {e.selector for e in external if e.namespace == namespace}
        assert asked == {f"{SELECTOR_LABEL}={SCALED_OBJECT}"}, asked
        # No CPU metric: each sync is one external-metric request (the pods do not enter it).
        syncs = [Served(e.at, namespace, e.selector, []) for e in external if e.namespace == namespace]
    # What the controller decided at each sync, and when (its log, to the microsecond); a sync that
    # logged no decision and no failed rescale left the count as it was.
    logged = decisions(cluster.testbed.workdir / "kube-controller-manager.log", namespace, "app")
    began = [s.at for s in syncs]
    ends: list[Decision | None] = [
        decision_of_sync(logged, began[i], began[i + 1]) for i in range(len(syncs) - 1)
    ]  # the last sync's decision may not be logged yet
    sampled = [d.desired if d else at(samples, began[i] - 0.01) for i, d in enumerate(ends)]
    real, failed_syncs = decided_counts(sampled, began, failed_rescales(core, namespace))
    notes: list[str] = []
    config = hpa_config(scenario)
    policy = CPUPolicy(config)
    policy_state, through_policy = policy.start(0.0), []
    state, chosen = HPAState(), []
    for index, (served, result) in enumerate(zip(syncs, real, strict=False)):
        current, status = at(samples, served.at - 0.01), at(timeline.status, served.at - 0.01)
        applied = index not in failed_syncs  # a failed rescale leaves the count and no event
        logged_end = ends[index]
        now = logged_end.at if logged_end else served.at  # the controller's clock at stabilization
        scaled_at = logged_end.logged_at if logged_end else now  # when it stored the scale event
        seen_pods, observed = our_inputs(served, cluster.metrics.window_seconds, external)
        if not (scenario.queue or scenario.keda):
            step, policy_state = policy.step(Snapshot(now, current, seen_pods, observed), policy_state)
            if step.desired != current and applied:
                policy_state = policy.scaled(policy_state, current, step.desired, scaled_at)
            through_policy.append(step.desired)
        decision, state = decide(current, seen_pods, observed, now, state, config, status_replicas=status)
        if decision.desired != current and applied:  # storeScaleEvent, after a rescale that took
            state = record_scale(state, current, decision.desired, scaled_at, config)
        chosen.append(decision.desired)
        if decision.desired != result:
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
                f"t={served.at - syncs[0].at:.1f}s current={current} status={status} real={result} "
                f"ours={decision.desired} ({decision.reason}); external={observed.external}; pods={seen}"
            )
    if notes:
        notes += [
            f"  external t={e.at - syncs[0].at:.3f} ns={e.namespace} {e.metric}={e.value}" for e in external
        ]
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
    return Comparison(real, chosen, notes, through_policy)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_our_hpa_chooses_what_the_real_controller_chooses(cluster: Cluster, scenario: Scenario) -> None:
    slug = "".join(c if c.isalnum() else "-" for c in scenario.name.lower())
    namespace = "conformance-" + slug[:40].strip("-")
    result = run_scenario(cluster, scenario, namespace)
    matching = sum(r == o for r, o in zip(result.real, result.ours, strict=True))
    print(f"\n{scenario.name}: {matching}/{len(result.real)} syncs match\n"
          f"  real {KUBERNETES}: {result.real}\n  ours:         {result.ours}")  # fmt: skip
    assert len(result.real) >= scenario.seconds / SYNC - 3  # the controller synced throughout
    assert len(set(result.real)) > 1, result.real  # the scenario moved the controller
    assert result.differences == [], "\n".join(result.differences)
    if not (scenario.queue or scenario.keda):
        assert result.through_policy == result.ours


# What KWOK does at scale: a thousand pods that run nothing, the real controller over them. From 100
# pods at 30 % of their request, CPU rises to 140 %: each sync with every pod ready asks for twice
# as many (at most 100 % more per 5 s), 100 -> 200 -> 400 -> 800 -> 1,000 (maxReplicas); at 20 %
# the 9 s window and 50 % per 5 s take it down. New pods count as 0 % until ready, as the controller
# counts them on a scale-up, so each doubling waits for the fake kubelet to make them ready.
AT_SCALE = Scenario(
    "1,000 pods",
    lambda i, t: 150.0 if t < 4 else 700.0 if t < 70 else 100.0,
    110,
    min_replicas=100,
    max_replicas=1000,
    behavior_spec={
        "scaleUp": {"stabilizationWindowSeconds": 3, "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 5}]},
        "scaleDown": {"stabilizationWindowSeconds": 9, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 50, "periodSeconds": 5}]},
    },
)  # fmt: skip


def test_at_1000_pods_the_simulators_hpa_chooses_what_the_real_controller_chooses(cluster: Cluster) -> None:
    """The inputs replayed are what the fake metrics server listed at each sync; the controller
    reads its pods from its informer, which lags the API by up to a second or so while hundreds
    of pods change. Pods therefore change state only in the first second after a sync (which the
    metrics server's log dates), so both read the same pods at the next one."""
    log = cluster.metrics.log

    def away_from_syncs() -> bool:  # just after a sync, or when no HPA syncs (before it exists)
        since = time.time() - log[-1].at if log else float("inf")
        return since < SYNC / 2 or since > SYNC * 1.5

    cluster.kubelet.may_change_status = away_from_syncs
    try:
        result = run_scenario(cluster, AT_SCALE, "conformance-at-scale")
    finally:
        cluster.kubelet.may_change_status = lambda: True
    matching = sum(r == o for r, o in zip(result.real, result.through_policy, strict=True))
    print(f"\n{AT_SCALE.name}: {matching}/{len(result.real)} syncs match\n"
          f"  real {KUBERNETES}:   {result.real}\n  simulator's HPA: {result.through_policy}")  # fmt: skip
    assert max(result.real) == 1000, result.real  # it reached maxReplicas ...
    assert result.real[-1] < 1000, result.real  # ... and came down
    assert result.differences == [], "\n".join(result.differences[:40])
    assert result.through_policy == result.real
