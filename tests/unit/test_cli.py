from __future__ import annotations

from typer.testing import CliRunner

from mlscale import __version__
from mlscale.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "version" in result.output


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert f"mlscale {__version__}" in result.output


def test_loadtest_without_a_workload_or_serve_is_a_usage_error() -> None:
    result = runner.invoke(app, ["loadtest"])
    assert result.exit_code == 2
    assert "--serve" in result.output
