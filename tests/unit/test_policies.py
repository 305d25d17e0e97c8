"""The policies as the controller runs them (``autoscaling.policies``): when each acts, what it
reads, its bounds, and that a constant metric never makes it flap."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscale.autoscaling.config import HPAConfig, load_hpa_config
from mlscale.autoscaling.controller import Controller
from mlscale.autoscaling.metrics import Observed, pod_usage
from mlscale.autoscaling.oracle import OracleConfig
from mlscale.autoscaling.policies import Measured, Plan, Snapshot, make_policy, parse_policy_settings
from mlscale.autoscaling.policies.cpu import CPUPolicy
from mlscale.autoscaling.policies.kpa import KPAPolicy, KPASettings, window_average
from mlscale.autoscaling.policies.oracle import OraclePolicy
from mlscale.autoscaling.policies.queue import (
    METRIC_NAME,
    SELECTOR_LABEL,
    QueuePolicy,
    QueueSettings,
    keda_hpa_spec,
)
from mlscale.autoscaling.replicas import Pod, cpu_pod
from mlscale.errors import ConfigError


def pods(count: int, ready: bool = True) -> list[Pod]:
    return [cpu_pod(f"p{i}", 500, ready=ready) for i in range(count)]


def snap(now: float, current: int, load: float | None = None, **kw: Any) -> Snapshot:
    return Snapshot(now, current, kw.pop("pods", pods(current)), load=load, **kw)


def run(
    policy: Any, loads: Sequence[float | None], current: int, start: float = 1000.0
) -> list[tuple[int, Any]]:
    """Step once a second, applying each count as the controller would; (desired, record) per step."""
    state = policy.start(start)
    out = []
    for i, load in enumerate(loads):
        now = start + i
        step, state = policy.step(snap(now, current, load), state)
        if step.desired != current:
            state = policy.scaled(state, current, step.desired, now)
            current = step.desired
        out.append((step.desired, step.record))
    return out


# --- queue (KEDA) -------------------------------------------------------------------------------

QUEUE = QueuePolicy.make(QueueSettings(behavior={"scaleUp": {"stabilizationWindowSeconds": 0},
                                                  "scaleDown": {"stabilizationWindowSeconds": 60}}),
                         "mlscale-inference")  # fmt: skip


def test_keda_generates_an_hpa_over_an_external_metric_with_an_average_value_target() -> None:
    spec = keda_hpa_spec(QueueSettings(threshold=2.5, min_replica_count=0, max_replica_count=7), "so")
    assert spec["minReplicas"] == 1  # KEDA's HPA never holds zero: the executor does
    assert spec["maxReplicas"] == 7
    (metric,) = spec["metrics"]
    assert metric["external"]["metric"] == {
        "name": METRIC_NAME,
        "selector": {"matchLabels": {SELECTOR_LABEL: "so"}},
    }
    assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "2.5"}
    assert "behavior" not in spec  # none given: Kubernetes' defaults


def test_queue_activates_from_zero_above_the_activation_threshold_only() -> None:
    idle = run(QUEUE, [0.0] * 3, current=0)
    assert [d for d, _ in idle] == [0, 0, 0]
    woken = run(QUEUE, [1.0], current=0)
    assert woken[0][0] == 1
    assert woken[0][1]["reason"] == "ScalerActive"
    at_threshold = QueuePolicy.make(QueueSettings(activation_threshold=3), "so")
    assert run(at_threshold, [3.0], current=0)[0][0] == 0  # strictly above
    assert run(at_threshold, [3.5], current=0)[0][0] == 1


def test_queue_scales_to_zero_once_the_cooldown_has_passed_since_it_was_last_active() -> None:
    settings_ = QueueSettings(cooldown_period=30, polling_interval=5)
    policy = QueuePolicy.make(settings_, "so")
    loads = [4.0] + [0.0] * 45
    desired = [d for d, _ in run(policy, loads, current=1)]
    first_zero = desired.index(0)
    # Active at the poll of second 0; polls every 5 s; zero at the first poll more than 30 s later.
    assert first_zero == 35
    assert all(d >= 1 for d in desired[:first_zero])


def test_queue_hpa_half_keeps_threshold_per_replica_and_syncs_every_period() -> None:
    steps = run(QUEUE, [20.0] * 16, current=2)
    records = [(i, r) for i, (_, r) in enumerate(steps) if r is not None]
    assert [i for i, _ in records] == [0, 15]  # the HPA's 15 s sync; polls while active change nothing
    first = records[0][1]
    assert first["recommended"] == 10  # 20 / 2 per replica
    assert first["desired"] == 5  # maxReplicas
    assert METRIC_NAME in first["metric"]


def test_queue_without_a_value_holds_within_the_cooldown_and_reports_the_failure() -> None:
    steps = run(QUEUE, [5.0] + [None] * 15, current=2)
    assert steps[0][0] == 3  # ceil(5 / 2)
    desired, record = steps[15]  # the next HPA sync: the scaler answers nothing
    assert desired == 3
    assert "FailedGetExternalMetric" in record["reason"]
    assert [d for d, _ in steps] == [3] * 16  # the polls in between: not active, cooling down


# --- kpa (Knative) ------------------------------------------------------------------------------

KPA = KPAPolicy(KPASettings())


def test_window_average_is_the_mean_of_the_window_and_none_without_samples() -> None:
    samples = ((1.0, 2.0), (2.0, 4.0), (10.0, 9.0))
    assert window_average(samples, 10.0, 6.0) == 9.0
    assert window_average(samples, 10.0, 60.0) == 5.0
    assert window_average(samples, 100.0, 6.0) is None


def test_kpa_panics_on_a_burst_and_asks_for_it_at_once() -> None:
    steps = run(KPA, [0.5] * 10 + [10.0] * 8, current=1)
    desired = [d for d, _ in steps]
    assert desired[:10] == [1] * 10
    panicked = next(i for i, (d, _) in enumerate(steps) if d > 1)
    assert panicked == 10  # the first tick that sees the burst
    assert steps[panicked][1]["reason"] == "Panic"
    # The panic window (6 s) fills with the burst: ceil(10 / 1.4) = 8, capped at maxScale.
    assert desired[16] == 5


def test_kpa_does_not_scale_down_while_panicking() -> None:
    steps = run(KPA, [10.0] * 6 + [0.2] * 20, current=1)
    peak = max(d for d, _ in steps)
    after_peak = [d for d, _ in steps[[d for d, _ in steps].index(peak) :]]
    assert after_peak == [peak] * len(after_peak)


def test_kpa_goes_to_zero_only_after_the_grace_period() -> None:
    steps = run(KPA, [0.0] * 40, current=1)
    desired = [d for d, _ in steps]
    reasons = [r["reason"] for _, r in steps if r is not None]
    assert "ScaleToZeroGrace" in reasons
    first_zero = desired.index(0)
    assert 30 <= first_zero <= 32  # the 30 s grace, on the 2 s tick


def test_kpa_ticks_every_two_seconds() -> None:
    steps = run(KPA, [1.0] * 10, current=1)
    assert [i for i, (_, r) in enumerate(steps) if r is not None] == [0, 2, 4, 6, 8]


# --- oracle -------------------------------------------------------------------------------------

ORACLE = OraclePolicy(OracleConfig(capacity_rps=50, service_seconds=0.02, startup_seconds=10, slo_seconds=0.5,
                                   min_replicas=0, max_replicas=5))  # fmt: skip


def test_oracle_without_a_plan_holds_its_minimum() -> None:
    step, _ = ORACLE.step(snap(0.0, 1), None)
    assert step.desired == 0
    assert step.record is not None
    assert step.record["reason"] == "NoPlan"


def test_oracle_asks_a_start_up_ahead_of_the_load() -> None:
    # 80 requests/s against 50 flat out: 2 replicas from second 30 (a backlog of 30 a second would
    # break the 0.5 s SLO in the second second), asked for 10 s of start-up before.
    plan = Plan(tuple([0.0] * 30 + [80.0] * 30), start_at=100.0)
    state = None
    asked = {}
    for t in range(0, 64):
        step, state = ORACLE.step(snap(100.0 + t, 0, plan=plan), state)
        asked[t] = step.desired
    assert {t: asked[t] for t in (0, 18, 20, 21, 40, 63)} == {0: 0, 18: 0, 20: 2, 21: 2, 40: 2, 63: 0}
    assert state is not None
    assert len(state.schedule) >= 60  # planned once, kept in its state


# --- properties ---------------------------------------------------------------------------------

loads = st.lists(st.one_of(st.none(), st.floats(0, 500)), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(loads, st.integers(0, 5))
def test_queue_and_kpa_stay_within_their_bounds(values: list[float | None], start: int) -> None:
    for policy, floor in ((QUEUE, 0), (KPA, 0)):
        for desired, _ in run(policy, values, current=start):
            assert floor <= desired <= 5


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 40), st.integers(1, 5))
def test_a_constant_metric_settles_and_never_flaps(load: float, start: int) -> None:
    for policy in (QUEUE, KPA):
        desired = [d for d, _ in run(policy, [load] * 400, current=start)]
        settled = desired[200:]  # past every window (60 s) and cooldown (30 s)
        assert len(set(settled)) == 1, (policy.name, load, start, sorted(set(settled)))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2000), st.integers(1, 5))
def test_cpu_policy_on_a_constant_utilization_settles(milli: int, start: int) -> None:
    config = load_hpa_config()
    policy = CPUPolicy(config)
    state = policy.start(0.0)
    current, seen = start, []
    for i in range(60):
        now = 1000.0 + i * 15
        usage = {f"p{k}": pod_usage(milli, now - 1, 15) for k in range(current)}
        snapshot = Snapshot(now, current, [cpu_pod(f"p{k}", 500) for k in range(current)], Observed(usage))
        step, state = policy.step(snapshot, state)
        if step.desired != current:
            state = policy.scaled(state, current, step.desired, now)
        current = step.desired
        seen.append(current)
        assert 1 <= current <= 5
    # The same total CPU spread over the new count is still milli per pod here (a fixed
    # per-pod load), so the count climbs to where it settles and stays there.
    assert len(set(seen[-20:])) == 1


# --- settings and the controller ----------------------------------------------------------------


def test_policy_settings_read_values_yaml_and_name_a_bad_field() -> None:
    config = HPAConfig()
    chosen = parse_policy_settings({"policy": "kpa", "kpa": {"containerConcurrency": 4}}, config)
    assert chosen.name == "kpa"
    assert chosen.kpa.container_concurrency == 4
    with pytest.raises(ConfigError, match=r"autoscaling.policy must be one of cpu, queue, kpa, oracle"):
        parse_policy_settings({"policy": "fast"}, config)
    with pytest.raises(ConfigError, match=r"autoscaling.queue.pollingInterval must be a whole number >= 1"):
        parse_policy_settings({"queue": {"pollingInterval": 0}}, config)
    with pytest.raises(ConfigError, match=r"unknown key 'stableWindow'"):
        parse_policy_settings({"kpa": {"stableWindow": 60}}, config)
    with pytest.raises(ConfigError, match=r"oracle.minReplicas \(9\) is above maxReplicas"):
        parse_policy_settings({"oracle": {"minReplicas": 9}}, config)


def test_the_chart_values_name_every_policy_setting_the_local_backend_reads() -> None:
    from mlscale.autoscaling.config import load_values

    section = load_values()["autoscaling"]
    chosen = parse_policy_settings(section, load_hpa_config())
    assert chosen.name == "cpu"
    assert chosen.queue.min_replica_count == 0
    assert chosen.kpa.min_scale == 0


def test_the_oracle_needs_what_up_measured() -> None:
    chosen = replace(parse_policy_settings({"policy": "oracle"}, HPAConfig()), name="oracle")
    with pytest.raises(ConfigError, match="the oracle needs"):
        make_policy(chosen, HPAConfig())
    oracle = make_policy(chosen, HPAConfig(), Measured(88.0, 0.014, 9.0))
    assert oracle.name == "oracle"
    with pytest.raises(ConfigError, match="the oracle needs"):
        make_policy(chosen, HPAConfig(), Measured(88.0, 0.014, None))  # no start-up measured


def test_the_oracle_plans_for_the_slo_in_its_values() -> None:
    settings = parse_policy_settings({"policy": "oracle", "oracle": {"sloMilliseconds": 250}}, HPAConfig())
    oracle = make_policy(settings, HPAConfig(), Measured(88.0, 0.014, 9.0))
    assert isinstance(oracle, OraclePolicy)
    assert oracle.config.slo_seconds == 0.25
    assert oracle.config.capacity_rps == 88.0 * 0.9  # flatOutPercent: 90, the margin for randomness
    with pytest.raises(ConfigError, match=r"oracle.sloPercentile must be at most 100"):
        parse_policy_settings({"oracle": {"sloPercentile": 101}}, HPAConfig())
    with pytest.raises(ConfigError, match=r"oracle.flatOutPercent must be at most 100"):
        parse_policy_settings({"oracle": {"flatOutPercent": 120}}, HPAConfig())
    with pytest.raises(ConfigError, match=r"oracle.sloMilliseconds must be a number >= 1"):
        parse_policy_settings({"oracle": {"sloMilliseconds": 0}}, HPAConfig())


class FakeTarget:
    def __init__(self, replicas: int, load: float) -> None:
        self.replicas, self.value = replicas, load
        self.scaled_to: list[int] = []

    def current_replicas(self) -> int:
        return self.replicas

    def pods(self) -> list[Pod]:
        return pods(self.replicas)

    def observed(self) -> Observed:
        return Observed()

    async def load(self) -> float | None:
        return self.value

    def plan(self) -> Plan | None:
        return None

    async def scale_to(self, replicas: int) -> None:
        self.scaled_to.append(replicas)
        self.replicas = replicas


def test_the_controller_applies_and_records_what_the_policy_decides() -> None:
    target = FakeTarget(replicas=0, load=3.0)
    controller = Controller(target, QUEUE)
    record = asyncio.run(controller.sync())
    assert target.scaled_to == [1]
    assert controller.desired == 1
    assert record is not None
    assert controller.decisions == [record]
    assert record["policy"] == "queue"
