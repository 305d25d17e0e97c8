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
        ("autoscaling: {minReplicas: 0}", "minReplicas must be a whole number >= 1"),
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
