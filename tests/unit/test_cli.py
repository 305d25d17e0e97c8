from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlscale import __version__
from mlscale.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "version" in result.output


COMMANDS = ("up", "status", "down", "loadtest", "report", "compare", "simulate", "demo", "version")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_without_cutting_a_word(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_shows_a_metavar_not_a_type(command: str) -> None:
    """<str>, <float range>, <path>: typer's placeholders say nothing a user can type. An option
    takes a NAME, a FILE, MS, or shows its choices; a flag shows nothing. (Typer draws the type of
    an argument and of its own --help whatever the metavar.)"""
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "160", "TERMINAL_WIDTH": "160"})
    options = [line for line in result.output.splitlines() if line.lstrip("│ ").startswith("--")]
    assert options, result.output
    placeholders = [
        line for line in options if re.search(r"<[a-z][a-z \[\]]*>", line) and "--help" not in line
    ]
    assert placeholders == []


def test_up_help_groups_its_options_and_shows_choices() -> None:
    result = runner.invoke(app, ["up", "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    text = result.output
    panels = [
        f"─ {name} " for name in ("Local backend", "Autoscaling", "Images and model", "Kubernetes backend")
    ]
    assert all(panel in text for panel in panels), text
    # Each option sits in its group: the panel above it is the one it belongs to.
    for option, panel in (("--max-starting", 0), ("--policy", 1), ("--engine", 2), ("--kube-context", 3)):
        above = text[: text.index(option)]
        assert max(range(4), key=lambda i: above.rfind(panels[i])) == panel, option
    for shown in ("[local|kubernetes]", "[cpu|queue|kpa|oracle]", "[keras|litert|onnx]"):
        assert shown in text
    assert "<str>" not in text


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert f"mlscale {__version__}" in result.output


def test_loadtest_without_a_workload_or_serve_is_a_usage_error() -> None:
    result = runner.invoke(app, ["loadtest"])
    assert result.exit_code == 2
    assert "--serve" in result.output


def test_loadtest_endpoints_follow_the_running_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlscale.backends.state import write_state
    from mlscale.cli_loadtest import _endpoints

    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path))
    assert _endpoints(None, None) == ("http://127.0.0.1:8000", "127.0.0.1", 3003)  # nothing up
    write_state({"backend": "kubernetes", "dispatcher_url": "http://192.168.49.2:30080"})
    # Minikube's pods post outcomes to host.minikube.internal: the listener must not be loopback-only.
    assert _endpoints(None, None) == ("http://192.168.49.2:30080", "0.0.0.0", 3003)
    assert _endpoints("http://elsewhere:8000", "127.0.0.1:4000") == (
        "http://elsewhere:8000",
        "127.0.0.1",
        4000,
    )
    write_state({"backend": "local", "dispatcher_url": "http://127.0.0.1:8100"})
    assert _endpoints(None, None) == ("http://127.0.0.1:8100", "127.0.0.1", 3003)


def test_a_listener_beyond_loopback_needs_a_result_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MLSCALE_RESULT_TOKEN", raising=False)
    workload = tmp_path / "w.txt"
    workload.write_text("1\n")
    result = runner.invoke(app, ["loadtest", str(workload), "--listen", "0.0.0.0:3003", "--no-live"])
    assert result.exit_code == 2
    assert "--result-token" in result.output


def test_help_shows_bracketed_defaults_rich_would_eat_as_markup() -> None:
    """Help texts such as "[default: the running system's]" vanished as Rich markup tags."""
    loadtest = runner.invoke(app, ["loadtest", "--help"], env={"COLUMNS": "250"})
    assert "[default: the running system's, else :8000]" in loadtest.output
    assert "[default: ./images, else the samples]" in loadtest.output
    up = runner.invoke(app, ["up", "--help"], env={"COLUMNS": "250"})
    assert "[local: none; kubernetes: imagenet]" in up.output


@pytest.mark.parametrize(
    ("policies", "said"),
    [
        ("cpu,fast", "--policies takes a comma-separated list of cpu, queue, kpa, oracle"),
        ("cpu,cpu", "names a policy twice"),
        (",", "--policies takes"),
    ],
)
def test_compare_refuses_unknown_or_repeated_policies_before_starting_anything(
    policies: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compare", "workloads/spike.txt", "--policies", policies])
    assert result.exit_code != 0
    assert said in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_up_with_a_policy_the_chart_cannot_render_fails_for_kubernetes() -> None:
    from mlscale.backends import BackendName, UpOptions, kubernetes_options
    from mlscale.errors import InputError

    with pytest.raises(InputError, match="runs on the local backend only"):
        kubernetes_options(UpOptions(backend=BackendName.KUBERNETES, policy="kpa"))
    chosen = kubernetes_options(UpOptions(backend=BackendName.KUBERNETES, policy="queue", min_replicas=1))
    assert chosen.set_values["autoscaling.policy"] == "queue"
    assert chosen.set_values["autoscaling.queue.minReplicaCount"] == "1"


def test_up_refuses_an_unknown_policy() -> None:
    result = runner.invoke(app, ["up", "--policy", "fast"])
    assert result.exit_code == 2
    assert "fast" in result.output


@pytest.mark.parametrize(
    "args",
    [["loadtest", "workloads/spike.txt", "--capacity"], ["report", "--slo-ms"],
     ["simulate", "workloads/spike.txt", "--calibrate", "x.json", "--slo-ms"]],
)  # fmt: skip
@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "fast"])
def test_a_capacity_or_slo_that_is_not_a_number_above_0_exits_2_naming_it(
    args: list[str], value: str
) -> None:
    result = runner.invoke(app, [*args, value], env={"COLUMNS": "120"})
    assert result.exit_code == 2
    assert args[-1] in result.output
    assert "Traceback" not in result.output
