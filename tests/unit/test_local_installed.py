"""`mlscale up` on the local backend without the services' extras: one line naming the extra, not
the export subprocess's traceback (`No module named 'keras'`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlscale.backends.local.installed import missing_modules
from mlscale.cli import app


def without(*names: str) -> Any:
    def find_spec(name: str) -> object | None:
        return None if name in names else object()

    return find_spec


def test_a_fast_engine_needs_its_runtime_and_the_export() -> None:
    assert missing_modules("litert", exported=False, find_spec=without("keras", "ai_edge_litert")) == [
        "ai_edge_litert",
        "keras",
    ]
    assert missing_modules("litert", exported=True, find_spec=without("keras")) == []  # given a model file
    assert missing_modules("onnx", exported=False, find_spec=without("tf2onnx")) == ["tf2onnx"]
    assert missing_modules("keras", exported=False, find_spec=without("mlscale_dispatcher")) == [
        "mlscale_dispatcher"
    ]


def test_up_without_the_extras_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "keras" else real(name, *a)
    )
    result = CliRunner().invoke(app, ["up", "--engine", "litert", "--dispatcher-port", "1"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "needs keras, not installed here: pip install 'mlscale[local]'" in " ".join(result.output.split())
    assert not (tmp_path / "state" / "state.json").exists()  # nothing was started
