"""The report's per-replica view: who served what, and the shares in the steadiest phase."""

from __future__ import annotations

import pandas as pd
import pytest

from mlscale.report.balance import per_replica, steady_share
from mlscale.results import REPLICA_COLUMNS, frame

START = 1000.0


def requests_by(replica_at: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "outcome": ["ok"] * len(replica_at),
            "replica": [r for r, _ in replica_at],
            "completed_at": [START + t for _, t in replica_at],
        }
    )


def samples(ready: dict[str, range], restarts: dict[str, int] | None = None) -> pd.DataFrame:
    rows = [
        {
            "second": s,
            "replica": name,
            "ready": True,
            "cpu_utilization": 60.0,
            "restarts": (restarts or {}).get(name, 0),
        }
        for name, seconds in ready.items()
        for s in seconds
    ]
    return frame(rows, REPLICA_COLUMNS)


def test_the_steadiest_phase_is_the_longest_with_one_set_of_two_or_more_ready_replicas() -> None:
    replicas = samples({"replica-1": range(0, 40), "replica-2": range(10, 40), "replica-3": range(30, 40)})
    served = [("replica-1", t + 0.5) for t in range(0, 40)] + [("replica-2", t + 0.5) for t in range(10, 30)]
    balance = steady_share(requests_by(served), replicas, START)
    assert balance is not None
    assert (balance["from_s"], balance["to_s"], balance["replicas"]) == (10, 30, 2)
    assert balance["shares"] == {"replica-1": 0.5, "replica-2": 0.5}
    assert balance["max_deviation"] == 0


def test_a_replica_left_idle_shows_as_a_large_deviation() -> None:
    """Issue 13's defect: the second of two replicas served 0.4 % of the requests."""
    replicas = samples({"replica-1": range(0, 20), "replica-2": range(0, 20)})
    served = [("replica-1", t / 10) for t in range(199)] + [("replica-2", 5.0)]
    balance = steady_share(requests_by(served), replicas, START)
    assert balance is not None
    assert balance["shares"]["replica-2"] == pytest.approx(0.005)
    assert balance["max_deviation"] == pytest.approx(0.99)


def test_no_steady_phase_without_two_replicas_ready_together() -> None:
    assert (
        steady_share(requests_by([("replica-1", 1.0)]), samples({"replica-1": range(0, 30)}), START) is None
    )
    assert steady_share(requests_by([("replica-1", 1.0)]), frame([], REPLICA_COLUMNS), START) is None


def test_per_replica_counts_shares_ready_seconds_cpu_and_restarts() -> None:
    replicas = samples({"replica-1": range(0, 10), "replica-2": range(5, 10)}, restarts={"replica-2": 1})
    served = [("replica-1", 1.0)] * 3 + [("replica-2", 6.0)]
    rows = {r["replica"]: r for r in per_replica(requests_by(served), replicas)}
    assert rows["replica-1"] == {"replica": "replica-1", "ok": 3, "share": 0.75, "ready_s": 10,
                                 "cpu_utilization_mean": 60.0, "restarts": 0}  # fmt: skip
    assert rows["replica-2"]["restarts"] == 1
    assert rows["replica-2"]["ready_s"] == 5
