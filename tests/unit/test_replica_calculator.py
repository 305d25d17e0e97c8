"""Every case of kubernetes/kubernetes ``pkg/controller/podautoscaler/replica_calculator_test.go``
(current master), each named after its Go test, against the pure port in
``mlscale.autoscaling.replicas``. Master folds the resource cases into one table
(``TestReplicaCalcResourceScale``); they keep their older function names here, whose cases they are.
The harness is ``kube_cases.py``'s, built like the Go one.
"""

from __future__ import annotations

import math

import pytest

from mlscale.autoscaling.hpa import resource_samples
from mlscale.autoscaling.replicas import (
    MAX_INT32,
    MAX_INT64,
    Container,
    MetricError,
    Pod,
    Proposal,
    Sample,
    Tolerances,
    calculate_requests,
)
from tests.unit.kube_cases import (
    COOL,
    HOT,
    NOW,
    F,
    P,
    R,
    T,
    X,
    calculator,
    cpu_observed,
    go_pods,
    levels,
    qps_observed,
)

C2 = "container2"
ONE = [1000] * 7

# (Go test, current, requests, per-container levels, target %, expected (replicas, utilization %, raw),
#  pod states, container, tolerances (down, up))
RESOURCE_CASES = [
    ("TestReplicaCalcScaleUp", 3, ONE[:3], levels(300, 500, 700), 30, (5, 50, 1000), {}, "", None),
    ("TestReplicaCalcContainerScaleUp", 3, ONE[:3], [[1000, 300], [1000, 500], [1000, 700]], 30, (5, 50, 500),
     {}, C2, None),
    ("TestReplicaCalcScaleUpUnreadyLessScale", 3, ONE[:3], levels(300, 500, 700), 30, (4, 60, 1200),
     {"ready": [F, T, T]}, "", None),
    ("TestReplicaCalcScaleUpContainerHotCpuLessScale", 3, ONE[:3], [[0, 300], [0, 500], [0, 700]], 30,
     (4, 60, 600), {"start": [HOT, COOL, COOL]}, C2, None),
    ("TestReplicaCalcScaleUpHotCpuLessScale", 3, ONE[:3], levels(300, 500, 700), 30, (4, 60, 1200),
     {"start": [HOT, COOL, COOL]}, "", None),
    ("TestReplicaCalcScaleUpUnreadyNoScale", 3, ONE[:3], levels(400, 500, 700), 30, (3, 40, 800),
     {"ready": [T, F, F]}, "", None),
    ("TestReplicaCalcScaleHotCpuNoScale", 3, ONE[:3], levels(400, 500, 700), 30, (3, 40, 800),
     {"ready": [T, F, F], "start": [COOL, HOT, HOT]}, "", None),
    ("TestReplicaCalcScaleUpIgnoresFailedPods", 2, ONE[:4], levels(500, 700), 30, (4, 60, 1200),
     {"ready": [T, T, F, F], "phase": [R, R, X, X]}, "", None),
    ("TestReplicaCalcMissingContainerMetricScaleUpIgnoresFailedPods", 2, ONE[:4],
     [[1000, 500], [9000, 700], [1000], [9000]], 30, (4, 60, 600),
     {"ready": [T, T, F, F], "phase": [R, R, X, X]}, C2, None),
    ("TestReplicaCalcScaleUpContainerIgnoresFailedPods", 2, ONE[:4], [[1000, 500], [9000, 700]], 30,
     (4, 60, 600), {"ready": [T, T, F, F], "phase": [R, R, X, X]}, C2, None),
    ("TestReplicaCalcScaleUpIgnoresDeletionPods", 2, ONE[:4], levels(500, 700), 30, (4, 60, 1200),
     {"ready": [T, T, F, F], "phase": [R] * 4, "deleted": [F, F, T, T]}, "", None),
    ("TestReplicaCalcScaleUpContainerIgnoresDeletionPods", 2, ONE[:4], levels(500, 700), 30, (4, 60, 600),
     {"ready": [T, T, F, F], "phase": [R] * 4, "deleted": [F, F, T, T]}, "container1", None),
    ("TestReplicaCalcScaleDown", 5, ONE[:5], levels(100, 300, 500, 250, 250), 50, (3, 28, 560), {}, "", None),
    ("TestReplicaCalcContainerScaleDown", 5, ONE[:5],
     [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, (3, 28, 280), {}, C2, None),
    ("TestReplicaCalcScaleDownExcludeUnreadyPods", 5, ONE[:5], levels(100, 300, 500, 250, 250), 50,
     (2, 30, 600), {"ready": [T, T, T, F, F]}, "", None),
    ("TestReplicaCalcScaleDownContainerExcludeUnreadyPods", 5, ONE[:5],
     [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, (2, 30, 300),
     {"ready": [T, T, T, F, F]}, C2, None),
    ("TestReplicaCalcScaleDownExcludeUnscheduledPods", 5, ONE[:5], levels(100), 50, (1, 10, 200),
     {"ready": [T, F, F, F, F], "phase": [R, P, P, P, P]}, "", None),
    ("TestReplicaCalcScaleDownContainerExcludeUnscheduledPods", 5, ONE[:5],
     [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, (1, 10, 100),
     {"ready": [T, F, F, F, F], "phase": [R, P, P, P, P]}, C2, None),
    ("TestReplicaCalcScaleDownIgnoreHotCpuPods", 5, ONE[:5], levels(100, 300, 500, 250, 250), 50, (2, 30, 600),
     {"start": [COOL, COOL, COOL, HOT, HOT]}, "", None),
    ("TestReplicaCalcScaleDownContainerIgnoreHotCpuPods", 5, ONE[:5],
     [[1000, 100], [1000, 300], [1000, 500], [1000, 1000], [1000, 1000]], 50, (2, 30, 300),
     {"start": [COOL, COOL, COOL, HOT, HOT]}, C2, None),
    ("TestReplicaCalcScaleDownIgnoresFailedPods", 5, ONE, levels(100, 300, 500, 250, 250), 50, (3, 28, 560),
     {"ready": [T] * 5 + [F, F], "phase": [R] * 5 + [X, X]}, "", None),
    ("TestReplicaCalcScaleDownContainerIgnoresFailedPods", 5, ONE,
     [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, (3, 28, 280),
     {"ready": [T] * 5 + [F, F], "phase": [R] * 5 + [X, X]}, C2, None),
    ("TestReplicaCalcScaleDownIgnoresDeletionPods", 5, ONE, levels(100, 300, 500, 250, 250), 50, (3, 28, 560),
     {"ready": [T] * 5 + [F, F], "phase": [R] * 7, "deleted": [F] * 5 + [T, T]}, "", None),
    ("TestReplicaCalcScaleDownIgnoresDeletionPods_StillRunning", 5, ONE,
     [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, (3, 28, 280),
     {"ready": [T] * 5 + [F, F], "phase": [R] * 7, "deleted": [F] * 5 + [T, T]}, C2, None),
    ("TestReplicaCalcTolerance", 3, [900, 1000, 1100], levels(1010, 1030, 1020), 100, (3, 102, 2040), {}, "",
     None),
    ("TestReplicaCalcSuperfluousMetrics", 4, ONE[:4], levels(4000, 9500, 3000, 7000, 3200, 2000), 100,
     (24, 587, 11750), {}, "", None),
    ("TestReplicaCalcMissingMetrics", 4, ONE[:4], levels(400, 95), 100, (3, 24, 495), {}, "", None),
    ("TestReplicaCalcMissingMetricsNoChangeEq", 2, ONE[:2], levels(1000), 100, (2, 100, 2000), {}, "", None),
    ("TestReplicaCalcMissingMetricsNoChangeGt", 2, ONE[:2], levels(1900), 100, (2, 190, 3800), {}, "", None),
    ("TestReplicaCalcMissingMetricsNoChangeLt", 2, ONE[:2], levels(600), 100, (2, 60, 1200), {}, "", None),
    ("TestReplicaCalcMissingMetricsUnreadyChange", 3, ONE[:3], levels(100, 450), 50, (3, 45, 900),
     {"ready": [F, T, T]}, "", None),
    ("TestReplicaCalcMissingMetricsHotCpuNoChange", 3, ONE[:3], levels(100, 450), 50, (3, 45, 900),
     {"start": [HOT, COOL, COOL]}, "", None),
    ("TestReplicaCalcMissingMetricsUnreadyScaleUp", 3, ONE[:3], levels(100, 2000), 50, (4, 200, 4000),
     {"ready": [F, T, T]}, "", None),
    ("TestReplicaCalcMissingMetricsHotCpuScaleUp", 3, ONE[:3], levels(100, 2000), 50, (4, 200, 4000),
     {"ready": [F, T, T], "start": [HOT, COOL, COOL]}, "", None),
    ("TestReplicaCalcMissingMetricsUnreadyScaleDown", 4, ONE[:4], levels(100, 100, 100), 50, (3, 10, 200),
     {"ready": [F, T, T, T]}, "", None),
    ("TestReplicaCalcMissingMetricsScaleDownTargetOver100", 4, [1000, 1000, 2000, 2000], levels(200, 100, 100),
     300, (2, 6, 200), {"ready": [F, T, T, T]}, "", None),
    ("TestReplicaCalcDuringRollingUpdateWithMaxSurge", 2, ONE[:3], levels(100, 100), 50, (2, 10, 200),
     {"phase": [R, R, R]}, "", None),
    # TestReplicaCalcConfigurableTolerance (1.33+), its five sub-cases
    ("TestReplicaCalcConfigurableTolerance/Outside of a 0% tolerance", 3, [900, 1000, 1100],
     levels(909, 1010, 1111), 100, (4, 101, 2020), {}, "", (0.0, 0.0)),
    ("TestReplicaCalcConfigurableTolerance/Within a 200% scale-up tolerance", 3, [900, 1000, 1100],
     levels(1890, 1910, 1900), 100, (3, 190, 3800), {}, "", (0.1, 2.0)),
    ("TestReplicaCalcConfigurableTolerance/Outside 8% scale-up tolerance", 3, [900, 1000, 1100],
     levels(1100, 1080, 1090), 100, (4, 109, 2180), {}, "", (2.0, 0.08)),
    ("TestReplicaCalcConfigurableTolerance/Within a 36% scale-down tolerance", 3, [900, 1000, 1100],
     levels(660, 640, 650), 100, (3, 65, 1300), {}, "", (0.36, 0.1)),
    ("TestReplicaCalcConfigurableTolerance/Outside a 34% scale-down tolerance", 3, [900, 1000, 1100],
     levels(660, 640, 650), 100, (2, 65, 1300), {}, "", (0.34, 0.1)),
]  # fmt: skip


def resource_proposal(current: int, requests: list[int], per_container: list[list[int]], target: int,
                      states: dict[str, list[object]], container: str = "",
                      tolerances: tuple[float, float] | None = None, names: tuple[str, ...] = ()) -> Proposal:  # fmt: skip
    pods = go_pods(current, requests=requests, **states)  # type: ignore[arg-type]
    calc = calculator(Tolerances(*tolerances) if tolerances else None)
    samples = resource_samples(cpu_observed(per_container, names), "cpu", container)
    return calc.resource_replicas(current, target, "cpu", pods, samples, container)


@pytest.mark.parametrize(
    ("current", "requests", "per_container", "target", "expected", "states", "container", "tolerances"),
    [case[1:] for case in RESOURCE_CASES],
    ids=[case[0] for case in RESOURCE_CASES],
)
def test_GetResourceReplicas(
    current: int,
    requests: list[int],
    per_container: list[list[int]],
    target: int,
    expected: tuple[int, int, int],
    states: dict[str, list[object]],
    container: str,
    tolerances: tuple[float, float] | None,
) -> None:
    got = resource_proposal(current, requests, per_container, target, states, container, tolerances)
    assert (got.replicas, got.usage, got.raw_average) == expected


@pytest.mark.parametrize(
    ("current", "requests", "per_container", "names", "message"),
    [
        pytest.param(1, [1000], levels(100), ("an-older-pod-name",), "no metrics returned matched known pods",
                     id="TestReplicaCalcDisjointResourcesMetrics"),
        pytest.param(4, ONE[:3], levels(), (), "unable to get metrics for resource cpu: no metrics returned "
                     "from resource metrics API", id="TestReplicaCalcEmptyMetrics"),
        pytest.param(1, [], levels(200), (), "missing request for", id="TestReplicaCalcEmptyCPURequest"),
    ],
)  # fmt: skip
def test_GetResourceReplicas_errors(
    current: int, requests: list[int], per_container: list[list[int]], names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(MetricError, match=message):
        resource_proposal(current, requests, per_container, 100, {}, names=names)


def test_ReplicaCalcComputedToleranceAlgImplementation() -> None:
    """TestReplicaCalcComputedToleranceAlgImplementation, with its arithmetic as the Go test does it."""
    start_pods, used = 10, 10 * 150
    requested = 2 * used
    per_pod = requested // start_pods
    target = abs(1 / (requested / used * (1 - 0.1))) + 0.01
    final_pods = math.ceil(used / (requested * target) * start_pods)
    requests = [per_pod + d for d in (100, -100, 10, -10, 2, -2, 1, -1, 0, 0)]
    got = resource_proposal(start_pods, requests, levels(*[used // 10] * 10), int(target * 100), {})
    assert (got.replicas, got.usage, got.raw_average) == (final_pods, used * 100 // requested, 2 * used // 10)
    closer = abs(1 / (requested / used * (1 - 0.1))) + 0.004  # within the tolerance: no scaling
    assert (
        resource_proposal(start_pods, requests, levels(*[used // 10] * 10), int(closer * 100), {}).replicas
        == 10
    )


# (Go test, metric type, current, levels, target, expected (replicas, usage), pod states, tolerances)
METRIC_CASES = [
    ("TestReplicaCalcScaleUpCM", "pods", 3, [20000, 10000, 30000], 15000, (4, 20000), {}, None),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale", "pods", 3, [50000, 10000, 30000], 15000, (6, 30000),
     {"ready": [T, T, F], "start": [COOL, COOL, HOT]}, None),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown", "pods", 3, [50000, 15000, 30000], 15000,
     (7, 31666), {"ready": [F, T, F], "start": [HOT, COOL, HOT]}, None),
    ("TestReplicaCalcScaleUpCMObject", "object", 3, [20000], 15000, (4, 20000), {}, None),
    ("TestReplicaCalcScaleUpCMPerPodObject", "object-per-pod", 3, [20000], 5000, (4, 6667), {}, None),
    ("TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods", "object", 3, [50000], 10000, (5, 50000),
     {"ready": [F, T, F]}, None),
    # This and ...NoLabels are gone from master but in every release's file: a Pods metric in Go too
    ("TestReplicaCalcScaleUpCMExternal", "pods", 1, [8600], 4400, (2, 8600), {}, None),
    ("TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods", "external", 3, [8600], 4400, (2, 8600),
     {"ready": [F, T, F]}, None),
    ("TestReplicaCalcScaleUpCMExternalNoLabels", "pods", 1, [8600], 4400, (2, 8600), {}, None),
    ("TestReplicaCalcScaleUpPerPodCMExternal", "external-per-pod", 3, [8600], 2150, (4, 2867), {}, None),
    ("TestReplicaCalcScaleDownCM", "pods", 5, [12000] * 5, 20000, (3, 12000), {}, None),
    ("TestReplicaCalcScaleDownPerPodCMObject", "object-per-pod", 5, [6000], 2000, (3, 1200), {}, None),
    ("TestReplicaCalcScaleDownCMObject", "object", 5, [12000], 20000, (3, 12000), {}, None),
    ("TestReplicaCalcScaleDownCMExternal", "external", 5, [8600], 14334, (3, 8600), {}, None),
    ("TestReplicaCalcScaleDownPerPodCMExternal", "external-per-pod", 5, [8600], 2867, (3, 1720), {}, None),
    ("TestReplicaCalcToleranceCM", "pods", 3, [20000, 21000, 21000], 20000, (3, 20666), {}, None),
    ("TestReplicaCalcToleranceCMObject", "object", 3, [20666], 20000, (3, 20666), {}, None),
    ("TestReplicaCalcTolerancePerPodCMObject", "object-per-pod", 4, [20166], 5000, (4, 5042), {}, None),
    ("TestReplicaCalcToleranceCMExternal", "external", 3, [8600], 8888, (3, 8600), {}, None),
    ("TestReplicaCalcTolerancePerPodCMExternal", "external-per-pod", 3, [8600], 2900, (3, 2867), {}, None),
    ("TestReplicaCalcConfigurableToleranceCM", "pods", 3, [20000, 21000, 21000], 20000, (4, 20666), {},
     (0.1, 0.01)),
    ("TestReplicaCalcConfigurableToleranceCMObject", "object", 3, [20666], 20000, (4, 20666), {}, (0.1, 0.01)),
    ("TestReplicaCalcConfigurableTolerancePerPodCMObject", "object-per-pod", 4, [20208], 5000, (5, 5052), {},
     (0.1, 0.01)),
    ("TestReplicaCalcConfigurableToleranceCMExternal", "external", 3, [8900], 8800, (4, 8900), {}, (0.1, 0.01)),
    ("TestReplicaCalcConfigurableTolerancePerPodCMExternal", "external-per-pod", 3, [8600], 2800, (4, 2867), {},
     (0.1, 0.01)),
    ("TestPlainMetricReplicaCalcMissingMetricsNoChangeEq", "pods", 5, [20000, 19000, 21000], 20000, (5, 20000),
     {}, None),
    ("TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM", "pods", 2, [10000, 10000], 17000, (2, 10000),
     {"phase": [R, R, R]}, None),
    ("TestReplicaCalcExternalMetricUsageOverflow", "external", 3, [MAX_INT64 // 2 + 1] * 2, MAX_INT64,
     (3, MAX_INT64), {}, None),
    ("TestReplicaCalcScaleUpOverflow", "object", 3, [MAX_INT64], 1, (MAX_INT32, MAX_INT64), {}, None),
    ("TestExternalPerPodMetricReplicaOverflow", "external-per-pod", 1, [MAX_INT64], 1, (MAX_INT32, MAX_INT64), {},
     None),
    ("TestExternalPerPodMetricUsageOverflow", "external-per-pod", 1, [MAX_INT64], MAX_INT64, (1, MAX_INT64), {},
     None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "current", "values", "target", "expected", "states", "tolerances"),
    [case[1:] for case in METRIC_CASES],
    ids=[case[0] for case in METRIC_CASES],
)
def test_metric_replicas(
    kind: str,
    current: int,
    values: list[int],
    target: int,
    expected: tuple[int, int],
    states: dict[str, list[object]],
    tolerances: tuple[float, float] | None,
) -> None:
    """GetMetricReplicas (pods), GetObjectMetricReplicas, GetObjectPerPodMetricReplicas,
    GetExternalMetricReplicas and GetExternalPerPodMetricReplicas, as runTest calls them."""
    pods = go_pods(current, **states)  # type: ignore[arg-type]
    calc = calculator(Tolerances(*tolerances) if tolerances else None)
    observed = qps_observed(values)
    if kind == "pods":
        got = calc.plain_replicas(
            current, target, pods, {p: Sample(v, NOW) for p, v in observed.pods["qps"].items()}
        )
    elif kind == "object":
        got = calc.object_replicas(current, target, values[0], pods)
    elif kind == "object-per-pod":
        got = calc.object_per_pod_replicas(current, target, values[0])
    elif kind == "external":
        got = calc.external_replicas(current, target, values, pods)
    else:
        got = calc.external_per_pod_replicas(current, target, values)
    assert (got.replicas, got.usage) == expected


def _pod(name: str, phase: str = "Succeeded", started: float | None = None, ready: bool | None = None,
         since: float = -math.inf, deleted: bool = False) -> Pod:  # fmt: skip
    return Pod(name, (Container("c"),), phase, ready, since, started, deleted)  # type: ignore[arg-type]


MINUTE = 60.0
GROUP_PODS = [
    ("void", [], {}, "cpu", (0, set(), set(), set())),
    ("count in a ready pod - memory", [_pod("bentham")], {"bentham": Sample(1, NOW, MINUTE)}, "memory",
     (1, set(), set(), set())),
    ("unready a pod without ready condition - CPU", [_pod("lucretius", started=NOW)], {"lucretius": Sample(1)},
     "cpu", (0, {"lucretius"}, set(), set())),
    ("count in a ready pod with fresh metrics during initialization period - CPU",
     [_pod("bentham", started=NOW - MINUTE, ready=True, since=NOW - 30)], {"bentham": Sample(1, NOW, 30)}, "cpu",
     (1, set(), set(), set())),
    ("unready a ready pod without fresh metrics during initialization period - CPU",
     [_pod("bentham", started=NOW - MINUTE, ready=True, since=NOW - 30)], {"bentham": Sample(1, NOW, 60)}, "cpu",
     (0, {"bentham"}, set(), set())),
    ("unready an unready pod during initialization period - CPU",
     [_pod("lucretius", started=NOW - 600, ready=False, since=NOW - 594)], {"lucretius": Sample(1)}, "cpu",
     (0, {"lucretius"}, set(), set())),
    ("count in a ready pod without fresh metrics after initialization period - CPU",
     [_pod("bentham", started=NOW - 180, ready=True, since=NOW - 180)], {"bentham": Sample(1, NOW - 120, MINUTE)},
     "cpu", (1, set(), set(), set())),
    ("count in an unready pod that was ready after initialization period - CPU",
     [_pod("lucretius", started=NOW - 600, ready=False, since=NOW - 540)], {"lucretius": Sample(1)}, "cpu",
     (1, set(), set(), set())),
    ("unready pod that has never been ready after initialization period - CPU",
     [_pod("lucretius", started=NOW - 600, ready=False, since=NOW - 590)], {"lucretius": Sample(1)}, "cpu",
     (1, set(), set(), set())),
    ("a missing pod", [_pod("epicurus", started=NOW - 180)], {}, "cpu", (0, set(), {"epicurus"}, set())),
    ("several pods",
     [_pod("lucretius", started=NOW), _pod("niccolo", started=NOW - 180, ready=True, since=NOW - 180),
      _pod("epicurus", started=NOW - 180)],
     {"lucretius": Sample(1), "niccolo": Sample(1)}, "cpu", (1, {"lucretius"}, {"epicurus"}, set())),
    ("pending pods are unreadied", [_pod("unscheduled", "Pending")], {}, "cpu", (0, {"unscheduled"}, set(), set())),
    ("ignore pods with deletion timestamps", [_pod("deleted", "Pending", deleted=True)], {"deleted": Sample(1)},
     "cpu", (0, set(), set(), {"deleted"})),
    ("ignore pods in a failed state", [_pod("failed", "Failed")], {"failed": Sample(1)}, "cpu",
     (0, set(), set(), {"failed"})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pods", "metrics", "resource", "expected"), [c[1:] for c in GROUP_PODS], ids=[c[0] for c in GROUP_PODS]
)
def test_GroupPods(
    pods: list[Pod],
    metrics: dict[str, Sample],
    resource: str,
    expected: tuple[int, set[str], set[str], set[str]],
) -> None:
    assert calculator().group(pods, metrics, resource) == expected


def _requests(*containers: Container, pod: dict[str, int] | None = None) -> Pod:
    return Pod("test-pod", containers, pod_requests=pod)


CPU_100, CPU_50 = Container("container1", {"cpu": 100}), Container("container2", {"cpu": 50})
CALCULATE_REQUESTS = [
    ("void", [], "", {}),
    ("Sum container requests if pod-level feature is disabled", [_requests(CPU_100, CPU_50)], "",
     {"test-pod": 150}),
    ("Pod-level resources are enabled, but not set: fallback to sum container requests",
     [_requests(CPU_100, CPU_50)], "", {"test-pod": 150}),
    ("Pod-level resources override container requests when feature enabled and pod resources specified",
     [_requests(CPU_100, CPU_50, pod={"cpu": 800})], "", {"test-pod": 800}),
    ("Pod-level resources override missing container requests when feature enabled and pod resources specified",
     [_requests(Container("container1"), CPU_50, pod={"cpu": 800})], "", {"test-pod": 800}),
    ("Container: if a container name is specified, calculate requests only for that container",
     [_requests(CPU_100, CPU_50)], "container1", {"test-pod": 100}),
    ("Container: if a container name is specified, calculate requests only for that container and ignore "
     "pod-level requests", [_requests(CPU_100, CPU_50, pod={"cpu": 800})], "container1", {"test-pod": 100}),
    # init-container1 (not restartable) never enters the sum, so it is not among the containers here
    ("pod with restartable init containers",
     [_requests(CPU_100, Container("restartable-container1", {"cpu": 50}, restartable_init=True))], "",
     {"test-pod": 150}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pods", "container", "expected"),
    [c[1:] for c in CALCULATE_REQUESTS],
    ids=[c[0] for c in CALCULATE_REQUESTS],
)
def test_CalculateRequests(pods: list[Pod], container: str, expected: dict[str, int]) -> None:
    assert calculate_requests(pods, container, "cpu") == expected


def test_CalculateRequests_missing_request() -> None:
    """TestCalculateRequests/Fail if at least one of the containers is missing requests ..."""
    with pytest.raises(
        MetricError, match=r"^missing request for cpu in container container1 of Pod test-pod$"
    ):
        calculate_requests([_requests(Container("container1"), CPU_50)], "", "cpu")


def test_CalculatePodRequestsFromContainers_NonExistentContainer() -> None:
    with pytest.raises(MetricError, match=r"^container non-existent-container not found in Pod test-pod$"):
        calculate_requests([_requests(CPU_100)], "non-existent-container", "cpu")
