"""What the local backend needs installed beside mlscale, checked before anything starts.

It runs the dispatcher and the inference service as processes of this Python, so both packages
must be importable here, with the chosen engine's runtime; a fast engine's model is exported
first with TensorFlow and Keras. Without them the export or a replica would fail later with a
traceback from a subprocess (``No module named 'keras'``); here it is one line naming the extra.
``find_spec`` looks without importing (the CLI must not import the services or TensorFlow).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from mlscale.errors import StartError

SERVICES = ("mlscale_dispatcher", "mlscale_inference")
ENGINE_RUNTIME = {"keras": ("tensorflow", "keras"), "litert": ("ai_edge_litert",), "onnx": ("onnxruntime",)}
EXPORT = {"keras": (), "litert": ("tensorflow", "keras"), "onnx": ("tensorflow", "keras", "tf2onnx", "onnx")}
INFERENCE_EXTRAS = {"keras": "keras", "litert": "litert,export", "onnx": "onnx,export"}


def missing_modules(engine: str, exported: bool, find_spec: Callable[[str], Any] | None = None) -> list[str]:
    """The modules the local backend needs for ``engine`` that this Python cannot import
    (``exported``: the model file is given, so nothing is exported)."""
    needed = [*SERVICES, *ENGINE_RUNTIME[engine], *(() if exported else EXPORT[engine])]
    find = find_spec or importlib.util.find_spec
    return [name for name in dict.fromkeys(needed) if find(name) is None]


def check_installed(engine: str, exported: bool) -> None:
    missing = missing_modules(engine, exported)
    if missing:
        raise StartError(
            f"the local backend with the {engine} engine needs {', '.join(missing)}, not installed "
            f"here: pip install 'mlscale[local]' (the services with litert and its export), or "
            f"'mlscale-inference[{INFERENCE_EXTRAS[engine]}]' and mlscale-dispatcher"
        )
