"""Cases of kubernetes/kubernetes ``pkg/controller/podautoscaler/horizontal_test.go`` (current
master) that run a whole HPA sync, each named after its Go test, through ``hpa.decide``.

The Go harness, rebuilt (``hpa_case``): pods with two containers, each requesting half of the
listed request and using half of the listed level; a custom metric called qps whose pod values,
object value and external series are the same levels; no ``behavior`` unless a test gives rules
(then the defaults fill the other direction); the downscale window 5 minutes; the package's
``scaleUpLimitFactor`` set to 8, as the Go tests set it. ``recommendations: nil`` in Go is a fresh
``HPAState()``; ``[]`` is an initialised, empty one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from mlscale.autoscaling.behavior import HPAState
from mlscale.autoscaling.config import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HPAConfig,
    ScalingRules,
)
from mlscale.autoscaling.hpa import Decision, decide
from mlscale.autoscaling.metrics import MetricSpec, MetricTarget, Observed, PodUsage, cpu_utilization
from tests.unit.kube_cases import COOL, DEPLOYMENT, HOT, NOW, WINDOW, F, R, T, X, go_pods, rules

QPS_PODS = MetricSpec("Pods", "qps", MetricTarget("AverageValue", value_milli=15000))
CHEDDAR = MetricSpec("CheddarCheese")


def qps_object(milli: int, average: bool = False) -> MetricSpec:
    kind = "AverageValue" if average else "Value"
    return MetricSpec("Object", "qps", MetricTarget(kind, value_milli=milli), described_object=DEPLOYMENT)  # type: ignore[arg-type]


def qps_external(milli: int, average: bool = False) -> MetricSpec:
    return MetricSpec(
        "External", "qps", MetricTarget("AverageValue" if average else "Value", value_milli=milli)
    )


def container_cpu(container: str, percent: int) -> MetricSpec:
    return MetricSpec(
        "ContainerResource", "cpu", MetricTarget("Utilization", utilization=percent), container=container
    )


@dataclass
class Case:
    min: int
    max: int
    spec: int
    expected: int
    cpu_target: int = 0
    metrics: Sequence[MetricSpec] = ()
    levels: Sequence[int] = ()
    requests: Sequence[int] | None = None
    """Per pod, milli-CPU; None: status-replicas pods of 1 CPU (the Go harness)."""
    status: int | None = None
    ready: Sequence[bool] = ()
    start: Sequence[float] = ()
    phase: Sequence[str] = ()
    deleted: Sequence[bool] = ()
    up: ScalingRules | None = None
    down: ScalingRules | None = None
    recommendations: Sequence[tuple[float, int]] | None = None
    failing: Sequence[str] = ()
    """Metric APIs that answer with an error: resource, custom, external."""
    reason: str | None = None
    """The condition Go expects, where it names one (a limit, a stabilization, a failure)."""
    utilization: int | None = None


def run(case: Case) -> Decision:
    status = case.spec if case.status is None else case.status
    requests = [1000] * status if case.requests is None else list(case.requests)
    pods = go_pods(0, requests=requests, ready=case.ready, start=case.start, phase=case.phase or [R] * len(requests),
                   deleted=case.deleted, split=True)[: len(requests)]  # fmt: skip
    usage = {f"test-pod-{i}": PodUsage({"container1": {"cpu": v // 2}, "container2": {"cpu": v // 2}}, NOW, WINDOW)
             for i, v in enumerate(case.levels)}  # fmt: skip
    observed = Observed(
        resource=None if "resource" in case.failing else usage,
        pods={}
        if "custom" in case.failing
        else {"qps": {f"test-pod-{i}": v for i, v in enumerate(case.levels)}},
        objects={} if "custom" in case.failing or not case.levels else {(DEPLOYMENT, "qps"): case.levels[0]},
        external={} if "external" in case.failing else {"qps": list(case.levels)},
        timestamp=NOW,
    )
    specs = ((cpu_utilization(case.cpu_target),) if case.cpu_target else ()) + tuple(case.metrics)
    config = HPAConfig(
        min_replicas=case.min,
        max_replicas=case.max,
        metric_specs=specs or (MetricSpec("Resource", "cpu"),),  # Go's defaulting: cpu with no target
        scale_up=case.up or DEFAULT_SCALE_UP,
        scale_down=case.down or DEFAULT_SCALE_DOWN,
        behavior=case.up is not None or case.down is not None,
        cpu_initialization_period_seconds=120,
        initial_readiness_delay_seconds=10,
        downscale_stabilization_seconds=300,
        scale_up_limit_factor=8,
    )
    if case.recommendations is None:
        state = HPAState()
    else:
        state = HPAState(
            recommendations=tuple((NOW + at, n) for at, n in case.recommendations), initialized=True
        )
    decision, _ = decide(case.spec, pods, observed, NOW, state, config, status_replicas=status)
    return decision


CPU_SET = dict(min=2, max=6, spec=3, cpu_target=30, levels=[300, 500, 700])
QPS_SET = dict(min=2, max=6, spec=3, metrics=[QPS_PODS], levels=[20000, 10000, 30000])
DOWN_SET = dict(min=2, max=6, spec=5, cpu_target=50, levels=[100, 300, 500, 250, 250], recommendations=[])
SEVEN = [1000] * 7
MINUTE = 60.0

CASES: dict[str, Case] = {
    "TestScaleUp": Case(expected=5, utilization=50, **CPU_SET),  # type: ignore[arg-type]
    "TestScaleUpContainer": Case(2, 6, 3, 5, metrics=[container_cpu("container1", 30)], levels=[300, 500, 700]),
    "TestScaleUpUnreadyLessScale": Case(expected=4, ready=[F, T, T], utilization=60, **CPU_SET),  # type: ignore[arg-type]
    "TestScaleUpHotCpuLessScale": Case(expected=4, start=[HOT, COOL, COOL], utilization=60, **CPU_SET),  # type: ignore[arg-type]
    "TestScaleUpUnreadyNoScale": Case(2, 6, 3, 3, 30, levels=[400, 500, 700], ready=[T, F, F], utilization=40,
                                      reason="ReadyForNewScale"),
    "TestScaleUpHotCpuNoScale": Case(2, 6, 3, 3, 30, levels=[400, 500, 700], ready=[T, F, F],
                                     start=[COOL, HOT, HOT], utilization=40, reason="ReadyForNewScale"),
    "TestScaleUpIgnoresFailedPods": Case(2, 6, 2, 4, 30, levels=[500, 700], requests=[1000] * 4,
                                         ready=[T, T, F, F], phase=[R, R, X, X], utilization=60),
    "TestScaleUpIgnoresDeletionPods": Case(2, 6, 2, 4, 30, levels=[500, 700], requests=[1000] * 4,
                                           ready=[T, T, F, F], deleted=[F, F, T, T], utilization=60),
    "TestScaleUpDeployment": Case(expected=5, **CPU_SET),  # type: ignore[arg-type]  # the target's kind is no input
    "TestScaleUpReplicaSet": Case(expected=5, **CPU_SET),  # type: ignore[arg-type]
    "TestScaleUpCM": Case(expected=4, **QPS_SET),  # type: ignore[arg-type]
    "TestScaleUpCMUnreadyAndHotCpuNoLessScale": Case(2, 6, 3, 6, metrics=[QPS_PODS], levels=[50000, 10000, 30000],
                                                     ready=[T, T, F], start=[COOL, COOL, HOT]),
    "TestScaleUpCMUnreadyandCpuHot": Case(2, 6, 3, 6, metrics=[QPS_PODS], levels=[50000, 15000, 30000],
                                          ready=[F, T, F], start=[HOT, COOL, HOT], reason="TooManyReplicas"),
    "TestScaleUpHotCpuNoScaleWouldScaleDown": Case(2, 6, 3, 6, metrics=[QPS_PODS], levels=[50000, 15000, 30000],
                                                   start=[HOT, COOL, HOT], reason="TooManyReplicas"),
    "TestScaleUpCMObject": Case(2, 6, 3, 4, metrics=[qps_object(15000)], levels=[20000]),
    "TestScaleUpFromZeroCMObject": Case(0, 6, 0, 2, metrics=[qps_object(15000)], levels=[20000]),
    "TestScaleUpFromZeroIgnoresToleranceCMObject": Case(0, 6, 0, 1, metrics=[qps_object(1000)], levels=[1000]),
    "TestScaleUpPerPodCMObject": Case(2, 6, 3, 4, metrics=[qps_object(10000, average=True)], levels=[40000]),
    "TestScaleUpCMExternal": Case(2, 6, 3, 4, metrics=[qps_external(6666)], levels=[8600]),
    "TestScaleUpPerPodCMExternal": Case(2, 6, 3, 4, metrics=[qps_external(2222, average=True)], levels=[8600]),
    "TestScaleDown": Case(expected=3, **DOWN_SET),  # type: ignore[arg-type]
    "TestScaleDownContainerResource": Case(2, 6, 5, 3, metrics=[container_cpu("container2", 50)],
                                           levels=[100, 300, 500, 250, 250], recommendations=[]),
    "TestScaleDownWithScalingRules": Case(expected=3, up=rules(0, 0, 100, 15, 30), **DOWN_SET),  # type: ignore[arg-type]
    "TestScaleUpOneMetricInvalid": Case(2, 6, 3, 4, 30, metrics=[CHEDDAR], levels=[300, 400, 500]),
    "TestScaleUpFromZeroOneMetricInvalid": Case(0, 6, 0, 4, 30, metrics=[CHEDDAR], levels=[300, 400, 500],
                                                requests=[1000] * 3, recommendations=[]),
    "TestScaleUpBothMetricsEmpty": Case(2, 6, 3, 3, metrics=[CHEDDAR], requests=[1000] * 3,
                                        reason="InvalidMetricSourceType"),
    "TestScaleDownStabilizeInitialSize": Case(2, 6, 5, 5, 50, levels=[100, 300, 500, 250, 250],
                                              reason="ScaleDownStabilized"),
    "TestScaleDownCM": Case(2, 6, 5, 3, metrics=[MetricSpec("Pods", "qps", MetricTarget("AverageValue", 20000))],
                            levels=[12000] * 5, recommendations=[]),
    "TestScaleDownCMObject": Case(2, 6, 5, 3, metrics=[qps_object(20000)], levels=[12000], recommendations=[]),
    "TestScaleDownToZeroCMObject": Case(0, 6, 5, 0, metrics=[qps_object(20000)], levels=[0], recommendations=[]),
    "TestScaleDownPerPodCMObject": Case(2, 6, 5, 3, metrics=[qps_object(20000, average=True)], levels=[60000],
                                        recommendations=[]),
    "TestScaleDownCMExternal": Case(2, 6, 5, 3, metrics=[qps_external(14400)], levels=[8600], recommendations=[]),
    "TestScaleDownToZeroCMExternal": Case(0, 6, 5, 0, metrics=[qps_external(14400)], levels=[0], recommendations=[]),
    "TestScaleDownPerPodCMExternal": Case(2, 6, 5, 3, metrics=[qps_external(3000, average=True)], levels=[8600],
                                          recommendations=[]),
    "TestScaleDownIncludeUnreadyPods": Case(expected=2, ready=[T, T, T, F, F], utilization=30, **DOWN_SET),  # type: ignore[arg-type]
    "TestScaleDownIgnoreHotCpuPods": Case(expected=2, start=[COOL] * 3 + [HOT] * 2, utilization=30, **DOWN_SET),  # type: ignore[arg-type]
    "TestScaleDownIgnoresFailedPods": Case(expected=3, requests=SEVEN, ready=[T] * 5 + [F, F],
                                           phase=[R] * 5 + [X, X], utilization=28, **DOWN_SET),  # type: ignore[arg-type]
    "TestScaleDownIgnoresDeletionPods": Case(expected=3, requests=SEVEN, ready=[T] * 5 + [F, F],
                                             deleted=[F] * 5 + [T, T], utilization=28, **DOWN_SET),  # type: ignore[arg-type]
    "TestTolerance": Case(1, 5, 3, 3, 100, levels=[1010, 1030, 1020], requests=[900, 1000, 1100],
                          reason="ReadyForNewScale"),
    "TestToleranceCM": Case(1, 5, 3, 3, metrics=[MetricSpec("Pods", "qps", MetricTarget("AverageValue", 20000))],
                            levels=[20000, 20001, 21000], requests=[900, 1000, 1100], reason="ReadyForNewScale"),
    "TestToleranceCMObject": Case(1, 5, 3, 3, metrics=[qps_object(20000)], levels=[20050],
                                  requests=[900, 1000, 1100], reason="ReadyForNewScale"),
    "TestToleranceCMExternal": Case(2, 6, 4, 4, metrics=[qps_external(8666)], levels=[8600],
                                    reason="ReadyForNewScale"),
    "TestTolerancePerPodCMObject": Case(2, 6, 4, 4, metrics=[qps_object(2200, average=True)], levels=[8600],
                                        reason="ReadyForNewScale"),
    "TestTolerancePerPodCMExternal": Case(2, 6, 4, 4, metrics=[qps_external(2200, average=True)], levels=[8600],
                                          reason="ReadyForNewScale"),
    "TestMinReplicas": Case(2, 5, 3, 2, 90, levels=[10, 95, 10], requests=[900, 1000, 1100], recommendations=[],
                            reason="TooFewReplicas"),
    "TestZeroMinReplicasDesiredZero": Case(0, 5, 3, 0, 90, levels=[0, 0, 0], requests=[900, 1000, 1100],
                                           recommendations=[]),
    "TestMinReplicasDesiredZero": Case(2, 5, 3, 2, 90, levels=[0, 0, 0], requests=[900, 1000, 1100],
                                       recommendations=[], reason="TooFewReplicas"),
    "TestZeroReplicas": Case(3, 5, 0, 0, 90, requests=[], reason="ScalingDisabled"),
    "TestTooFewReplicas": Case(3, 5, 2, 3, 90, requests=[]),
    "TestTooManyReplicas": Case(3, 5, 10, 5, 90, requests=[]),
    "TestMaxReplicas": Case(2, 5, 3, 5, 90, levels=[8000, 9500, 1000], requests=[900, 1000, 1100],
                            reason="TooManyReplicas"),
    "TestSuperfluousMetrics": Case(2, 6, 4, 6, 100, levels=[4000, 9500, 3000, 7000, 3200, 2000],
                                   requests=[1000] * 4, reason="TooManyReplicas"),
    "TestMissingMetrics": Case(2, 6, 4, 3, 100, levels=[400, 95], requests=[1000] * 4, recommendations=[]),
    "TestEmptyMetrics": Case(2, 6, 4, 4, 100, requests=[1000] * 4, reason="FailedGetResourceMetric"),
    "TestEmptyCPURequest": Case(1, 5, 1, 1, 100, levels=[200], requests=[], reason="FailedGetResourceMetric"),
    "TestEventCreated": Case(1, 5, 1, 2, 50, levels=[200], requests=[200]),
    "TestEventNotCreated": Case(1, 5, 2, 2, 50, levels=[200, 200], requests=[400, 400], reason="ReadyForNewScale"),
    "TestMissingReports": Case(1, 5, 4, 2, 50, levels=[200], requests=[200], recommendations=[]),
    "TestUpscaleCap": Case(1, 100, 3, 24, 10, levels=[100, 200, 300], requests=[100] * 3,
                           up=rules(0, 0, 700, 60, 0), reason="ScaleUpLimit"),
    "TestUpscaleCapGreaterThanMaxReplicas": Case(1, 20, 3, 20, 10, levels=[100, 200, 300], requests=[100] * 3,
                                                 up=rules(0, 0, 700, 60, 0), reason="TooManyReplicas"),
    "TestMoreReplicasThanSpecNoScale": Case(1, 8, 4, 4, 50, levels=[500] * 5, requests=[1000] * 5, status=5,
                                            reason="ReadyForNewScale"),
    "TestConditionInvalidSourceType": Case(2, 6, 3, 3, metrics=[CHEDDAR], levels=[20000],
                                           reason="InvalidMetricSourceType"),
    "TestNoBackoffUpscaleCM": Case(1, 5, 3, 4, metrics=[QPS_PODS], levels=[20000, 10000, 30000]),
    "TestNoBackoffUpscaleCMNoBackoffCpu": Case(1, 5, 3, 5, 10, metrics=[QPS_PODS], levels=[20000, 10000, 30000],
                                               reason="TooManyReplicas"),
    "TestStabilizeDownscale": Case(1, 5, 4, 4, 100, levels=[50, 50, 50], requests=[100] * 3,
                                   recommendations=[(-10 * MINUTE, 10), (-MINUTE, 4)], reason="ScaleDownStabilized"),
    "TestScaleUpRCImmediately": Case(2, 6, 1, 2, levels=[0] * 4, requests=[1000] * 4),
    "TestScaleDownRCImmediately": Case(2, 5, 6, 5, 50, levels=[8000, 9500, 1000], requests=[900, 1000, 1100]),
    "TestScaleUpOneMetricEmpty": Case(2, 6, 3, 4, 30, metrics=[qps_external(100)], levels=[300, 400, 500],
                                      requests=[1000] * 3, failing=["external"]),
    "TestNoScaleDownOneMetricInvalid": Case(2, 6, 5, 5, 50, metrics=[CHEDDAR], levels=[100, 300, 500, 250, 250],
                                            recommendations=[], reason="InvalidMetricSourceType"),
    "TestNoScaleDownOneMetricEmpty": Case(2, 6, 5, 5, 50, metrics=[qps_external(1000)],
                                          levels=[100, 300, 500, 250, 250], recommendations=[], failing=["external"],
                                          reason="FailedGetExternalMetric"),
}  # fmt: skip

FAILED_GET_METRICS = {
    "FailedGetResourceMetric": Case(1, 100, 3, 3, 10, levels=[100, 200, 300], requests=[100] * 3),
    "FailedGetPodsMetric": Case(1, 100, 3, 3, metrics=[QPS_PODS], levels=[100, 200, 300], requests=[100] * 3),
    "FailedGetObjectMetric": Case(1, 100, 3, 3, metrics=[qps_object(15000)], levels=[100, 200, 300],
                                  requests=[100] * 3),
    "FailedGetExternalMetric": Case(1, 100, 3, 3, metrics=[qps_external(300)], levels=[100, 200, 300],
                                    requests=[100] * 3),
}  # fmt: skip
for reason, case in FAILED_GET_METRICS.items():
    case.failing, case.reason = ["resource", "custom", "external"], reason
    CASES[f"TestConditionFailedGetMetrics/{reason}"] = case


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_one_sync_matches_kubernetes(case: Case) -> None:
    decision = run(case)
    assert decision.desired == case.expected, decision
    if case.reason is not None:
        assert decision.reason.split(":")[0] == case.reason, decision
    if case.utilization is not None:
        assert decision.utilization == case.utilization


def test_a_scale_up_names_the_metric_that_won() -> None:
    """reconcileAutoscaler's rescale reason, as the SuccessfulRescale event says it (TestEventCreated)."""
    decision = run(CASES["TestEventCreated"])
    assert decision.reason == "cpu resource utilization (percentage of request) above target"
    assert decision.metric == "cpu resource utilization (percentage of request)"
    two = run(CASES["TestNoBackoffUpscaleCM"])
    assert (two.reason, two.metric) == ("pods metric qps above target", "pods metric qps")
    down = run(CASES["TestScaleDown"])
    assert down.reason == "All metrics below target"


