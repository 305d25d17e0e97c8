"""The report's statistics on small hand-made runs whose answers are known."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest

from mlscale.report import stats
from mlscale.report.stats import LoadChange
from mlscale.results import REPLICA_COLUMNS, REQUEST_COLUMNS, TIMELINE_COLUMNS, frame

START = 1_000_000.0


def request(
    n: int, outcome: str = "ok", intended: float = 0.0, latency: float | None = 100.0, **extra: Any
) -> dict[str, Any]:
    """One request row; ``intended`` is seconds after START, latency ms from the intended time."""
    sent_lag_ms = extra.pop("lag_ms", 2.0)
    row: dict[str, Any] = {
        "id": f"r{n}",
        "outcome": outcome,
        "intended_at": START + intended,
        "sent_at": START + intended + sent_lag_ms / 1000,
        "send_lag_ms": sent_lag_ms,
        "enqueue_status": 202,
    }
    if latency is not None:
        row["latency_ms"] = latency
        row["latency_sent_ms"] = latency - sent_lag_ms
        row["completed_at"] = START + intended + latency / 1000
    row.update(extra)
    return row


def requests_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return frame(rows, REQUEST_COLUMNS)


def timeline_frame(replicas: Sequence[int | None], intended: list[int] | None = None) -> pd.DataFrame:
    counts = {c: 0 for c, kind in TIMELINE_COLUMNS.items() if kind == "int64"}
    rows = [{**counts, "second": s, "replicas": r} for s, r in enumerate(replicas)]
    for row, n in zip(rows, intended or [], strict=False):
        row["intended"] = n
    return frame(rows, TIMELINE_COLUMNS)


# --- percentiles ------------------------------------------------------------------------------


def test_nearest_rank_percentiles_of_1_to_100() -> None:
    result = stats.distribution(pd.Series([float(v) for v in range(100, 0, -1)]))
    assert result == {
        "count": 100, "mean": 50.5, "min": 1.0,
        "p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 100.0, "max": 100.0,
    }  # fmt: skip


def test_nearest_rank_on_few_values_takes_the_value_at_or_above_the_rank() -> None:
    assert stats.nearest_rank([10.0, 20.0, 30.0], 50) == 20.0  # ceil(1.5) = 2nd
    assert stats.nearest_rank([10.0, 20.0, 30.0], 34) == 20.0  # ceil(1.02) = 2nd
    assert stats.nearest_rank([10.0, 20.0, 30.0], 33) == 10.0  # ceil(0.99) = 1st
    assert stats.nearest_rank([7.0], 99.9) == 7.0


def test_an_empty_distribution_is_all_none() -> None:
    result = stats.distribution(pd.Series([], dtype=float))
    assert result["count"] == 0
    assert result["p50"] is None
    assert result["max"] is None


# --- outcomes ---------------------------------------------------------------------------------


def test_counts_by_outcome_with_unrecorded_expected_requests_counted_lost() -> None:
    rows = [request(i) for i in range(100)]
    rows += [request(100, "timeout", latency=30_000.0, error="timeout")]
    rows += [request(101, "error", error="http_500"), request(102, "error", error="http_500")]
    rows += [request(103, "rejected", latency=3.0, enqueue_status=429, status=429)]
    rows += [request(104, "lost", latency=None, error="no outcome reported")]
    result = stats.outcome_counts(requests_frame(rows), expected_total=110)
    assert result["recorded"] == 105
    assert result["missing"] == 5
    assert result["total"] == 110
    assert result["counts"] == {
        "ok": 100, "error": 2, "timeout": 1, "dropped": 0, "rejected": 1, "enqueue_error": 0, "lost": 6,
    }  # fmt: skip
    assert result["failures"] == 10
    assert result["failures_by_kind"] == {
        "lost: never recorded": 5,
        "error: http_500": 2,
        "lost: no outcome reported": 1,
        "rejected": 1,
        "timeout: timeout": 1,
    }
    assert math.isclose(result["success_rate"], 100 / 110)


def test_expected_fewer_than_recorded_adds_nothing() -> None:
    result = stats.outcome_counts(requests_frame([request(0), request(1)]), expected_total=1)
    assert result["missing"] == 0
    assert result["total"] == 2
    assert result["success_rate"] == 1.0


def test_no_requests_has_no_success_rate() -> None:
    result = stats.outcome_counts(requests_frame([]))
    assert result["total"] == 0
    assert result["success_rate"] is None


def test_latency_is_split_by_success_and_by_reference_time() -> None:
    rows = [request(i, latency=float(100 + i), lag_ms=10.0) for i in range(10)]
    rows += [request(10, "timeout", latency=5000.0), request(11, "lost", latency=None)]
    result = stats.latency(requests_frame(rows))
    assert result["ok"]["from_intended"]["max"] == 109.0  # the timeout is not an ok latency
    assert result["ok"]["from_sent"]["max"] == 99.0  # 10 ms of send lag less
    assert result["failed"]["from_intended"]["count"] == 1  # the lost request has no latency
    assert result["failed"]["from_intended"]["p50"] == 5000.0


def test_throughput_of_ten_requests_per_second() -> None:
    rows = [request(i, intended=i / 10, latency=50.0) for i in range(10)]
    result = stats.throughput(requests_frame(rows))
    assert result["offered_rps"] == pytest.approx(10.0)  # 10 requests, spaced 0.1 s
    assert result["duration_s"] is not None
    assert result["duration_s"] == pytest.approx(0.95)  # the last completes at 0.9 + 0.05
    assert result["achieved_rps"] == pytest.approx(10 / 0.95)


def test_breakdown_into_queue_inference_and_the_rest() -> None:
    rows = [request(i, latency=100.0, queue_ms=30.0, infer_ms=60.0) for i in range(4)]
    result = stats.breakdown(requests_frame(rows))
    assert result["queue"]["p50"] == 30.0
    assert result["inference"]["p50"] == 60.0
    assert result["other"]["p50"] == pytest.approx(10.0)
    assert result["share_of_mean"] == pytest.approx({"queue": 0.3, "inference": 0.6, "other": 0.1})


# --- load changes, the SLO, recovery ------------------------------------------------------------


def test_a_ramp_is_one_load_change_and_the_end_is_a_decrease() -> None:
    meta = {"workload": {"rates": [5, 5, 10, 15, 20, 20, 5, 5]}, "options": {"step_seconds": 1, "scale": 1}}
    steps = stats.offered_steps(meta, timeline_frame([]))
    assert steps[-1] == (8, 0.0)
    assert stats.load_changes(steps) == [
        LoadChange(0, 0.0, 5.0),
        LoadChange(2, 5.0, 20.0),  # 5 -> 10 -> 15 -> 20 is one increase
        LoadChange(6, 20.0, 5.0),
        LoadChange(8, 5.0, 0.0),  # the end of the load
    ]


def test_consecutive_decreases_merge_like_a_ramp() -> None:
    assert stats.load_changes([(0, 20.0), (1, 5.0), (2, 0.0)]) == [LoadChange(0, 0, 20), LoadChange(1, 20, 0)]


def test_steps_follow_step_seconds_and_scale() -> None:
    meta = {"workload": {"rates": [10, 30]}, "options": {"step_seconds": 2.5, "scale": 0.5}}
    assert stats.offered_steps(meta, timeline_frame([])) == [(0, 5.0), (2, 15.0), (5, 0.0)]


def test_a_sped_up_workloads_steps_are_offered_per_second() -> None:
    """A per-second file at --speed 4: steps of 0.25 s, shown as the requests/s of each second."""
    meta = {"workload": {"rates": [8.0] * 4 + [16.0] * 4, "step_seconds": 0.25}, "options": {"scale": 2}}
    assert stats.offered_steps(meta, timeline_frame([])) == [(0, 16.0), (1, 32.0), (2, 0.0)]


def test_changes_under_ten_percent_are_noise_and_a_hold_ends_a_ramp() -> None:
    assert stats.load_changes([(0, 100.0), (1, 105.0), (2, 109.0)]) == [LoadChange(0, 0.0, 100.0)]
    held = stats.load_changes([(0, 10.0), (1, 20.0), (2, 20.0), (3, 30.0)])
    assert held == [LoadChange(0, 0.0, 20.0), LoadChange(3, 20.0, 30.0)]


def test_without_a_workload_the_steps_are_the_timelines_intended_counts() -> None:
    timeline = timeline_frame([None] * 4, intended=[4, 4, 9, 0])
    assert stats.offered_steps({}, timeline) == [(0, 4.0), (1, 4.0), (2, 9.0), (3, 0.0)]


def test_slo_counts_failures_as_slower_than_any_slo() -> None:
    rows = [request(i, intended=0.01 * i, latency=100.0) for i in range(20)]  # second 0: all fast
    rows += [request(100 + i, intended=1 + 0.01 * i, latency=100.0) for i in range(19)]
    rows += [request(200, "timeout", intended=1.5, latency=30_000.0)]  # second 1: 1 of 20 failed
    rows += [request(300 + i, intended=2 + 0.01 * i, latency=100.0) for i in range(18)]
    rows += [request(400 + i, "error", intended=2.5) for i in range(2)]  # second 2: 2 of 20 failed
    rows += [request(500 + i, intended=3 + 0.01 * i, latency=1500.0) for i in range(20)]  # slow
    verdict = stats.slo_seconds(requests_frame(rows), START, slo_ms=1000, percentile=95)
    assert verdict == {0: False, 1: False, 2: True, 3: True}  # p95 of 20 is the 19th value
    summary = stats.slo_summary(verdict, 1000, 95)
    assert summary["seconds_violated"] == 2
    assert summary["violations"] == [[2, 4]]
    assert summary["violated_fraction"] == 0.5


def test_recovery_is_the_time_until_the_slo_holds_for_the_rest_of_the_level() -> None:
    verdict = {s: 10 <= s < 15 or s >= 27 for s in range(30)}
    changes = [LoadChange(0, 0, 5), LoadChange(10, 5, 50), LoadChange(20, 50, 60), LoadChange(25, 60, 80)]
    result = stats.recoveries(changes, verdict)
    assert [(r["at"], r["violated_seconds"], r["recovered_after_s"]) for r in result] == [
        (0, 0, 0),  # never broke
        (10, 5, 5),  # broke at 10-14, held from 15
        (20, 0, 0),
        (25, 3, None),  # still broken when the run ended
    ]


def test_recovery_skips_decreases() -> None:
    verdict = {s: s == 3 for s in range(6)}
    result = stats.recoveries([LoadChange(0, 0, 10), LoadChange(2, 10, 2)], verdict)
    assert [r["at"] for r in result] == [0]
    assert result[0]["violated_seconds"] == 0  # second 3 belongs to the decrease's level


# --- autoscaling ------------------------------------------------------------------------------


def test_replica_seconds_from_samples_bridges_a_missed_second() -> None:
    samples = [
        {"second": 0, "replica": "a", "ready": True, "cpu_utilization": 50.0},
        {"second": 1, "replica": "a", "ready": True, "cpu_utilization": 90.0},
        # second 2: the poll missed it; it counts as second 1 did (one replica)
        *({"second": 3, "replica": r, "ready": r == "a", "cpu_utilization": 10.0} for r in "abc"),
    ]
    assert stats.replica_seconds(timeline_frame([1, 1, None, 1]), frame(samples, REPLICA_COLUMNS)) == 6.0


def test_replica_seconds_count_zero_for_polled_seconds_without_a_replica() -> None:
    samples = [
        {"second": 0, "replica": "a", "ready": True, "cpu_utilization": 50.0},
        # seconds 1-3: scaled to zero (polled, nobody there); second 4: the poll missed it
        {"second": 5, "replica": "b", "ready": False, "cpu_utilization": 0.0},
        {"second": 6, "replica": "b", "ready": True, "cpu_utilization": 40.0},
    ]
    timeline = timeline_frame([1, 0, 0, 0, None, 0, 1])
    assert stats.replica_seconds(timeline, frame(samples, REPLICA_COLUMNS)) == 3.0  # not 7: zero is zero


def test_replica_seconds_without_samples_uses_the_ready_count_and_none_without_a_backend() -> None:
    empty = frame([], REPLICA_COLUMNS)
    assert stats.replica_seconds(timeline_frame([1, 2, None, 2]), empty) == 5.0
    assert stats.replica_seconds(timeline_frame([None, None]), empty) is None


def test_scale_events_with_their_reaction_times() -> None:
    ready = [1] * 20 + [3] * 21 + [1] * 9  # 3 ready from second 20, 1 again from 41
    decisions = [
        {"at": START + 3.0, "current": 1, "desired": 1, "utilization": 40, "reason": "within tolerance"},
        {"at": START + 12.4, "current": 1, "desired": 3, "utilization": 180, "reason": "cpu utilization"},
        {"at": START + 40.2, "current": 3, "desired": 1, "utilization": 5, "reason": "cpu utilization"},
    ]
    changes = [LoadChange(0, 0, 5), LoadChange(10, 5, 40), LoadChange(30, 40, 2)]
    events = stats.scale_events(decisions, timeline_frame(ready), changes, START)
    assert len(events) == 2  # the decision that kept 1 replica is no scale event
    up, down = events
    assert (up["from"], up["to"], up["load_change_at_s"]) == (1, 3, 10)
    assert up["decision_after_load_s"] == pytest.approx(2.4)
    assert up["ready_at_s"] == 20
    assert up["ready_after_decision_s"] == pytest.approx(7.6)
    assert up["reaction_s"] == pytest.approx(10.0)
    assert (down["load_change_at_s"], down["ready_at_s"]) == (30, 41)
    assert down["reaction_s"] == pytest.approx(11.0)


def test_a_scale_up_never_reached_has_no_ready_time() -> None:
    decisions = [{"at": START + 5, "current": 1, "desired": 4, "utilization": 300, "reason": "cpu"}]
    (event,) = stats.scale_events(decisions, timeline_frame([1] * 10), [LoadChange(0, 0, 50)], START)
    assert event["ready_at_s"] is None
    assert event["reaction_s"] is None
    assert event["decision_after_load_s"] == 5.0


def test_run_statistics_is_json_without_nan_and_per_1000_ok() -> None:
    rows = [request(i, intended=i / 4, latency=80.0, queue_ms=5.0, infer_ms=70.0) for i in range(40)]
    samples = [{"second": s, "replica": "a", "ready": True, "cpu_utilization": 50.0} for s in range(10)]
    meta = {"workload": {"rates": [4] * 10}, "options": {"step_seconds": 1, "scale": 1}}
    result = stats.run_statistics(
        requests_frame(rows), timeline_frame([1] * 10), frame(samples, REPLICA_COLUMNS), meta, start_at=START
    )
    json.dumps(result, allow_nan=False)
    assert result["autoscaling"]["replica_seconds"] == 10.0
    assert result["autoscaling"]["replica_seconds_per_1000_ok"] == 250.0  # 10 s for 40 ok
    assert result["slo"]["seconds_violated"] == 0
    assert result["slo_recovery"] == [
        {"at": 0, "from_rps": 0.0, "to_rps": 4.0, "violated_seconds": 0, "recovered_after_s": 0}
    ]


def test_no_load_changes_means_no_recoveries() -> None:
    assert stats.recoveries([], {0: True, 1: False}) == []
