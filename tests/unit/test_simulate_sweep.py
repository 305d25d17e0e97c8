"""Sweeps: the grid as written, values read as YAML, bad axes refused, and the Pareto front."""

from __future__ import annotations

import pytest

from mlscale.errors import InputError
from mlscale.simulate.sweep import as_sets, grid, label, pareto, parse_axis


def test_the_grid_is_every_combination_first_axis_slowest() -> None:
    axes = [
        parse_axis("autoscaling.targetCPUUtilizationPercentage=50,60"),
        parse_axis("autoscaling.behavior.scaleUp.stabilizationWindowSeconds=0,15,30"),
    ]
    points = grid(axes)
    assert len(points) == 6
    assert points[0] == {
        "autoscaling.targetCPUUtilizationPercentage": 50,
        "autoscaling.behavior.scaleUp.stabilizationWindowSeconds": 0,
    }
    assert [p["autoscaling.behavior.scaleUp.stabilizationWindowSeconds"] for p in points[:3]] == [0, 15, 30]
    assert as_sets(points[-1]) == [
        "autoscaling.targetCPUUtilizationPercentage=60",
        "autoscaling.behavior.scaleUp.stabilizationWindowSeconds=30",
    ]
    assert label(points[-1]) == "targetCPUUtilizationPercentage=60 stabilizationWindowSeconds=30"


def test_values_are_yaml_and_bad_axes_say_how_to_write_them() -> None:
    assert parse_axis("autoscaling.policy=cpu,queue").values == ("cpu", "queue")
    assert parse_axis("a.b=0.5,true").values == (0.5, True)
    for bad in ("autoscaling.maxReplicas", "=1,2", "a..b=1", "a.b=1,,2"):
        with pytest.raises(InputError, match=r"a\.b\.c=v1,v2"):
            parse_axis(bad)
    with pytest.raises(InputError, match="each key once"):
        grid([parse_axis("a.b=1"), parse_axis("a.b=2")])


def test_the_pareto_front_keeps_what_nothing_beats_on_both() -> None:
    """(cost, SLO seconds): (10, 5) and (20, 0) trade off; (20, 5) is beaten by both; (10, 5)
    twice: neither beats the other."""
    points = [(10.0, 5.0), (20.0, 0.0), (20.0, 5.0), (10.0, 5.0), (30.0, 0.0)]
    assert pareto(points) == [True, True, False, True, False]
