"""Export the Keras model once to a faster engine's file, cached under a content hash.

``python -m mlscale_inference.export --engine litert --weights none --cache-dir DIR`` prints the
file's path, converting only if no file of the same content hash is there. The hash covers what
decides the file's bytes: the engine, the weights (the file's SHA-256, or imagenet / none), the
versions of TensorFlow, Keras and the converter, and this module's format. The image build runs it
in a builder stage; the local backend runs it once before starting replicas. It needs TensorFlow;
the engines that run its output do not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mlscale_inference.engines import EXPORTED_SUFFIX
from mlscale_inference.model import INPUT_NAME, MODEL_NAME, classify_function, frozen_graph, keras_network

FORMAT = 1
"""Bumped when this module changes what it writes."""
ONNX_OPSET = 17
CONVERTERS = {"litert": ("tensorflow",), "onnx": ("tensorflow", "tf2onnx", "onnx")}


def _installed(*names: str) -> str:
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "absent"


def weights_identity(weights: str) -> str:
    if weights in ("imagenet", "none"):
        return weights
    digest = hashlib.sha256()
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def provenance(engine: str, weights: str) -> dict[str, object]:
    """What decides the exported file's bytes (its content hash is this, hashed)."""
    versions = {"tensorflow": _installed("tensorflow-cpu", "tensorflow"), "keras": _installed("keras")}
    if engine == "onnx":
        versions |= {"tf2onnx": _installed("tf2onnx"), "onnx": _installed("onnx"), "opset": str(ONNX_OPSET)}
    return {"model": MODEL_NAME, "engine": engine, "weights": weights_identity(weights),
            "versions": versions, "format": FORMAT}  # fmt: skip


def cached_path(cache_dir: Path, engine: str, weights: str) -> Path:
    meta = json.dumps(provenance(engine, weights), sort_keys=True).encode()
    key = hashlib.sha256(meta).hexdigest()[:20]
    return cache_dir / f"{MODEL_NAME}-{engine}-{key}{EXPORTED_SUFFIX[engine]}"


def convert(engine: str, weights: str) -> bytes:
    """The Keras model with ``weights`` as the engine's file (uint8 in, probabilities out)."""
    model = keras_network(weights)
    if engine == "litert":
        import tensorflow as tf

        # The frozen graph: converting the tf.function itself keeps the weights as resource
        # variables that LiteRT leaves uninitialised (its outputs were NaN).
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen_graph(model)])
        return bytes(converter.convert())
    if engine == "onnx":
        import tf2onnx

        function = classify_function(model)
        proto, _ = tf2onnx.convert.from_function(
            function, input_signature=function.input_signature, opset=ONNX_OPSET
        )
        return bytes(proto.SerializeToString())
    raise ValueError(f"{engine!r} has no exported form; one of {', '.join(EXPORTED_SUFFIX)}")


def ensure_exported(cache_dir: Path, engine: str, weights: str) -> Path:
    """The cached file for (engine, weights), converted now if it is not there yet."""
    path = cached_path(cache_dir, engine, weights)
    if path.is_file():
        return path
    started = time.perf_counter()
    data = convert(engine, weights)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed into place: two exports at once never leave half a file.
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".part", delete=False) as part:
        part.write(data)
    os.chmod(part.name, 0o644)  # a temporary file is 0600: an image's non-root user could not read it
    os.replace(part.name, path)
    sidecar = {**provenance(engine, weights), "input": INPUT_NAME, "bytes": len(data),
               "export_s": round(time.perf_counter() - started, 2)}  # fmt: skip
    path.with_suffix(path.suffix + ".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return path


def export_into(folder: Path, engine: str, weights: str) -> Path:
    """The export as ``folder/model<suffix>`` (an image's fixed place), with its provenance beside."""
    cached = ensure_exported(folder / ".cache", engine, weights)
    path = folder / f"model{EXPORTED_SUFFIX[engine]}"
    os.replace(cached, path)
    os.replace(cached.with_suffix(cached.suffix + ".json"), path.with_suffix(path.suffix + ".json"))
    (folder / ".cache").rmdir()
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mlscale_inference.export",
        description="Export the Keras MobileNetV2 to a faster engine's file (cached); print its path.",
    )
    parser.add_argument("--engine", required=True, choices=sorted(EXPORTED_SUFFIX))
    parser.add_argument("--weights", default="imagenet", help="imagenet, none or a weights file")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--cache-dir", type=Path, help="where exported files are kept, by content hash")
    where.add_argument("--into", type=Path, help="write FOLDER/model.tflite or .onnx (an image build)")
    args = parser.parse_args(argv)
    if args.weights not in ("imagenet", "none") and not Path(args.weights).is_file():
        parser.error(f"--weights {args.weights!r} is neither imagenet, none nor a file")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.into is not None:
        print(export_into(args.into, args.engine, args.weights))
    else:
        print(ensure_exported(args.cache_dir, args.engine, args.weights))


if __name__ == "__main__":
    main()
