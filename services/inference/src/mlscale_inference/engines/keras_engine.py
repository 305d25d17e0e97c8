"""Keras MobileNetV2 on TensorFlow, run as one frozen graph."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from mlscale_inference.model import classify_function, frozen_graph, keras_network

log = logging.getLogger(__name__)


def configure_threads(threads: int) -> None:
    """Bound TensorFlow to ``threads`` intra-op threads; must run before TF's runtime starts."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        # The runtime already started (a second engine in one process, as in tests): the first
        # setting stays, which is what that process asked for anyway.
        log.warning("tensorflow already initialised; thread settings unchanged")


class KerasEngine:
    def __init__(self, weights: str, threads: int) -> None:
        started = time.perf_counter()
        import tensorflow as tf

        configure_threads(threads)
        self.import_s = time.perf_counter() - started
        self._run = _runner(keras_network(weights), tf)

    def predict(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.asarray(self._run(batch), dtype=np.float32)


def _runner(model: Any, tf: Any) -> Callable[[npt.NDArray[np.uint8]], Any]:
    try:
        frozen = frozen_graph(model)
    except (ImportError, ValueError) as exc:  # a TF without the helper: the unfrozen graph is correct, slower
        log.warning("could not freeze the model graph (%s); using the plain tf.function", exc)
        concrete = classify_function(model).get_concrete_function()
        return lambda batch: concrete(tf.constant(batch))

    def run(batch: npt.NDArray[np.uint8]) -> Any:
        outputs = frozen(tf.constant(batch))
        return outputs[0] if isinstance(outputs, (list, tuple)) else outputs

    return run
