"""``mlscale simulate`` from the command line: one run, a sweep, and bad input refused with a
message and exit 2 (no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from mlscale.cli import app

CALIBRATION = Path(__file__).parents[2] / "bench" / "data" / "calibration-litert-demo.json"
runner = CliRunner()


def workload(tmp_path: Path) -> Path:
    path = tmp_path / "w.txt"
    path.write_text("# 20 s light, 40 s at 3 replicas' worth\n# unit: replicas\n" + "0.3\n" * 20 + "3\n" * 40)
    return path


def simulate(tmp_path: Path, *extra: str) -> Result:
    """``mlscale simulate`` of the small workload on the shipped calibration, runs under tmp_path."""
    arguments = [
        str(workload(tmp_path)),
        "--calibrate",
        str(CALIBRATION),
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    return runner.invoke(app, ["simulate", *arguments, *extra])


def test_a_sweep_writes_every_setting_and_the_front(tmp_path: Path) -> None:
    result = simulate(tmp_path, "--sweep", "autoscaling.behavior.scaleUp.stabilizationWindowSeconds=0,30")
    assert result.exit_code == 0, result.output
    (sweep,) = (tmp_path / "runs").glob("*-sweep/sweep.json")
    record = json.loads(sweep.read_text())
    windows = [
        p["setting"]["autoscaling.behavior.scaleUp.stabilizationWindowSeconds"] for p in record["points"]
    ]
    assert windows == [0, 30]
    assert all(p["requests"] == record["points"][0]["requests"] > 0 for p in record["points"])
    # No scale-up window scales up earlier than a 30 s one on the same load.
    first = [p["first_scale_up_s"] for p in record["points"]]
    assert first[0] is not None
    assert first[1] is None or first[0] < first[1]
    assert any(p["on_front"] for p in record["points"])
    assert (sweep.parent / "pareto.png").stat().st_size > 0


def test_a_diurnal_day_at_60x_is_simulated_and_its_report_names_it(tmp_path: Path) -> None:
    from mlscale.workload import per_second_counts
    from mlscale.workload.source import SourceOptions, resolve

    day = tmp_path / "day.txt"
    assert runner.invoke(app, ["workload", "gen", "diurnal", "-o", str(day)]).exit_code == 0
    arguments = [str(day), "--speed", "60", "--peak", "2.5", "--calibrate", str(CALIBRATION)]
    result = runner.invoke(app, ["simulate", *arguments, "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "workload: generated diurnal, at 60×, peak 2.5 replicas" in result.output
    (run,) = (tmp_path / "runs").glob("*-sim")
    stats = json.loads((run / "stats.json").read_text())
    assert stats["run"]["source"] == "generated diurnal, at 60×, peak 2.5 replicas"
    capacity = json.loads(CALIBRATION.read_text())["capacity_at_target_rps"]
    resolved, _ = resolve(SourceOptions((day,), speed=60, peak=2.5))
    counts = per_second_counts(resolved, scale=capacity)
    assert len(counts) == 1440  # a day in 24 minutes
    assert stats["total"] == sum(counts)
    assert max(counts) == round(2.5 * capacity)


def test_one_simulation_is_a_run_that_report_reads(tmp_path: Path) -> None:
    result = simulate(tmp_path)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").glob("*-sim")
    meta = json.loads((run / "run.json").read_text())
    assert meta["simulated"] is True
    assert meta["system"]["model"] == "requests"
    assert json.loads((run / "stats.json").read_text())["counts"]["ok"] == meta["summary"]["ok"]


def test_bad_input_says_what_is_wrong(tmp_path: Path) -> None:
    cases = [
        (["--sweep", "autoscaling.maxReplicas"], "a.b.c=v1,v2"),
        (["--set", "autoscaling.maxReplicas=zero"], "maxReplicas"),
    ]
    for extra, said in cases:
        result = simulate(tmp_path, *extra)
        assert result.exit_code == 2, result.output
        assert said in result.output
        assert "Traceback" not in result.output
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = runner.invoke(app, ["simulate", str(workload(tmp_path)), "--calibrate", str(bad)])
    assert result.exit_code == 2
    assert "not a calibration" in result.output
    result = runner.invoke(app, ["simulate", str(tmp_path / "none.txt"), "--calibrate", str(CALIBRATION)])
    assert result.exit_code == 2
    assert "no such workload" in result.output
