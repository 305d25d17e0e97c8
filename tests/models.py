"""Models the tests make and cache: a MobileNetV2 whose outputs mean something to compare.

With ``weights none`` every class scores 0.001 on every image (the random network's activations
die out through its uncalibrated batch norms), so engines' labels would be ties and prove nothing.
This one keeps the random convolutions but measures each BatchNorm's statistics on real images
(momentum 0 and one training-mode pass: each layer's moving mean and variance become its batch's),
so activations survive to the classifier and every image gets its own ranking; the classifier's
random kernel is scaled so those rankings are well apart.
"""

from __future__ import annotations

import os
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mlscale.locations import cache_dir
from mlscale_inference.imaging import decode_image
from mlscale_inference.model import INPUT_SIZE

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
SEED = 7


def sample_images() -> list[npt.NDArray[np.uint8]]:
    """Every image in ``images/`` as the service decodes it."""
    return [
        decode_image(path.read_bytes(), INPUT_SIZE, 40_000_000)
        for path in sorted(IMAGES.iterdir())
        if path.suffix.lower() in (".jpg", ".jpeg", ".png")
    ]


def random_images(count: int, seed: int = SEED) -> list[npt.NDArray[np.uint8]]:
    """``count`` images of smooth random colour fields plus noise (pure noise ranks nearly alike)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        coarse = rng.integers(0, 256, (7, 7, 3)).astype(np.float32)
        field = np.kron(coarse, np.ones((32, 32, 1), dtype=np.float32))
        noisy = field + rng.normal(0, 24, field.shape)
        images.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return images


def calibrated_weights() -> Path:
    """The BatchNorm-calibrated MobileNetV2 as a Keras weights file, made once per TF and Keras."""
    folder = Path(os.environ.get("MLSCALE_TEST_MODELS") or cache_dir() / "test-models")
    versions = f"tf{version('tensorflow-cpu')}-k{version('keras')}"
    path = folder / f"mobilenet_v2-bn-calibrated-s{SEED}-x12-{versions}.weights.h5"
    if path.is_file():
        return path
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
    rng = np.random.default_rng(SEED)
    photos = sample_images()
    batch = [p[:, ::-1] if flip else p for p in photos for flip in (False, True)]
    batch += random_images(20, seed=SEED + 1)
    pixels = np.stack(batch).astype(np.float32)[rng.permutation(len(batch))] / 127.5 - 1.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0  # the moving statistics become this batch's
    model(pixels, training=True)
    # Spread the classifier's logits (the random kernel gives scores within a few 0.001 of each
    # other): rankings then differ by far more than two engines' float32 rounding.
    predictions = model.get_layer("predictions")
    kernel, bias = predictions.get_weights()
    predictions.set_weights([kernel * 12, bias])
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name.replace(".weights.h5", ".part.weights.h5"))
    with warnings.catch_warnings():  # Keras 3.15's h5 writer on TF 2.21 tensors under NumPy 2
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save_weights(part)
    part.replace(path)
    return path


if __name__ == "__main__":  # python -m tests.models: make (or find) the weights file, print its path
    print(calibrated_weights())
