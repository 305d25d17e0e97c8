"""The fast engines give Keras' answers: top-5 the same and probabilities within 1e-4 (float32), on
every image in images/ and 200 random ones, with a model whose answers differ per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mlscale_inference.engines import Engine, load_engine
from mlscale_inference.export import ensure_exported
from tests.models import calibrated_weights, random_images, sample_images

TOLERANCE = 1e-4
EXPORTED = ("litert", "onnx")


@pytest.fixture(scope="module")
def weights() -> str:
    return str(calibrated_weights())


@pytest.fixture(scope="module")
def images() -> npt.NDArray[np.uint8]:
    return np.stack(sample_images() + random_images(200))


def probabilities(engine: Engine, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return np.concatenate([engine.predict(image[np.newaxis]) for image in images])


@pytest.fixture(scope="module")
def keras_answers(weights: str, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return probabilities(load_engine("keras", weights, None, threads=1), images)


def test_the_test_model_is_not_degenerate(keras_answers: npt.NDArray[np.float32]) -> None:
    """Its answers differ per image and are peaked: a top-5 comparison on it can fail."""
    top1 = keras_answers.argmax(axis=1)
    assert len(set(top1.tolist())) >= 5
    assert np.median(keras_answers.max(axis=1)) > 0.1  # a flat model's is 0.001
    gaps = np.sort(keras_answers, axis=1)[:, ::-1][:, :5]
    assert (np.diff(gaps, axis=1) < -1e-5).mean() > 0.95  # the top 5 are apart, not near-ties


@pytest.mark.parametrize("engine", EXPORTED)
def test_an_exported_engine_answers_as_keras_does(
    engine: str, weights: str, images: npt.NDArray[np.uint8], keras_answers: npt.NDArray[np.float32],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    model = ensure_exported(tmp_path_factory.mktemp(engine), engine, weights)
    answers = probabilities(load_engine(engine, weights, str(model), threads=1), images)
    assert answers.shape == keras_answers.shape == (len(images), 1000)
    worst = float(np.abs(answers - keras_answers).max())
    print(f"\n{engine}: {len(images)} images, largest probability difference {worst:.2e}")
    assert worst <= TOLERANCE
    top5 = np.argsort(-answers, axis=1, kind="stable")[:, :5]
    keras_top5 = np.argsort(-keras_answers, axis=1, kind="stable")[:, :5]
    differing = np.flatnonzero((top5 != keras_top5).any(axis=1))
    assert differing.size == 0, f"top-5 differ on images {differing.tolist()}"


def test_the_export_is_cached_under_its_content(weights: str, tmp_path: Path) -> None:
    """The same weights and versions: the same file, not converted again; other weights: another."""
    first = ensure_exported(tmp_path, "litert", weights)
    stamp = first.stat().st_mtime_ns
    assert ensure_exported(tmp_path, "litert", weights) == first
    assert first.stat().st_mtime_ns == stamp
    other = ensure_exported(tmp_path, "litert", "none")
    assert other != first
    sidecar = first.with_suffix(first.suffix + ".json").read_text()
    assert '"weights": "sha256:' in sidecar


def test_the_none_weights_are_flat(images: npt.NDArray[np.uint8]) -> None:
    """What the README says of --weights none, measured: every class 0.001 on every image."""
    answers = probabilities(load_engine("keras", "none", None, threads=1), images[:20])
    assert np.abs(answers - 0.001).max() < 1e-6
