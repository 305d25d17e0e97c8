"""The live view, driven by a recorded real run at the two sizes a person uses: 80×24 (a captured
log, a small terminal) and 120×40. Nothing may be cut ("…"), nothing may run past the terminal,
and every ready replica is listed with its CPU."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rich.console import Console

from mlscale.live.plain import line
from mlscale.live.view import LiveView, bar, common_prefix, sparkline
from mlscale.loadgen.progress import LiveSnapshot, ReplicaLine, Tally, snapshot
from mlscale.loadgen.sender import SentRequest
from tests.live_replay import LATE_MS, Recorded, load


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    return load()


def drawn(view: LiveView, width: int, height: int) -> list[str]:
    """The lines Rich's Live draws of ``view`` in a ``width``×``height`` terminal."""
    console = Console(
        width=width, height=height, color_system=None, force_terminal=True, legacy_windows=False
    )
    return ["".join(s.text for s in row) for row in console.render_lines(view, console.options, pad=False)]


def assert_fits(lines: list[str], width: int, height: int) -> None:
    assert len(lines) <= height - 1, f"{len(lines)} lines in a {height}-line terminal"
    for text in lines:
        assert len(text) <= width, text
        assert "…" not in text, text
        assert "..." not in text, text


def replica_rows(lines: list[str], name: str) -> list[str]:
    return [text for text in lines if re.search(rf"(^|\s){re.escape(name)}\s", text)]


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 40)])
def test_a_recorded_run_fits_and_lists_every_ready_replica_with_its_cpu(
    recorded: Recorded, width: int, height: int
) -> None:
    seen_states, most_ready = set(), 0
    for second in range(0, recorded.seconds, 3):
        now = recorded.at(second)
        lines = drawn(LiveView(now), width, height)
        assert_fits(lines, width, height)
        text = "\n".join(lines)
        for header in (
            "intended",
            "accepted",
            "ok/s",
            "failed/s",
            "p50",
            "p95",
            "p99",
            "queue",
            "autoscaler",
        ):
            assert header in text
        ready = [r for r in now.replicas if r.state == "ready"]
        for replica in now.replicas:
            rows = replica_rows(lines, replica.id)
            assert len(rows) == 1, (second, replica.id, text)
            cpu = "–" if replica.cpu_utilization is None else f"{replica.cpu_utilization:.0f} %"
            assert replica.state in rows[0], (second, rows[0])
            assert cpu in rows[0], (second, rows[0])
            if replica.state == "ready" and replica.cpu_utilization is None:  # and the view says why
                assert "CPU –: no metric window yet" in text
        seen_states |= {r.state for r in now.replicas}
        most_ready = max(most_ready, len(ready))
    # The recorded run went 1 -> 3 -> 1: the replay must have drawn both and a replica starting.
    assert most_ready == 3
    assert "starting" in seen_states


def test_the_larger_terminal_gets_the_last_minute_and_more_decisions(recorded: Recorded) -> None:
    now = recorded.at(120)
    small, large = drawn(LiveView(now), 80, 24), drawn(LiveView(now), 120, 40)
    assert any("restarts" in text for text in large)
    assert not any("restarts" in text for text in small)
    assert sum("s ago:" in text for text in large) > sum("s ago:" in text for text in small) >= 1
    assert any("last 60 s" in text for text in large)


def test_early_in_a_run_the_history_says_the_seconds_it_has(recorded: Recorded) -> None:
    """Twelve seconds in, the minute panel once said "last 51 s"."""
    text = "\n".join(drawn(LiveView(recorded.at(12)), 120, 40))
    assert "last 12 s" in text or "last 13 s" in text, text
    assert "last 5" not in text


def many_replicas(count: int, prefix: str = "replica-") -> LiveSnapshot:
    base = snapshot(1010.0, 1000.0, [float(i) for i in range(20)], [], [], {}, 500.0,
                    {"policy": "cpu", "target_cpu_utilization": 70})  # fmt: skip
    base.replicas = [
        ReplicaLine(f"{prefix}{n}", "ready" if n < count - 1 else "starting", 10.0 * n, 5 * n)
        for n in range(count)
    ]
    return base


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 40)])
def test_twelve_replicas_are_all_listed(width: int, height: int) -> None:
    now = many_replicas(12)
    lines = drawn(LiveView(now), width, height)
    assert_fits(lines, width, height)
    for replica in now.replicas:
        rows = replica_rows(lines, replica.id)
        assert len(rows) == 1, replica.id
        assert f"{replica.cpu_utilization:.0f} %" in rows[0], replica.id


