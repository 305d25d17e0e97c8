"""The exported model on ONNX Runtime's CPU provider: no TensorFlow at run time."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt


class ONNXEngine:
    def __init__(self, model_file: str, threads: int) -> None:
        started = time.perf_counter()
        import onnxruntime as ort

        self.import_s = time.perf_counter() - started
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model_file, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def predict(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        (probabilities,) = self._session.run(None, {self._input: batch})
        return np.asarray(probabilities, dtype=np.float32)
