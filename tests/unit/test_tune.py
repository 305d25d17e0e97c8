"""``mlscale tune`` on the shipped calibration: the search depends on its seed and batch, not on how
many processes ran it; the recommendation is the cheapest trial within the SLO, written as a values
file that ``simulate --values`` (as ``up --values``) takes unchanged and that simulates to the same
cost; bad input exits 2 naming the option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from mlscale.cli import app
from mlscale.tune.space import SLO, nested, parse_slo

CALIBRATION = Path(__file__).parents[2] / "bench" / "data" / "calibration-litert-demo.json"
runner = CliRunner()


def workload(tmp_path: Path) -> Path:
    path = tmp_path / "w.txt"
    path.write_text("# unit: replicas\n" + "0.3\n" * 20 + "3\n" * 40 + "0.3\n" * 20)
    return path


def tune(tmp_path: Path, runs: str, *extra: str) -> tuple[Any, dict[str, Any], Path]:
    arguments = [str(workload(tmp_path)), "--calibrate", str(CALIBRATION), "--slo", "p95<=300ms",
                 "--budget", "16", "--batch", "4", "--runs-dir", str(tmp_path / runs), *extra]  # fmt: skip
    result = runner.invoke(app, ["tune", *arguments])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / runs).glob("*-tune")
    return result, json.loads((folder / "trials.json").read_text()), folder


def without_wall(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in t.items() if k != "wall_seconds"} for t in trials]


def test_the_search_depends_on_its_seed_not_on_the_processes(tmp_path: Path) -> None:
    _, one, _ = tune(tmp_path, "one", "--jobs", "1")
    _, two, _ = tune(tmp_path, "two", "--jobs", "2")
    assert without_wall(one["trials"]) == without_wall(two["trials"])
    assert one["recommended"] == two["recommended"]
    _, other, _ = tune(tmp_path, "other", "--jobs", "2", "--seed", "7")
    assert without_wall(other["trials"]) != without_wall(one["trials"])
    assert {t["policy"] for t in one["trials"]} == {"cpu", "queue", "kpa"}


def test_the_recommendation_is_the_cheapest_within_the_slo_and_deploys_as_is(tmp_path: Path) -> None:
    result, record, folder = tune(tmp_path, "runs", "--policies", "cpu,queue")
    trials = record["trials"]
    chosen = trials[record["recommended"]]
    feasible = [t for t in trials if t["feasible"]]
    assert feasible, "a trial within the SLO"
    assert chosen["replica_seconds"] == min(t["replica_seconds"] for t in feasible)
    assert f"recommended: trial {chosen['number']}, {chosen['policy']}" in " ".join(result.output.split())
    assert any(t["on_front"] for t in trials)
    assert (folder / "pareto.png").stat().st_size > 10_000
    values = folder / "recommended-values.yaml"
    assert yaml.safe_load(values.read_text()) == nested(
        {"autoscaling.policy": chosen["policy"], **chosen["setting"]}
    )
    again = runner.invoke(app, ["simulate", str(workload(tmp_path)), "--calibrate", str(CALIBRATION),
                                "--values", str(values), "--arrival", "poisson", "--slo-ms", "300",
                                "--runs-dir", str(tmp_path / "check")])  # fmt: skip
    assert again.exit_code == 0, again.output
    (run,) = (tmp_path / "check").glob("*-sim")
    simulated = json.loads((run / "run.json").read_text())
    assert simulated["system"]["policy"] == chosen["policy"]
    assert simulated["summary"]["replica_seconds"] == pytest.approx(chosen["replica_seconds"])


def test_an_slo_reads_as_written() -> None:
    assert parse_slo("p95<=300ms") == SLO(95, 0.3, 0.99)
    assert parse_slo("p99 < 1.5s", "95%") == SLO(99, 1.5, 0.95)
    assert SLO(95, 0.3, 0.99).allowed(250) == 2


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [("--slo", "p90<=300ms", "--slo"), ("--slo", "fast", "--slo"), ("--slo-seconds", "150%", "--slo-seconds"),
     ("--policies", "cpu,oracle", "--policies"), ("--policies", "cpu,cpu", "--policies"),
     ("--budget", "0", "--budget"), ("--jobs", "0", "--jobs")],
)  # fmt: skip
def test_bad_tune_options_exit_2_naming_them(tmp_path: Path, option: str, value: str, said: str) -> None:
    arguments = [
        str(workload(tmp_path)),
        "--calibrate",
        str(CALIBRATION),
        "--slo",
        "p95<=300ms",
        option,
        value,
    ]
    result = runner.invoke(app, ["tune", *arguments, "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
