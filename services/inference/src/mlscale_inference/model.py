"""MobileNetV2 as Keras builds it, and the one function every engine runs.

Keras builds the network and loads its weights (``imagenet``, a weights file, or ``none``); the
classify function takes a (1, 224, 224, 3) uint8 RGB batch and does keras' ``preprocess_input``
inside the graph, so every engine (and every export of it) has the same input and output.
``model.predict`` rebuilds its input pipeline on every call (~70 ms per image here); a
``tf.function`` with a fixed signature runs the same network in ~25 ms, and freezing its
variables into constants lets Grappler fold the batch norms into the convolutions (~20 ms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

INPUT_SIZE = 224
NUM_CLASSES = 1000
MODEL_NAME = "mobilenet_v2"
INPUT_NAME = "pixels"


def keras_network(weights: str) -> Any:
    """Keras' MobileNetV2 with ``weights``: imagenet, none (random, the same CPU) or a file."""
    import keras

    keras_weights = None if weights == "none" else weights
    return keras.applications.MobileNetV2(weights=keras_weights, input_shape=(INPUT_SIZE, INPUT_SIZE, 3))


def classify_function(model: Any) -> Any:
    """The network behind a fixed uint8 signature (batch 1: what a replica runs; a fixed shape
    lets Grappler and the converters specialise every kernel)."""
    import tensorflow as tf

    signature = [tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 3], tf.uint8, name=INPUT_NAME)]

    def classify(pixels: Any) -> Any:
        scaled = tf.cast(pixels, tf.float32) / 127.5 - 1.0  # keras' mobilenet_v2.preprocess_input
        return model(scaled, training=False)

    return tf.function(classify, input_signature=signature)


def frozen_graph(model: Any) -> Any:
    """The classify function with its variables folded into constants (what LiteRT converts and
    what the keras engine runs)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(classify_function(model).get_concrete_function())


def top_k(probabilities: npt.NDArray[np.float32], k: int, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``k`` most probable classes of one image, best first."""
    k = min(k, probabilities.shape[-1])
    best = np.argpartition(probabilities, -k)[-k:]
    best = best[np.argsort(probabilities[best])[::-1]]
    return [{"label": labels[int(i)], "class_id": int(i), "score": float(probabilities[i])} for i in best]
