"""The local backend's HPA on listed metrics, for real: a Pods metric read from each replica's
/metrics and an External one from the dispatcher's, as an adapter would serve them.

Real processes (weights none, ``--time-scale 0.2``: sync 3 s). The values file lists
``mlscale_inference_ready`` (1 on every warm replica) as a Pods metric with an AverageValue target
of 0.5, so the HPA wants twice the ready replicas whatever the load, and the dispatcher's
``mlscale_dispatcher_queue_depth`` (0 with no load) as an External metric. No load, no CPU: the
scale-up can only come from the Pods metric, and the External one must be read and propose 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.services import free_port
from mlscale.cli import app
from mlscale.locations import values_file

pytestmark = pytest.mark.integration
runner = CliRunner()

METRICS = [
    {"type": "Pods", "pods": {"metric": {"name": "mlscale_inference_ready"},
                              "target": {"type": "AverageValue", "averageValue": "500m"}}},
    {"type": "External", "external": {"metric": {"name": "mlscale_dispatcher_queue_depth"},
                                      "target": {"type": "AverageValue", "averageValue": "5"}}},
]  # fmt: skip


@pytest.fixture(scope="module")
def decisions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("local-metrics")
    values = yaml.safe_load(values_file().read_text())
    values["autoscaling"] = {**values["autoscaling"], "maxReplicas": 2, "metrics": METRICS}
    custom = tmp / "values.yaml"
    custom.write_text(yaml.safe_dump(values))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp / "state"))
        up = runner.invoke(app, ["up", "--time-scale", "0.2", "--values", str(custom),
                                 "--dispatcher-port", str(free_port())])  # fmt: skip
        assert up.exit_code == 0, up.output
        seen: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                result = runner.invoke(app, ["status", "--json"])
                assert result.exit_code == 0, result.output
                last = json.loads(result.output).get("last_decision")
                if last and last not in seen:
                    seen.append(last)
                if last and last["desired"] > last["current"]:
                    break
                time.sleep(1)
            yield seen
        finally:
            down = runner.invoke(app, ["down"])
            assert down.exit_code == 0, down.output


def test_a_pods_metric_from_the_replicas_scales_the_local_backend(decisions: list[dict[str, Any]]) -> None:
    scaled = [d for d in decisions if d["desired"] > d["current"]]
    assert scaled, decisions
    decision = scaled[0]
    assert (decision["current"], decision["desired"]) == (1, 2)
    assert decision["metric"] == "pods metric mlscale_inference_ready"
    assert decision["reason"] == "pods metric mlscale_inference_ready above target"
    pods, queue = decision["proposals"]
    assert (pods["replicas"], pods["usage"]) == (2, 1000)  # one replica reporting 1 (1000 milli-units)
    # The dispatcher's queue was read (no load: 0 per pod) and proposed no replicas.
    assert (queue["metric"], queue["replicas"], queue["usage"], queue["error"]) == (
        "external metric mlscale_dispatcher_queue_depth({})", 0, 0, None)  # fmt: skip
