"""The exported model on LiteRT (``ai-edge-litert``, XNNPACK on CPU): no TensorFlow at run time."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt


class LiteRTEngine:
    def __init__(self, model_file: str, threads: int) -> None:
        started = time.perf_counter()
        from ai_edge_litert.interpreter import Interpreter

        self.import_s = time.perf_counter() - started
        self._interpreter = Interpreter(model_path=model_file, num_threads=threads)
        self._interpreter.allocate_tensors()
        (entry,) = self._interpreter.get_input_details()
        (exit_,) = self._interpreter.get_output_details()
        self._input, self._output = entry["index"], exit_["index"]

    def predict(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(batch, dtype=np.uint8))
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output), dtype=np.float32)
