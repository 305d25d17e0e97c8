from __future__ import annotations

from pathlib import Path

import pytest

from mlscale.autoscaling.config import load_hpa_config
from mlscale.errors import ConfigError


def test_the_charts_values_carry_the_original_designs_numbers() -> None:
    config = load_hpa_config()
    assert (config.min_replicas, config.max_replicas, config.target_cpu_utilization) == (1, 5, 70)
    assert config.scale_up.stabilization_window_seconds == 30
    assert config.scale_down.stabilization_window_seconds == 60
    assert config.sync_period_seconds == 15


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("autoscaling: {minReplicas: -1}", "minReplicas must be a whole number >= 0"),
        ("autoscaling: {minReplicas: 0}", "minReplicas 0 needs at least one Object or External metric"),
        ("autoscaling: {metrics: {}}", "autoscaling.metrics must be a list"),
        (
            "autoscaling: {metrics: [{type: Cheese}]}",
            "metrics[0].type must be one of Resource, ContainerResource",
        ),
        (
            "autoscaling: {metrics: [{type: Resource, resource: {name: gpu}}]}",
            "resource.name must be cpu or memory",
        ),
        (
            "autoscaling: {metrics: [{type: ContainerResource, containerResource: {name: cpu, target: "
            "{type: Utilization, averageUtilization: 50}}}]}",
            "containerResource.container is required",
        ),
        (
            "autoscaling: {metrics: [{type: Pods, pods: {metric: {name: x}, target: {type: Utilization, "
            "averageUtilization: 5}}}]}",
            "metrics[0].pods.target.type must be one of AverageValue",
        ),
        (
            "autoscaling: {metrics: [{type: External, external: {metric: {name: q}, "
            "target: {type: AverageValue}}}]}",
            "external.target.averageValue is required",
        ),
        (
            "autoscaling: {metrics: [{type: External, external: {metric: {name: q}, target: {type: Value, "
            "value: lots}}}]}",
            "target.value must be a Kubernetes quantity",
        ),
        (
            "autoscaling: {metrics: [{type: External, external: {metric: {name: q}, target: {type: Value, "
            "value: 0}}}]}",
            "target.value must be > 0",
        ),
        (
            "autoscaling: {metrics: [{type: Object, object: {metric: {name: q}, "
            "target: {type: Value, value: 1}}}]}",
            "object.describedObject needs kind and name",
        ),
        (
            "autoscaling: {metrics: [{type: Pods, pods: {target: {type: AverageValue, averageValue: 1}}}]}",
            "pods.metric.name is required",
        ),
        ("autoscaling: {minReplicas: 3, maxReplicas: 2}", "maxReplicas (2) must be >= minReplicas (3)"),
        ("autoscaling: {targetCPUUtilizationPercentage: high}", "targetCPUUtilizationPercentage"),
        ("autoscaling: {behavior: {scaleUp: {selectPolicy: Most}}}", "scaleUp.selectPolicy"),
        (
            "autoscaling: {behavior: {scaleDown: {policies: [{type: Pods, value: 1, periodSeconds: 0}]}}}",
            "periodSeconds",
        ),
        ("autoscaling: [1, 2]", "must be a mapping"),
        ("autoscaling: {a: [", "not valid YAML"),
    ],
)
def test_bad_values_name_the_bad_field(tmp_path: Path, yaml_text: str, words: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml_text)
    with pytest.raises(ConfigError, match=None) as error:
        load_hpa_config(values)
    assert words in str(error.value)


def test_overrides_are_validated() -> None:
    assert load_hpa_config(max_replicas=3).max_replicas == 3
    with pytest.raises(ConfigError, match="time-scale"):
        load_hpa_config(time_scale=0.0)
    with pytest.raises(ConfigError, match="maxReplicas"):
        load_hpa_config(min_replicas=4, max_replicas=2)