def test_pod_names_are_shown_after_their_common_prefix() -> None:
    prefix = "mlscale-inference-7d9f8b6c5d-"
    now = many_replicas(3, prefix=prefix)
    lines = drawn(LiveView(now), 80, 24)
    assert_fits(lines, 80, 24)
    assert any(f"ids after {prefix}" in text for text in lines)
    assert replica_rows(lines, "0")
    assert not replica_rows(lines, f"{prefix}0")
    assert common_prefix([f"{prefix}a1", f"{prefix}b2"]) == prefix
    assert common_prefix(["replica-1", "replica-2"]) == ""  # short ids stay whole


def test_bar_fills_the_share_of_200_percent_and_marks_the_target() -> None:
    assert bar(100.0, 70.0, 20).plain == "███████┃██··········"  # 100 % of 200: 10 cells; 70 %: cell 7
    assert bar(None, 70.0, 10).plain == "····┃·····"
    assert bar(25.0, None, 8).plain == "█·······"
    assert bar(1.0, None, 8).plain == "········"  # under an eighth of a cell: nothing, not a gap
    assert bar(37.5, None, 8).plain == "█▌······"
    assert bar(500.0, 70.0, 4).plain == "█┃██"  # beyond the scale: full, never wider


def test_sparkline_scales_to_its_largest_and_leaves_unsampled_seconds_blank() -> None:
    assert sparkline([0, 4, 8, None]) == "▁▄█ "
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([1, 2], floor=8) == "▁▂"  # scaled to the floor when it is larger


def test_snapshot_counts_what_the_view_shows() -> None:
    start = 1000.0
    sent = [
        SentRequest("a", "x", start + 0.1, start + 0.1, 202),
        SentRequest("b", "x", start + 0.5, start + 0.5, 429),
        SentRequest("c", "x", start + 1.2, start + 1.2, 202),
    ]  # fmt: skip
    outcomes = [
        {"finished_at": start + 0.3, "outcome": "ok", "replica": "r1", "sent_at": start + 0.1},
        {"finished_at": start + 1.5, "outcome": "timeout", "replica": None, "sent_at": start + 1.2},
    ]
    decision = {"at": start + 1.0, "current": 1, "desired": 2, "reason": "All metrics below target"}
    samples = {
        0: {"queue_depth": 3, "replica_samples": [
            {"replica": "r1", "state": "ready", "cpu_utilization": 80.0},
        ]},
        1: {"queue_depth": 1, "last_decision": decision, "replica_samples": [
            {"replica": "r1", "state": "ready", "cpu_utilization": 90.0},
            {"replica": "r2", "state": "starting"}, {"replica": "r3", "state": "terminating"},
        ]},
    }  # fmt: skip
    now = snapshot(start + 2.1, start, [0.1, 0.5, 1.2, 1.7], sent, outcomes, samples, 500.0)
    assert now.last_second == {
        "intended": 2,
        "sent": 1,
        "accepted": 1,
        "refused": 0,
        "completed": 0,
        "failed": 1,
    }
    assert (now.ok_total, now.failed_total) == (1, 2)  # the timeout and the 429
    assert now.history["queue_depth"][-2:] == [3, 1]
    assert now.history["intended"][-2:] == [2, 2]
    assert [(r.id, r.state, r.served) for r in now.replicas] == [
        ("r1", "ready", 1),
        ("r2", "starting", 0),
        ("r3", "terminating", 0),
    ]
    assert now.decisions == [decision]


def test_a_tally_kept_second_by_second_counts_what_one_from_scratch_does(recorded: Recorded) -> None:
    """The load test keeps one Tally for the run and hands it what is new each second."""
    tally = Tally(recorded.start_at, LATE_MS)
    sent: list[SentRequest] = []
    outcomes: list[dict[str, Any]] = []
    for second in range(recorded.seconds):
        new_sent, new_outcomes = recorded.so_far(second)
        sent.extend(new_sent[len(sent) :])  # the same lists, grown
        outcomes.extend(new_outcomes[len(outcomes) :])
        kept = tally.snapshot(recorded.now(second), recorded.planned, sent, outcomes, recorded.samples,
                              recorded.meta["system"])  # fmt: skip
        assert kept == recorded.at(second), second


def test_the_plain_line_is_one_line_with_every_replica() -> None:
    now = many_replicas(3)
    text = line(now)
    assert "\n" not in text
    for replica in now.replicas:
        assert f"{replica.id} {replica.state} {replica.cpu_utilization:.0f} %" in text
