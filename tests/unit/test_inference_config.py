from __future__ import annotations

import pytest

from mlscale_inference.__main__ import parse_args
from mlscale_inference.config import ConfigError, Settings, parse_cpu


@pytest.mark.parametrize(("text", "cores"), [("500m", 0.5), ("1", 1.0), ("1.5", 1.5), ("2000m", 2.0)])
def test_cpu_quantities_parse_as_kubernetes_writes_them(text: str, cores: float) -> None:
    assert parse_cpu(text) == pytest.approx(cores)


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "0m", "nan"])
def test_bad_cpu_quantities_name_the_value(text: str) -> None:
    with pytest.raises(ConfigError, match="cpu"):
        parse_cpu(text)


@pytest.mark.parametrize(("cpu", "threads"), [(0.5, 1), (1.0, 1), (1.9, 1), (2.0, 2), (4.0, 4)])
def test_model_threads_follow_the_cpu_budget(cpu: float, threads: int) -> None:
    assert Settings(weights="none", cpu=cpu).model_threads == threads


def test_explicit_threads_win_over_the_budget() -> None:
    assert Settings(weights="none", cpu=0.5, threads=3).model_threads == 3


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"port": 0}, "port"),
        ({"weights": "/no/such/file.h5"}, "weights"),
        ({"threads": 0}, "threads"),
        ({"max_pending": 0}, "max_pending"),
        ({"drain_timeout": -1.0}, "drain_timeout"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings(**{"weights": "none", **kwargs})  # type: ignore[arg-type]


def test_flags_override_environment() -> None:
    env = {
        "MLSCALE_INFERENCE_PORT": "9100",
        "MLSCALE_INFERENCE_WEIGHTS": "none",
        "MLSCALE_INFERENCE_MAX_PENDING": "3",
    }
    from_env = parse_args([], env)
    assert (from_env.port, from_env.weights, from_env.max_pending) == (9100, "none", 3)
    from_flags = parse_args(["--port", "9200", "--max-pending", "5"], env)
    assert (from_flags.port, from_flags.max_pending) == (9200, 5)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="MLSCALE_INFERENCE_PORT"):
        parse_args([], {"MLSCALE_INFERENCE_PORT": "eighty", "MLSCALE_INFERENCE_WEIGHTS": "none"})


def test_body_limit_leaves_room_for_base64() -> None:
    settings = Settings(weights="none", max_image_bytes=3000)
    assert settings.max_body_bytes >= 4000
