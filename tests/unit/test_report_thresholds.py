"""--fail-on: parsing with clear errors, units, and verdicts over stats.json."""

from __future__ import annotations

from typing import Any

import pytest

from mlscale.errors import ThresholdError
from mlscale.report.thresholds import evaluate, parse


def sample_stats(p95: float | None = 700.0, success: float | None = 0.999, lost: int = 0) -> dict[str, Any]:
    return {
        "latency_ms": {"ok": {"from_intended": {"p50": 100.0, "p95": p95, "p99": 900.0, "max": 1200.0}}},
        "success_rate": success,
        "failures": 3,
        "counts": {"ok": 997, "lost": lost, "timeout": 3},
        "throughput": {"achieved_rps": 19.5},
        "slo": {"seconds_violated": 4},
        "autoscaling": {"replica_seconds": 420.0},
    }


def test_units_are_converted_to_the_metrics_base_unit() -> None:
    parsed = parse("p95<800ms, p99<=1.5s,success>=99.5%,lost==0,throughput>=18/s,slo_violation<10s,p50<200")
    assert [(t.metric, t.op, t.value) for t in parsed] == [
        ("p95", "<", 800.0),
        ("p99", "<=", 1500.0),
        ("success", ">=", 0.995),
        ("lost", "==", 0.0),
        ("throughput", ">=", 18.0),
        ("slo_violation", "<", 10.0),
        ("p50", "<", 200.0),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("p95<<3", r"expected METRIC OP VALUE\[UNIT\]"),
        ("p95 800ms", r"expected METRIC OP VALUE\[UNIT\]"),
        ("latency<3", "unknown metric 'latency'"),
        ("p95<800kg", "p95 takes ms or s"),
        ("success>=99.5", "a percentage such as 99.5%"),
        ("success>=101%", "above 100"),
        ("lost==0ms", "lost takes a plain number"),
        ("p95<800ms,", "empty threshold"),
        ("", "empty threshold"),
    ],
)
def test_malformed_expressions_name_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ThresholdError, match=message) as caught:
        parse(spec)
    assert caught.value.exit_code == 2


def test_verdicts_pass_and_fail_and_show_the_written_unit() -> None:
    verdicts = evaluate(parse("p95<800ms,success>=99.95%,lost==0,replica_seconds<=400"), sample_stats())
    assert [v.passed for v in verdicts] == [True, False, True, False]
    assert verdicts[0].describe() == "pass p95<800ms (actual 700 ms)"
    assert verdicts[1].describe() == "FAIL success>=99.95% (actual 99.9 %)"


def test_a_threshold_without_data_fails() -> None:
    (verdict,) = evaluate(parse("p95<800ms"), sample_stats(p95=None))
    assert not verdict.passed
    assert "no data" in verdict.describe()
