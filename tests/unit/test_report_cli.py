"""``mlscale report`` on hand-made run directories: files, numbers, thresholds, bad input, --compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from mlscale.cli import app
from tests.sample_runs import write_sample_run

runner = CliRunner()
FIGURES = ("timeline.png", "latency.png", "outcomes.png", "breakdown.png")


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_sample_run(tmp_path_factory.mktemp("runs") / "20270101T000000Z-sample")
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    return run


def test_stats_json_holds_the_known_answers(reported: Path) -> None:
    stats = json.loads((reported / "stats.json").read_text())
    assert stats["total"] == 1200
    assert stats["counts"]["ok"] == 1197
    assert (stats["counts"]["timeout"], stats["counts"]["rejected"]) == (2, 1)
    assert stats["slo"]["violations"] == [[30, 40]]  # the slow seconds, and only them
    assert stats["slo_recovery"][1] == {
        "at": 30, "from_rps": 10.0, "to_rps": 30.0, "violated_seconds": 10, "recovered_after_s": 10,
    }  # fmt: skip
    (event,) = stats["autoscaling"]["scale_events"]
    assert (event["load_change_at_s"], event["ready_at_s"], event["reaction_s"]) == (30, 40, 10.0)
    assert event["decision_after_load_s"] == pytest.approx(3.2)
    assert stats["autoscaling"]["replica_seconds"] == 60 + 2 * 27
    assert stats["run"]["time_scale"] == 0.2
    assert stats["run"]["partial"] is False


def test_every_figure_is_a_real_png_of_a_readable_size(reported: Path) -> None:
    for name in FIGURES:
        with Image.open(reported / name) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert width >= 1000, (name, image.size)
            assert height >= 400, (name, image.size)
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
            assert len(colours) > 50, name  # drawn on, not blank


def test_the_html_page_inlines_every_figure(reported: Path) -> None:
    page = (reported / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "http://" not in page
    assert "https://" not in page
    assert "Scale events" in page
    assert "1 → 3" in page


def test_thresholds_fail_with_exit_1_and_say_which(reported: Path) -> None:
    failing = runner.invoke(app, ["report", str(reported), "--fail-on", "p95<800ms,success>=99%"])
    assert failing.exit_code == 1
    assert "FAIL p95<800ms (actual 1500 ms)" in failing.output
    assert "pass success>=99%" in failing.output
    passing = runner.invoke(app, ["report", str(reported), "--fail-on", "p99<=1.5s,lost==0"])
    assert passing.exit_code == 0, passing.output


def test_a_malformed_threshold_is_exit_2(reported: Path) -> None:
    result = runner.invoke(app, ["report", str(reported), "--fail-on", "p95<=fast"])
    assert result.exit_code == 2
    assert "expected METRIC OP VALUE" in result.output


def test_total_requests_counts_the_unrecorded_as_lost(reported: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(reported), "--total-requests", "1250"])
    assert result.exit_code == 0, result.output
    stats = json.loads((reported / "stats.json").read_text())
    assert stats["counts"]["lost"] == 50
    assert stats["success_rate"] == pytest.approx(1197 / 1250)


def test_the_latest_run_is_the_default(tmp_path: Path) -> None:
    write_sample_run(tmp_path / "runs" / "old")
    newest = write_sample_run(tmp_path / "runs" / "new", slow=False)
    result = runner.invoke(app, ["report", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert (newest / "stats.json").exists()
    assert not (tmp_path / "runs" / "old" / "stats.json").exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root / "nowhere", "no run directory at"),
        (lambda root: (root / "empty").mkdir() or root / "empty", "holds no run files"),
    ],
)
def test_a_missing_or_empty_run_directory_is_a_clear_exit_2(
    tmp_path: Path, setup: object, message: str
) -> None:
    target = setup(tmp_path)  # type: ignore[operator]
    result = runner.invoke(app, ["report", str(target)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_no_runs_at_all_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no runs in" in result.output


def test_an_interrupted_run_reports_what_it_has_and_says_it_is_partial(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "interrupted", partial=True)
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "partial run" in result.output
    stats = json.loads((run / "stats.json").read_text())
    assert stats["run"]["partial"] is True
    assert "Partial run" in (run / "report.html").read_text()


def test_a_run_killed_before_run_json_still_reports_its_requests(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "killed")
    (run / "run.json").unlink()
    (run / "timeline.parquet").unlink()
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "run.json is missing" in result.output
    stats = json.loads((run / "stats.json").read_text())
    assert stats["counts"]["ok"] == 1197
    assert all((run / name).exists() for name in FIGURES)


def test_compare_overlays_runs_and_tabulates_them(tmp_path: Path) -> None:
    slow = write_sample_run(tmp_path / "runs" / "slow")
    fast = write_sample_run(tmp_path / "runs" / "fast", slow=False)
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["report", "--compare", str(slow), str(fast), "--out", str(out)])
    assert result.exit_code == 0, result.output
    compared = json.loads((out / "compare.json").read_text())["runs"]
    assert [Path(s["run"]["path"]).name for s in compared] == ["slow", "fast"]
    assert [s["slo"]["seconds_violated"] for s in compared] == [10, 0]
    with Image.open(out / "compare_timeline.png") as image:
        assert image.format == "PNG"
        assert image.size[0] >= 1000
    assert "slow" in result.output
    assert "fast" in result.output


def test_compare_needs_two_runs_and_two_runs_need_compare(tmp_path: Path) -> None:
    one = write_sample_run(tmp_path / "one")
    alone = runner.invoke(app, ["report", "--compare", str(one)])
    assert alone.exit_code == 2
    assert "two or more" in alone.output
    two = runner.invoke(app, ["report", str(one), str(one)])
    assert two.exit_code == 2
    assert "--compare" in two.output
