"""The scale-events table in a terminal names a reason's metric briefly; the HTML page and
stats.json keep Kubernetes' words whole."""

from __future__ import annotations

import pytest

from mlscale.autoscaling.reasons import short_reason
from mlscale.report.html import scale_event_rows


@pytest.mark.parametrize(
    ("reason", "short"),
    [
        ("cpu resource utilization (percentage of request) above target", "cpu above target"),
        ("cpu container resource utilization (percentage of request) above target", "cpu above target"),
        ("memory resource above target", "memory above target"),
        ("pods metric mlscale_inference_in_flight above target", "mlscale_inference_in_flight above target"),
        ("external metric queue({}) above target", "queue above target"),
        (
            "Service metric mlscale_dispatcher_in_flight above target",
            "mlscale_dispatcher_in_flight above target",
        ),
        ("All metrics below target", "below target"),
        ("ScaleUpLimit", "ScaleUpLimit"),
        ("ScaleDownStabilized", "ScaleDownStabilized"),
        (None, None),
    ],
)
def test_short_reason(reason: str | None, short: str | None) -> None:
    assert short_reason(reason) == short


def test_only_the_terminal_rows_are_compact() -> None:
    event = {"at_s": 88.9, "from": 1, "to": 2, "utilization": 162, "load_change_at_s": 60,
             "decision_after_load_s": 28.9, "ready_after_decision_s": 11.1, "reaction_s": 40.0,
             "reason": "cpu resource utilization (percentage of request) above target"}  # fmt: skip
    stats = {"autoscaling": {"scale_events": [event]}}
    assert scale_event_rows(stats)[0][-1] == event["reason"]
    assert scale_event_rows(stats, compact=True)[0][-1] == "cpu above target"
