"""The ``queue`` policy's ScaledObject: valid for KEDA 2.16.1 (the pinned chart's version), and the
numbers the local backend's queue policy reads from the same values."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject

from mlscale.autoscaling.config import HPAConfig, load_values
from mlscale.autoscaling.policies import parse_policy_settings
from mlscale.autoscaling.policies.queue import QUERY
from mlscale.locations import chart_dir
from tests.chart.helm import SUBCHARTS_OFF, helm, render

QUEUE_VALUES = chart_dir() / "ci" / "queue-values.yaml"


def keda_schema_errors(document: dict[str, Any]) -> list[str]:
    """Where the document differs from what KEDA's CRD models keep of it: a field KEDA does not
    know is dropped by the model, a wrong type fails it. Empty: valid."""
    try:
        kept = ScaledObject.model_validate(document).model_dump(by_alias=True, exclude_none=True, mode="json")
    except ValueError as exc:
        return [str(exc)]
    errors: list[str] = []

    def compare(given: Any, back: Any, path: str) -> None:
        if isinstance(given, dict) and isinstance(back, dict):
            for key, value in given.items():
                if key not in back:
                    errors.append(f"{path}.{key}: not in KEDA's schema")
                else:
                    compare(value, back[key], f"{path}.{key}")
        elif isinstance(given, list) and isinstance(back, list) and len(given) == len(back):
            for index, (a, b) in enumerate(zip(given, back, strict=True)):
                compare(a, b, f"{path}[{index}]")
        elif given != back:
            errors.append(f"{path}: {given!r} became {back!r}")

    compare(document, kept, "")
    return errors


def scaled_object(values: list[Any]) -> dict[str, Any]:
    documents = render(values)
    assert not [d for d in documents if d["kind"] == "HorizontalPodAutoscaler"], "KEDA makes the HPA"
    (found,) = [d for d in documents if d["kind"] == "ScaledObject"]
    return found


def test_the_scaled_object_is_valid_for_keda() -> None:
    document = scaled_object([QUEUE_VALUES])
    assert document["apiVersion"] == "keda.sh/v1alpha1"
    assert keda_schema_errors(document) == []


def test_the_schema_check_catches_a_misspelled_field_and_a_wrong_type() -> None:
    document = scaled_object([QUEUE_VALUES])
    misspelled = {**document, "spec": {**document["spec"], "pollingIntervl": 5}}
    assert keda_schema_errors(misspelled) == [".spec.pollingIntervl: not in KEDA's schema"]
    wrong = {**document, "spec": {**document["spec"], "triggers": "prometheus"}}
    assert keda_schema_errors(wrong)


def test_the_scaled_object_has_the_numbers_the_local_queue_policy_reads() -> None:
    document = scaled_object([QUEUE_VALUES])
    spec = document["spec"]
    values = yaml.safe_load(QUEUE_VALUES.read_text())
    merged = load_values()["autoscaling"] | values["autoscaling"]
    merged["queue"] = load_values()["autoscaling"]["queue"] | values["autoscaling"]["queue"]
    settings = parse_policy_settings(merged, HPAConfig(max_replicas=merged["maxReplicas"]))
    queue = settings.queue
    assert settings.name == "queue"
    assert spec["scaleTargetRef"]["name"] == "mlscale-inference"
    assert spec["pollingInterval"] == queue.polling_interval == 10
    assert spec["cooldownPeriod"] == queue.cooldown_period == 60
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (queue.min_replica_count, 4)
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == queue.behavior
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["query"] == QUERY
    assert float(trigger["metadata"]["threshold"]) == queue.threshold == 3
    assert float(trigger["metadata"]["activationThreshold"]) == queue.activation_threshold
    assert trigger["metadata"]["serverAddress"] == "http://prometheus-operated.default.svc:9090"


def test_the_default_policy_renders_the_hpa_and_no_scaled_object() -> None:
    kinds = {d["kind"] for d in render([])}
    assert "HorizontalPodAutoscaler" in kinds
    assert "ScaledObject" not in kinds


@pytest.mark.parametrize("policy", ["kpa", "oracle", "random"])
def test_a_policy_the_chart_cannot_render_fails_with_a_message(policy: str) -> None:
    with pytest.raises(AssertionError, match="kpa and oracle run on the local backend only"):
        helm("template", "mlscale", ".", *SUBCHARTS_OFF, "--set", f"autoscaling.policy={policy}")
