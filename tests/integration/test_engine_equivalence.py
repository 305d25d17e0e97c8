"""The fast engines give Keras' answers: top-5 the same and probabilities within 1e-4 (float32), on
every image in images/ and 200 random ones, with a model whose answers differ per image.

Every engine and every export runs in a process of its own (``tests.engine_answers``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.engine_answers import RANDOM_IMAGES, answers, run_module

TOLERANCE = 1e-4
EXPORTED = ("litert", "onnx")
SAMPLES = 5  # images/ holds five


@pytest.fixture(scope="module")
def weights() -> str:
    """The BatchNorm-calibrated MobileNetV2 (tests/models.py), made once and cached."""
    return run_module("tests.models")


def export(cache: Path, engine: str, weights: str) -> str:
    return run_module("mlscale_inference.export", "--engine", engine, "--weights", weights,
                      "--cache-dir", str(cache))  # fmt: skip


@pytest.fixture(scope="module")
def keras_answers(weights: str, tmp_path_factory: pytest.TempPathFactory) -> npt.NDArray[np.float32]:
    return answers("keras", weights, None, tmp_path_factory.mktemp("keras") / "answers.npy")


def test_the_test_model_is_not_degenerate(keras_answers: npt.NDArray[np.float32]) -> None:
    """Its answers differ per image and are peaked: a top-5 comparison on it can fail."""
    assert keras_answers.shape == (SAMPLES + RANDOM_IMAGES, 1000)
    top1 = keras_answers.argmax(axis=1)
    assert len(set(top1.tolist())) >= 5
    assert np.median(keras_answers.max(axis=1)) > 0.1  # a flat model's is 0.001
    gaps = np.sort(keras_answers, axis=1)[:, ::-1][:, :5]
    assert (np.diff(gaps, axis=1) < -1e-5).mean() > 0.95  # the top 5 are apart, not near-ties


@pytest.mark.parametrize("engine", EXPORTED)
def test_an_exported_engine_answers_as_keras_does(
    engine: str, weights: str, keras_answers: npt.NDArray[np.float32], tmp_path: Path
) -> None:
    model = export(tmp_path / "cache", engine, weights)
    got = answers(engine, weights, model, tmp_path / "answers.npy")
    assert got.shape == keras_answers.shape
    worst = float(np.abs(got - keras_answers).max())
    print(f"\n{engine}: {len(got)} images, largest probability difference {worst:.2e}")
    assert worst <= TOLERANCE
    top5 = np.argsort(-got, axis=1, kind="stable")[:, :5]
    keras_top5 = np.argsort(-keras_answers, axis=1, kind="stable")[:, :5]
    differing = np.flatnonzero((top5 != keras_top5).any(axis=1))
    assert differing.size == 0, f"top-5 differ on images {differing.tolist()}"


def test_the_export_is_cached_under_its_content(weights: str, tmp_path: Path) -> None:
    """The same weights and versions: the same file, not converted again; other weights: another."""
    first = Path(export(tmp_path, "litert", weights))
    stamp = first.stat().st_mtime_ns
    assert Path(export(tmp_path, "litert", weights)) == first
    assert first.stat().st_mtime_ns == stamp
    assert first.stat().st_mode & 0o044 == 0o044  # readable by an image's non-root user
    other = Path(export(tmp_path, "litert", "none"))
    assert other != first
    assert '"weights": "sha256:' in first.with_suffix(first.suffix + ".json").read_text()


def test_the_none_weights_are_flat(tmp_path: Path) -> None:
    """What the README says of --weights none, measured: every class 0.001 on every image."""
    flat = answers("keras", "none", None, tmp_path / "answers.npy")
    assert np.abs(flat - 0.001).max() < 1e-6
