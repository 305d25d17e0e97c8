"""What a person reads after a run: every figure without two texts on top of each other, and
every terminal table whole at 80 columns (no "…" in a number or a reason, nothing past the edge).

The figures are those of a real recorded run (tests/data/recorded), of the made-up run with
failures, of their comparison, and of ``mlscale simulate`` (its run, its fluid model, a sweep).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import matplotlib.style
import pytest
from matplotlib.figure import Figure
from rich.console import Console
from typer.testing import CliRunner

from mlscale.backends.base import ProcessHealth, ReplicaStatus, SystemStatus
from mlscale.cli import _timeline_table, app
from mlscale.cli_system import status_table
from mlscale.report import plots
from mlscale.report.load import load_run
from tests.figure_text import overlaps, saved_figures
from tests.live_replay import RECORDED
from tests.sample_runs import write_sample_run

CALIBRATION = Path(__file__).parents[2] / "bench" / "data" / "calibration-litert-demo.json"
NARROW = {"COLUMNS": "80", "TERMINAL_WIDTH": "80"}
runner = CliRunner()


@dataclass
class Drawn:
    figures: list[tuple[str, Figure]]
    printed: dict[str, str]
    """What each command printed at 80 columns."""


def invoke(*arguments: str) -> str:
    result = runner.invoke(app, list(arguments), env=NARROW)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Drawn:
    root = tmp_path_factory.mktemp("legibility")
    real = root / "real"
    shutil.copytree(RECORDED, real)
    failing = write_sample_run(root / "failing")
    workload = root / "w.txt"
    workload.write_text("# unit: replicas\n" + "0.3\n" * 20 + "3\n" * 40)
    simulate = ("simulate", str(workload), "--calibrate", str(CALIBRATION), "--runs-dir", str(root / "sim"))
    with saved_figures(plots) as figures:
        printed = {
            "report": invoke("report", str(real)),
            "failing": invoke("report", str(failing)),
            "compare": invoke("report", "--compare", str(real), str(failing), "--out", str(root / "cmp")),
            "simulate": invoke(*simulate),
        }
        invoke(*simulate, "--model", "fluid")
        invoke(*simulate, "--sweep", "autoscaling.behavior.scaleUp.stabilizationWindowSeconds=0,30")
    return Drawn(figures, printed)


def test_the_check_finds_texts_on_top_of_each_other() -> None:
    """breakdown.png's fault, made again: a long left title running into the right one's. In
    matplotlib's default style: the report's theme, left by other tests, would move the texts."""
    long_title = "share of the mean latency: queue 8 %, inference 80 %, other 12 %"
    with matplotlib.style.context("default"):
        figure = Figure(figsize=(6, 2), layout="constrained")
        left, right = figure.subplots(1, 2)
        left.set_title(long_title, loc="left")
        right.set_title("Median per second of completion", loc="left")
        assert (long_title, "Median per second of completion") in overlaps(figure)
        left.set_title("Distribution", loc="left")
        assert overlaps(figure) == []


def test_every_figure_is_drawn_without_overlapping_text(drawn: Drawn) -> None:
    names = [Path(path).name for path, _ in drawn.figures]
    # Each kind of figure was drawn, so this cannot pass on none.
    for expected in ("timeline.png", "latency.png", "outcomes.png", "breakdown.png", "compare_timeline.png",
                     "compare_policies.png", "pareto.png"):  # fmt: skip
        assert expected in names, names
    assert names.count("timeline.png") >= 4  # real, failing, the simulated run, the fluid model
    for path, figure in drawn.figures:
        assert overlaps(figure) == [], path


def assert_whole(text: str) -> None:
    for line in text.splitlines():
        assert len(line) <= 80, line
        assert "…" not in line, line


@pytest.mark.parametrize("command", ["report", "failing", "compare", "simulate"])
def test_terminal_tables_are_whole_at_80_columns(drawn: Drawn, command: str) -> None:
    assert_whole(drawn.printed[command])


def test_report_tables_say_what_happened(drawn: Drawn) -> None:
    report = drawn.printed["report"]
    assert "scale events" in report
    assert "1 → 3" in report
    assert "3 → 1" in report
    assert "react:" in report  # the legend of the short headers
    compare = drawn.printed["compare"]
    assert "#1" in compare
    assert "#2" in compare  # each run a column, named under the table


def printed(renderable: object) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_status_is_whole_at_80_columns_with_pod_names() -> None:
    pods = [f"mlscale-inference-7d9f8b6c5d-{suffix}" for suffix in ("x2k4p", "q9w8e")]
    status = SystemStatus(
        backend="kubernetes", dispatcher_url="http://127.0.0.1:30080", desired_replicas=2, min_replicas=1,
        max_replicas=5, target_cpu_utilization=70,
        replicas=[
            ReplicaStatus(pods[0], "http://10.244.0.17:8000", True, cpu_milli=512.3, cpu_utilization=102.5),
            ReplicaStatus(pods[1], "http://10.244.0.18:8000", False, terminating=True, restarts=2),
        ],
        dispatcher=ProcessHealth(pid=1234, alive=True, ready=True),
        last_decision={"reason": "cpu resource utilization (percentage of request) above target"},
    )  # fmt: skip
    text = printed(status_table(status))
    assert_whole(text)
    assert "terminating" in text
    assert "102" in text


def test_the_demos_timeline_is_whole_at_80_columns() -> None:
    text = printed(_timeline_table(load_run(RECORDED).timeline))
    assert_whole(text)
    assert "desired" in text


def test_a_scale_event_reason_wraps_between_words_and_no_time_is_minus_zero() -> None:
    """The scale-event table once broke "ScaleUpStabilized" into "ScaleUpStabi" / "lized" and printed
    "-0.0 s" for a scale-down's ready time."""
    from mlscale.cli_report import SCALE_EVENT_HEADER, SCALE_EVENT_LEGEND
    from mlscale.cli_tables import terminal_table
    from mlscale.report.html import scale_event_rows

    event = {"at_s": 105.96, "from": 3, "to": 1, "utilization": 33.0, "load_change_at_s": 105.0,
             "decision_after_load_s": 0.96, "ready_after_decision_s": -0.004, "reaction_s": 0.956,
             "reason": "ScaleDownStabilized: cpu resource utilization below target, "
                       "ScaleUpStabilized"}  # fmt: skip
    rows = scale_event_rows({"autoscaling": {"scale_events": [event]}}, compact=True)
    text = printed(terminal_table("scale events", SCALE_EVENT_HEADER, rows, text=["reason"],
                                  whole_words=["reason"], legend=SCALE_EVENT_LEGEND))  # fmt: skip
    assert "ScaleUpStabilized" in text
    assert "-0.0" not in text
    assert "0.0" in text
    assert_whole(text)
