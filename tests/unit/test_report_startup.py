"""Replica start-up from a run's per-second samples: decision → process start → ready."""

from __future__ import annotations

import pandas as pd

from mlscale.report.startup import replica_startups

START = 1000.0


def samples(*rows: tuple[int, str, float | None, float | None, float | None]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["second", "replica", "created_at", "started_at", "ready_at"])


def test_each_replica_from_decision_to_process_to_ready_and_the_medians_of_the_run() -> None:
    replicas = samples(
        (0, "r1", 990.0, 990.5, 1000.2),  # up's first replica: before the run
        (30, "r2", 1030.0, None, None),  # Pending: waits for a start slot
        (35, "r2", 1030.0, 1035.0, None),
        (37, "r2", 1030.0, 1035.0, 1036.5),
        (90, "r2", 1030.0, 1100.0, None),  # restarted later: its first start counts
        (60, "r3", 1060.0, 1060.1, None),
        (61, "r3", 1060.0, 1060.1, 1061.0),
        (70, "r4", 1070.0, None, None),  # removed before it ever started
    )
    got = replica_startups(replicas, START, "litert")
    assert got is not None
    by_name = {r["replica"]: r for r in got["replicas"]}
    assert by_name["r1"] == {"replica": "r1", "asked_at_s": -10.0, "during_run": False,
                             "wait_s": 0.5, "start_s": 9.7, "total_s": 10.2}  # fmt: skip
    assert (by_name["r2"]["wait_s"], by_name["r2"]["start_s"], by_name["r2"]["total_s"]) == (5.0, 1.5, 6.5)
    assert (by_name["r3"]["wait_s"], by_name["r3"]["start_s"], by_name["r3"]["total_s"]) == (0.1, 0.9, 1.0)
    assert (by_name["r4"]["wait_s"], by_name["r4"]["start_s"], by_name["r4"]["total_s"]) == (None, None, None)
    # Medians over the replicas asked for during the run (r2, r3, r4); r4 has no times.
    assert got["median_during_run"] == {"wait_s": 2.55, "start_s": 1.2, "total_s": 3.75}
    assert (got["engine"], got["started_during_run"]) == ("litert", 3)


def test_a_run_without_start_up_times_has_none() -> None:
    assert replica_startups(pd.DataFrame(columns=["second", "replica"]), START, None) is None
    old = pd.DataFrame({"second": [0], "replica": ["r1"], "cpu_utilization": [50.0]})
    assert replica_startups(old, START, "keras") is None
