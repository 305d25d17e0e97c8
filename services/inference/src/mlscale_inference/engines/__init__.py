"""What runs the model: Keras itself, or an export of the same Keras model to a faster runtime.

Every engine takes a (1, 224, 224, 3) uint8 batch and returns (1, 1000) probabilities, and says
how long its start-up phases took. ``keras`` needs TensorFlow; ``litert`` and ``onnx`` need only
their runtime and the file ``python -m mlscale_inference.export`` made (at image build time, or
once per weights choice on the local backend): a replica never converts at start.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

ENGINES = ("keras", "litert", "onnx")
EXPORTED_SUFFIX = {"litert": ".tflite", "onnx": ".onnx"}
"""The engines that run an exported file, and its suffix."""


class Engine(Protocol):
    import_s: float
    """Seconds its runtime took to import (TensorFlow for keras): the start-up's ``import`` phase."""

    def predict(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]: ...


def load_engine(engine: str, weights: str, model_file: str | None, threads: int) -> Engine:
    """The engine named ``engine``; the exported ones read ``model_file``."""
    if engine == "keras":
        from mlscale_inference.engines.keras_engine import KerasEngine

        return KerasEngine(weights, threads)
    if model_file is None:
        raise ValueError(f"the {engine} engine runs an exported model: give its file")
    if engine == "litert":
        from mlscale_inference.engines.litert_engine import LiteRTEngine

        return LiteRTEngine(model_file, threads)
    if engine == "onnx":
        from mlscale_inference.engines.onnx_engine import ONNXEngine

        return ONNXEngine(model_file, threads)
    raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