def test_metrics_are_read_as_an_hpa_spec_lists_them(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        """
autoscaling:
  minReplicas: 0
  maxReplicas: 9
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
    - type: ContainerResource
      containerResource: {name: memory, container: app, target: {type: AverageValue, averageValue: 1Gi}}
    - type: Pods
      pods: {metric: {name: mlscale_inference_in_flight}, target: {type: AverageValue, averageValue: 500m}}
    - type: Object
      object:
        describedObject: {kind: Service, name: mlscale-dispatcher}
        metric: {name: mlscale_dispatcher_queue_depth}
        target: {type: Value, value: 20}
    - type: External
      external:
        metric: {name: mlscale_dispatcher_requests_total, selector: {matchLabels: {outcome: ok}}}
        target: {type: AverageValue, averageValue: "2.5"}
"""
    )
    config = load_hpa_config(values)
    assert config.min_replicas == 0  # allowed: an Object or External metric can wake it
    assert config.target_cpu_utilization == 60  # the CPU metric listed sets what calibration sizes for
    got = [(m.type, m.name, m.target and (m.target.type, m.target.value_milli, m.target.utilization))
           for m in config.metrics]  # fmt: skip
    assert got == [
        ("Resource", "cpu", ("Utilization", None, 60)),
        ("ContainerResource", "memory", ("AverageValue", 2**30 * 1000, None)),
        ("Pods", "mlscale_inference_in_flight", ("AverageValue", 500, None)),
        ("Object", "mlscale_dispatcher_queue_depth", ("Value", 20_000, None)),
        ("External", "mlscale_dispatcher_requests_total", ("AverageValue", 2500, None)),
    ]
    assert config.metrics[3].described_object == "Service/mlscale-dispatcher"
    assert dict(config.metrics[4].selector) == {"outcome": "ok"}
    assert [m.label for m in config.metrics] == [
        "cpu resource utilization (percentage of request)",
        "memory resource",
        "pods metric mlscale_inference_in_flight",
        "Service metric mlscale_dispatcher_queue_depth",
        "external metric mlscale_dispatcher_requests_total({'outcome': 'ok'})",
    ]


def test_without_metrics_the_cpu_target_is_the_one_metric() -> None:
    config = load_hpa_config(target_cpu_utilization=55)
    assert [(m.type, m.name, m.target and m.target.utilization) for m in config.metrics] == [
        ("Resource", "cpu", 55)
    ]


def test_a_scale_down_without_a_window_takes_the_controllers_downscale_stabilization() -> None:
    """maybeInitScaleDownStabilizationWindow: behavior.scaleDown with no window gets the controller's
    --horizontal-pod-autoscaler-downscale-stabilization (here 120 s), not a fixed 300 s."""
    from mlscale.autoscaling.config import parse_hpa_config

    section = {"downscaleStabilizationSeconds": 120, "behavior": {"scaleDown": {"selectPolicy": "Max"}}}
    config = parse_hpa_config(section)
    assert config.scale_down.stabilization_window_seconds is None
    assert config.window_seconds(config.scale_down) == 120
    assert config.window_seconds(config.scale_up) == 0  # Kubernetes' default scale-up window
    written = parse_hpa_config({**section, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 45}}})
    assert written.window_seconds(written.scale_down) == 45


def test_the_held_recommendation_follows_the_controllers_window() -> None:
    from mlscale.autoscaling.behavior import HPAState, stabilize
    from mlscale.autoscaling.config import parse_hpa_config

    config = parse_hpa_config({"downscaleStabilizationSeconds": 120, "behavior": {"scaleDown": {}}})
    state = HPAState(recommendations=((1000.0 - 200, 5),), initialized=True)  # 200 s ago: 5
    assert stabilize(3, 1, 1000.0, state, config)[0] == 1  # older than 120 s: not held (300 s held it)
    state = HPAState(recommendations=((1000.0 - 100, 5),), initialized=True)
    assert stabilize(3, 1, 1000.0, state, config)[0] == 3  # within 120 s: held at the current 3


@pytest.mark.parametrize("value", [5, 1, -0.1, "10%", True])
def test_the_tolerance_is_a_ratio(value: object) -> None:
    from mlscale.autoscaling.config import parse_hpa_config

    with pytest.raises(ConfigError, match=r"autoscaling.tolerance must be a ratio in \[0, 1\)"):
        parse_hpa_config({"tolerance": value})
    assert parse_hpa_config({"tolerance": 0.05}).tolerance == 0.05