def test_several_metrics_take_the_largest_proposal() -> None:
    """computeReplicasForMetrics: CPU alone asks 4 (TestScaleUpOneMetricInvalid's CPU), qps alone 4,
    a larger qps 6: the largest wins, and the decision says which."""
    base = dict(min=1, max=10, spec=3, cpu_target=30, levels=[300, 400, 500], requests=[1000] * 3)
    cpu_only = run(Case(expected=4, **base))  # type: ignore[arg-type]
    heavier = MetricSpec("Pods", "qps", MetricTarget("AverageValue", value_milli=200))
    both = run(Case(expected=6, metrics=[heavier], **base))  # type: ignore[arg-type]
    assert (cpu_only.desired, both.desired, both.metric) == (4, 6, "pods metric qps")


def test_every_metrics_proposal_is_kept_with_the_decision() -> None:
    """TestScaleUpOneMetricEmpty: CPU proposes 4 at 40 %, the external metric failed; both are recorded."""
    decision = run(CASES["TestScaleUpOneMetricEmpty"])
    cpu, queue = decision.proposals
    assert (cpu.metric, cpu.replicas, cpu.usage) == (
        "cpu resource utilization (percentage of request)",
        4,
        40,
    )
    assert (queue.replicas, queue.metric) == (None, "external metric qps({})")
    assert queue.error is not None
    assert "unable to get external metric qps" in queue.error


def test_ComputedToleranceAlgImplementation() -> None:
    """Both runs of horizontal_test.go's TestComputedToleranceAlgImplementation (minReplicas 0,
    maxReplicas 1000, 10 pods at half their request, a target just past and just inside tolerance)."""
    start_pods, used = 10, 10 * 150
    requested = 2 * used
    per_pod = requested // start_pods
    requests = [per_pod + d for d in (100, -100, 10, -10, 2, -2, 1, -1, 0, 0)]
    target = abs(1 / (requested / used * (1 - 0.1))) + 0.01
    final_pods = math.ceil(used / (requested * target) * start_pods)
    past = Case(0, 1000, start_pods, final_pods, int(target * 100), levels=[used // 10] * 10, requests=requests,
                recommendations=[])  # fmt: skip
    assert run(past).desired == final_pods == 9
    inside = abs(1 / (requested / used * (1 - 0.1))) + 0.004
    held = Case(0, 1000, start_pods, start_pods, int(inside * 100), levels=[used // 10] * 10, requests=requests,
                recommendations=[], reason="ReadyForNewScale")  # fmt: skip
    decision = run(held)
    assert (decision.desired, decision.reason) == (10, "ReadyForNewScale")
