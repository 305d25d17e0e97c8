"""MobileNetV2 as one compiled, frozen TensorFlow graph with a fixed input signature.

``model.predict`` rebuilds its input pipeline on every call (~70 ms per image here);
a ``tf.function`` with a fixed signature runs the same network in ~25 ms, and freezing its
variables into constants lets Grappler fold the batch norms into the convolutions (~20 ms).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

INPUT_SIZE = 224
NUM_CLASSES = 1000
MODEL_NAME = "mobilenet_v2"

log = logging.getLogger(__name__)


def configure_threads(threads: int) -> None:
    """Bound TensorFlow to ``threads`` intra-op threads; must run before TF's runtime starts."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        # The runtime already started (a second classifier in one process, as in tests):
        # the first setting stays, which is what that process asked for anyway.
        log.warning("tensorflow already initialised; thread settings unchanged")


class Classifier:
    """ImageNet classifier. ``predict`` takes a (1, 224, 224, 3) uint8 RGB batch, returns probabilities."""

    def __init__(self, weights: str, threads: int) -> None:
        configure_threads(threads)
        import keras
        import tensorflow as tf

        keras_weights = None if weights == "none" else weights
        model = keras.applications.MobileNetV2(weights=keras_weights, input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
        self.weights = weights
        self.threads = threads
        self._predict = _compile(model, tf)

    def predict(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.asarray(self._predict(batch), dtype=np.float32)


def _compile(model: Any, tf: Any) -> Callable[[npt.NDArray[np.uint8]], Any]:
    # Batch 1 is what a replica runs; a fixed shape lets Grappler specialise every kernel.
    signature = [tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 3], tf.uint8)]

    def classify(pixels: Any) -> Any:
        scaled = tf.cast(pixels, tf.float32) / 127.5 - 1.0  # keras' mobilenet_v2.preprocess_input
        return model(scaled, training=False)

    function = tf.function(classify, input_signature=signature)
    concrete = function.get_concrete_function()
    try:
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        frozen = convert_variables_to_constants_v2(concrete)
    except (ImportError, ValueError) as exc:  # a TF without the helper: the unfrozen graph is correct, slower
        log.warning("could not freeze the model graph (%s); using the plain tf.function", exc)
        return lambda batch: concrete(tf.constant(batch))

    def run(batch: npt.NDArray[np.uint8]) -> Any:
        outputs = frozen(tf.constant(batch))
        return outputs[0] if isinstance(outputs, (list, tuple)) else outputs

    return run


def top_k(probabilities: npt.NDArray[np.float32], k: int, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``k`` most probable classes of one image, best first."""
    k = min(k, probabilities.shape[-1])
    best = np.argpartition(probabilities, -k)[-k:]
    best = best[np.argsort(probabilities[best])[::-1]]
    return [{"label": labels[int(i)], "class_id": int(i), "score": float(probabilities[i])} for i in best]
