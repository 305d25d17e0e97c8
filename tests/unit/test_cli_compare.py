"""`mlscale compare` sends every run one load: sized once, the identical schedule each time, even
when each `up` measures a different capacity (machine noise: 14.2 to 19.2 ms per image in one
comparison). Runs of different loads are not ranked. Bad --capacity and --slo-ms exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlscale import cli_system, defaults
from mlscale.backends import probe
from mlscale.backends.base import SystemStatus
from mlscale.backends.state import clear_state, write_state
from mlscale.cli import app
from mlscale.net import free_port
from tests.fakes import serving
from tests.unit.test_cli_system import a_status, fake_dispatcher

runner = CliRunner()


class DriftingBackend:
    """Each `up` measures a different flat-out capacity, as a busy or idle machine would."""

    name = "fake"

    def __init__(self, dispatcher_url: str, capacities: list[float]) -> None:
        self.dispatcher_url, self.capacities = dispatcher_url, capacities
        self.ups = 0
        self.current: SystemStatus = a_status()

    def up(self) -> SystemStatus:
        flat_out = self.capacities[self.ups % len(self.capacities)]
        self.ups += 1
        calibration = {"cpu_ms_per_request": 1000 / flat_out, "capacity_at_target_rps": flat_out / 3,
                       "cpu_request_milli": 500, "flat_out_rps": flat_out,
                       "target_cpu_utilization": 70}  # fmt: skip
        self.current = a_status(dispatcher_url=self.dispatcher_url, calibration=calibration)
        write_state({"backend": "local", "dispatcher_url": self.dispatcher_url, "calibration": calibration})
        return self.current

    def status(self) -> SystemStatus:
        return self.current

    def decisions(self) -> list[dict[str, Any]]:
        return []

    def down(self, *, delete_cluster: bool = False) -> None:
        clear_state()


def run_compare(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str, workload: Path | None = None
) -> tuple[Any, Path]:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    port = free_port()
    monkeypatch.setattr(defaults, "LISTEN_PORT", port)
    if workload is None:
        workload = tmp_path / "tiny.txt"
        workload.write_text("# unit: flat-out\n0.1,0.2\n")
    with serving(fake_dispatcher(f"http://127.0.0.1:{port}")) as dispatcher:
        backend = DriftingBackend(dispatcher.url, [40.0, 50.0, 60.0])
        monkeypatch.setattr(cli_system, "open_backend", lambda up=None, console=None: backend)
        monkeypatch.setattr(probe, "open_backend", lambda up=None, console=None: backend)
        result = runner.invoke(
            app,
            ["compare", str(workload), "--policies", "cpu,queue,oracle", "--runs-dir", str(tmp_path / "runs"),
             *extra],
        )  # fmt: skip
    (folder,) = (tmp_path / "runs").glob("compare-*")
    return result, folder


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One comparison of three policies, each up measuring another capacity (40, 50, 60/s)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        result, folder = run_compare(monkeypatch, tmp_path_factory.mktemp("compare"))
    assert result.exit_code == 0, result.output
    return folder


def test_every_run_is_sent_the_schedule_the_first_up_sized(compared: Path) -> None:
    folder = compared
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*-1/*/run.json"))]
    assert len(runs) == 3
    # sized by the first up's 40/s (0.1 and 0.2 of it: 4 + 8), though the others measured 50 and 60
    assert {r["options"]["requests_per_unit"] for r in runs} == {40.0}
    assert {r["schedule"]["requests"] for r in runs} == {12}
    assert len({r["schedule"]["sha256"] for r in runs}) == 1
    comparison = json.loads((folder / "compare.json").read_text())
    assert comparison["load"]["identical"] is True
    assert comparison["load"]["requests_per_unit"] == [40.0, 40.0, 40.0]
    assert [entry["policy"] for entry in comparison["ranking"]]  # ranked
    values = (folder / "values.yaml").read_text()
    assert "sloMilliseconds: 500.0" in values  # the oracle plans for the comparison's SLO


def test_a_given_capacity_sizes_every_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, folder = run_compare(monkeypatch, tmp_path, "--capacity", "30", "--slo-ms", "250")
    assert result.exit_code == 0, result.output
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*-1/*/run.json"))]
    assert {r["options"]["requests_per_unit"] for r in runs} == {30.0}
    assert {r["schedule"]["requests"] for r in runs} == {9}  # round(3.0) + round(6.0)
    assert "sloMilliseconds: 250.0" in (folder / "values.yaml").read_text()


def test_a_generated_diurnal_day_sped_up_is_read_once_and_named_in_every_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two hours of a generated day at 1440× (5 s a run), sized to one replica's worth at its peak."""
    from mlscale.workload import saved
    from mlscale.workload.source import SourceOptions, resolve

    day = tmp_path / "day.txt"
    assert runner.invoke(app, ["workload", "gen", "diurnal", "-o", str(day)]).exit_code == 0
    source = ["--start", "12h", "--duration", "2h", "--speed", "1440", "--peak", "1"]
    result, folder = run_compare(monkeypatch, tmp_path, *source, workload=day)
    assert result.exit_code == 0, result.output
    label = "generated diurnal, 12h–14h, at 1440×, peak 1 replicas"
    assert f"workload: {label}" in result.output
    kept = saved.loads((folder / "workload.json").read_text(), "workload.json")
    expected, _ = resolve(SourceOptions((day,), start="12h", duration="2h", speed=1440, peak=1))
    assert kept == expected
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*-1/*/run.json"))]
    assert [r["workload"]["source"]["label"] for r in runs] == [label] * 3
    assert runs[0]["workload"]["source"]["given"]["speed"] == 1440
    assert len({r["schedule"]["sha256"] for r in runs}) == 1
    comparison = json.loads((folder / "compare.json").read_text())
    assert [s["run"]["source"] for s in comparison["runs"]] == [label] * 3


def test_runs_of_different_loads_are_not_ranked(compared: Path, tmp_path: Path) -> None:
    first = next((compared / "cpu-1").iterdir())
    other = tmp_path / "other"
    other_run = other / first.name
    other_run.parent.mkdir()
    other_run.mkdir()
    for path in first.iterdir():
        if path.is_file():
            (other_run / path.name).write_bytes(path.read_bytes())
    meta = json.loads((other_run / "run.json").read_text())
    meta["schedule"] = {"requests": 15, "sha256": "0" * 64}  # as if sized by another up
    meta["system"]["policy"] = "queue"
    (other_run / "run.json").write_text(json.dumps(meta))
    result = runner.invoke(
        app, ["report", "--compare", str(first), str(other_run), "--out", str(tmp_path / "cmp")],
        env={"COLUMNS": "80"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert comparison["ranking"] == []
    assert comparison["load"]["identical"] is False
    text = " ".join(result.output.split())
    assert "not ranked: the runs were sent different loads (requests #1: 12, #2: 15)" in text
    assert "policies ranked" not in text


@pytest.mark.parametrize(
    ("option", "value"),
    [("--capacity", "0"), ("--capacity", "-3"), ("--capacity", "nan"), ("--capacity", "inf"),
     ("--slo-ms", "0"), ("--slo-ms", "nan"), ("--slo-ms", "-1"), ("--capacity", "many")],
)  # fmt: skip
def test_bad_capacity_or_slo_is_refused_naming_the_option(option: str, value: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", "workloads/spike.txt", option, value], env={"COLUMNS": "100"})
    assert result.exit_code == 2
    assert option in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_up_and_loadtest_options_pass_through_to_every_run() -> None:
    """`--up` and `--loadtest` are parsed as those commands parse them: what was given, typed."""
    from mlscale.backends import BackendName
    from mlscale.cli_compare import passed_on
    from mlscale.cli_loadtest import loadtest

    kubernetes = "--backend kubernetes --no-minikube --expose node-port"
    up = passed_on(cli_system.up, "--up", kubernetes, ("policy",))
    assert up == {"backend": BackendName.KUBERNETES, "minikube": False, "expose": "node-port"}
    assert passed_on(loadtest, "--loadtest", "--listen 10.0.0.1:3003", ()) == {"listen": "10.0.0.1:3003"}
    assert passed_on(cli_system.up, "--up", "", ()) == {}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("--policy queue", "--up may not set policy: compare sets it for every run"),
        ("--bogus", "No such option: --bogus"),
        ("--min-replicas 0", "greater than or equal to 1"),
        ("--backend 'unclosed", "No closing quotation"),
    ],
)
def test_bad_up_options_are_refused_by_name(text: str, said: str) -> None:
    from mlscale.cli_compare import passed_on
    from mlscale.errors import InputError

    with pytest.raises(InputError, match=said):
        passed_on(cli_system.up, "--up", text, ("policy",))
