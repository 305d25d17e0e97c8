"""Policies side by side (``report.policies``): grouping by policy, the spread over repeats, the
ranking, and the note that a difference within the spread is not a difference."""

from __future__ import annotations

from typing import Any

from mlscale.report.build import ranking_rows
from mlscale.report.policies import compare_policies, run_measures


def stats(policy: str, violated: int, replica_s: float, path: str, *, recovered: int | None = 10,
          failed: int = 0, engine: str = "litert") -> dict[str, Any]:  # fmt: skip
    return {
        "run": {"path": path, "policy": policy, "workload": "spike", "engine": engine},
        "counts": {"ok": 1000, "timeout": failed, "error": 0},
        "latency_ms": {"ok": {"from_intended": {"p50": 100.0, "p95": 900.0, "p99": 2000.0}}},
        "slo": {"seconds_violated": violated},
        "slo_recovery": [
            {"at": 0, "from_rps": 0.0, "to_rps": 5.0, "violated_seconds": 0, "recovered_after_s": 0},
            {
                "at": 15,
                "from_rps": 5.0,
                "to_rps": 45.0,
                "violated_seconds": violated,
                "recovered_after_s": recovered,
            },
        ],
        "autoscaling": {
            "replica_seconds": replica_s,
            "replica_seconds_per_1000_ok": replica_s,
            "replicas_max": 3,
            "scale_events": [
                {"from": 1, "to": 3, "reaction_s": 40.0},
                {"from": 3, "to": 1, "reaction_s": None},
            ],
        },
    }


def test_run_measures_take_the_largest_increase_and_the_first_scale_up() -> None:
    measured = run_measures(stats("cpu", 50, 400, "r"))
    assert measured["recovery_s"] == 10  # the 5 -> 45 step, not the start
    assert measured["reaction_s"] == 40.0
    assert measured["failed"] == 0
    unrecovered = run_measures(stats("cpu", 50, 400, "r", recovered=None))
    assert unrecovered["recovery_s"] == 50.0  # broken to the end of the level: the level counts


def test_policies_are_grouped_ranked_and_their_spread_kept() -> None:
    runs = [
        stats("cpu", 60, 300, "c1"), stats("cpu", 70, 310, "c2"), stats("cpu", 65, 290, "c3"),
        stats("queue", 20, 420, "q1"), stats("queue", 30, 400, "q2"), stats("queue", 25, 410, "q3"),
        stats("oracle", 22, 350, "o1"), stats("oracle", 24, 340, "o2"),
        stats("oracle", 28, 360, "o3", failed=4),
    ]  # fmt: skip
    result = compare_policies(runs)
    assert set(result["policies"]) == {"cpu", "queue", "oracle"}
    queue = result["policies"]["queue"]["measures"]["slo_violation_seconds"]
    assert (queue["median"], queue["min"], queue["max"]) == (25.0, 20.0, 30.0)
    assert [e["policy"] for e in result["ranking"]] == ["oracle", "queue", "cpu"]
    oracle, second, third = result["ranking"]
    assert oracle["yardstick"] is True
    assert second["within_spread_of_above"] is True  # 20-30 overlaps 22-28
    assert third["within_spread_of_above"] is False  # 60-70 does not overlap 20-30
    assert any("queue and oracle" in note and "within the spread" in note for note in result["notes"])
    assert result["policies"]["oracle"]["failures_by_kind"] == {"timeout": 4}
    rows = ranking_rows(result)
    assert rows[1][0] == "2 ≈"
    assert rows[1][3] == "25 (20–30)"


def test_runs_of_two_engines_under_one_policy_are_two_configurations() -> None:
    """keras against litert under the CPU HPA (README's engine comparison): not three repeats of
    one policy, but two configurations, each with its own spread."""
    runs = [stats("cpu", 12, 530, "k1", engine="keras"), stats("cpu", 9, 520, "k2", engine="keras"),
            stats("cpu", 0, 452, "l1")]  # fmt: skip
    result = compare_policies(runs)
    assert set(result["policies"]) == {"cpu · keras", "cpu · litert"}
    assert result["policies"]["cpu · keras"]["runs"] == ["k1", "k2"]
    assert [entry["policy"] for entry in result["ranking"]] == ["cpu · litert", "cpu · keras"]
    one_engine = compare_policies([stats("cpu", 12, 530, "a"), stats("queue", 3, 600, "b")])
    assert set(one_engine["policies"]) == {"cpu", "queue"}  # the engine is named only when it differs


def test_one_run_per_policy_says_no_spread_is_known() -> None:
    result = compare_policies([stats("cpu", 60, 300, "c1"), stats("kpa", 10, 500, "k1")])
    assert any("no spread is known" in note for note in result["notes"])
    assert result["ranking"][1]["within_spread_of_above"] is True  # unknown spread: not a difference


def test_the_ranking_fits_80_columns_without_cutting_a_number(monkeypatch: Any) -> None:
    import io

    from rich.console import Console

    from mlscale import cli_report
    from mlscale.report.build import RANKING_HEADER

    out = io.StringIO()
    monkeypatch.setattr(cli_report, "console", Console(file=out, width=80))
    runs = [stats(p, v, r, f"{p}{i}") for i, (p, v, r) in enumerate(
        [("cpu", 62, 337.0), ("cpu", 0, 332.0), ("cpu", 115, 367.0), ("queue", 21, 536.0),
         ("queue", 23, 580.0), ("queue", 10, 494.0), ("oracle", 0, 423.0), ("oracle", 0, 562.0),
         ("oracle", 0, 422.0)])]  # fmt: skip
    cli_report._print_ranking(RANKING_HEADER, ranking_rows(compare_policies(runs)))
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "332–367" in text  # cpu's replica-seconds range, whole


def test_replica_seconds_are_multiples_of_the_oracles_and_a_policy_that_beats_it_is_named() -> None:
    runs = [stats("oracle", 0, 200, "o1"), stats("cpu", 40, 300, "c1"), stats("kpa", 0, 180, "k1")]
    result = compare_policies(runs)
    assert result["policies"]["cpu"]["replica_seconds_x_oracle"] == 1.5
    assert result["policies"]["oracle"]["replica_seconds_x_oracle"] == 1.0
    assert "replica-seconds against the oracle's (median): cpu 1.50x, kpa 0.90x" in result["notes"]
    beaten = [n for n in result["notes"] if n.startswith("kpa used 0.90x the oracle's")]
    assert beaten, result["notes"]
    assert not any(n.startswith("cpu used") for n in result["notes"])  # cheaper, but broke the SLO


def test_runs_without_an_oracle_have_no_multiples() -> None:
    result = compare_policies([stats("cpu", 40, 300, "c1"), stats("queue", 10, 350, "q1")])
    assert "replica_seconds_x_oracle" not in result["policies"]["cpu"]
    assert not any("oracle" in note for note in result["notes"])
