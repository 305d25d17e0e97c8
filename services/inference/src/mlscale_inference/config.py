"""Settings of one inference replica, from command-line flags and ``MLSCALE_INFERENCE_*`` variables.

Flags win over environment variables (containers set the latter). Every bad value raises
``ConfigError`` naming the setting and the value, and the entry point turns it into exit code 2.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlscale_inference.engines import ENGINES, EXPORTED_SUFFIX

ENV_PREFIX = "MLSCALE_INFERENCE_"


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def parse_cpu(value: str) -> float:
    """Parse a Kubernetes CPU quantity ("500m", "1", "1.5") into cores."""
    text = value.strip()
    try:
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise ConfigError(f"cpu: {value!r} is not a CPU quantity such as 500m or 1") from None
    if not math.isfinite(cores) or cores <= 0:
        raise ConfigError(f"cpu: {value!r} must be a positive quantity")
    return cores


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Settings:
    """How one replica runs.

    ``weights`` is ``imagenet`` (keras' pretrained file, fetched at image build time),
    ``none`` (random initialisation: the same CPU cost, for tests and offline demos) or a path
    to a weights file. ``cpu`` is the replica's CPU budget in cores (a pod's CPU request);
    the model's thread count follows it unless ``threads`` is given.
    """

    host: str = "127.0.0.1"
    port: int = 8001
    weights: str = "imagenet"
    engine: str = "keras"
    """keras (TensorFlow), litert or onnx (an export of the same Keras model; see ``model_file``)."""
    model_file: str | None = None
    """The exported model a litert or onnx engine runs (``python -m mlscale_inference.export``), or
    a folder holding ``model.tflite`` and/or ``model.onnx``."""
    replica_id: str = field(default_factory=_default_replica_id)
    cpu: float = 1.0
    threads: int | None = None
    max_pending: int = 16
    """Requests admitted at once (running + waiting); beyond it /infer answers 503."""
    max_image_bytes: int = 10 * 1024 * 1024
    """Largest decoded image accepted; the request body may be base64's 4/3 of it plus a little."""
    max_pixels: int = 40_000_000
    """Largest image (width × height) decoded, so a small file cannot expand into gigabytes."""
    decode_budget: int = 2048 * 2048
    """Most pixels one decode may produce (a JPEG after draft mode's 1/2 to 1/8 scaling, a PNG
    whole): 84 times the model's 224x224, so a photo or a screenshot passes and a small file that
    expands into tens of megapixels does not (``imaging.check_decode_budget``)."""
    loop_max_pixels: int = 1_000_000
    """Images up to this size are decoded on the event loop, larger ones on the worker thread (a
    megapixel of PNG is about 37 ms to decode here; JPEG's draft mode makes it a tenth of that)."""
    drain_timeout: float = 30.0
    """After SIGTERM, how long to wait for admitted requests before exiting anyway."""
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port: {self.port} is not a TCP port (1-65535)")
        if self.weights not in ("imagenet", "none") and not Path(self.weights).is_file():
            raise ConfigError(
                f"weights: {self.weights!r} is neither 'imagenet', 'none' nor an existing weights file"
            )
        if self.engine not in ENGINES:
            raise ConfigError(f"engine: {self.engine!r} is not one of {', '.join(ENGINES)}")
        if self.engine in EXPORTED_SUFFIX:
            if self.model_file is None:
                raise ConfigError(
                    f"model_file: the {self.engine} engine runs an exported model; export one with "
                    f"python -m mlscale_inference.export --engine {self.engine} and give its path"
                )
            if not Path(self.engine_file).is_file():
                raise ConfigError(f"model_file: {self.engine_file!r} is not a file")
            if not self.engine_file.endswith(EXPORTED_SUFFIX[self.engine]):
                raise ConfigError(
                    f"model_file: {self.engine_file!r} is not a {self.engine} model "
                    f"(a {EXPORTED_SUFFIX[self.engine]} file)"
                )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads: {self.threads} must be at least 1")
        if self.max_pending < 1:
            raise ConfigError(f"max_pending: {self.max_pending} must be at least 1")
        if self.decode_budget < 224 * 224:
            raise ConfigError(f"decode_budget: {self.decode_budget} is under the model's 224x224 pixels")
        if self.loop_max_pixels < 0:
            raise ConfigError(f"loop_max_pixels: {self.loop_max_pixels} must not be negative")
        if self.max_image_bytes < 1:
            raise ConfigError(f"max_image_bytes: {self.max_image_bytes} must be positive")
        if self.drain_timeout < 0:
            raise ConfigError(f"drain_timeout: {self.drain_timeout} must not be negative")
        if not self.replica_id:
            raise ConfigError("replica_id: must not be empty")

    @property
    def engine_file(self) -> str:
        """The exported file the engine runs: ``model_file``, or in a folder (an image's
        ``/opt/mlscale/model``) the engine's ``model.tflite`` or ``model.onnx``."""
        if self.model_file is None or not Path(self.model_file).is_dir():
            return self.model_file or ""
        return str(Path(self.model_file) / f"model{EXPORTED_SUFFIX.get(self.engine, '')}")

    @property
    def model_threads(self) -> int:
        """Intra-op threads for the model: one per whole core of the CPU budget, at least one."""
        return self.threads if self.threads is not None else max(1, math.floor(self.cpu + 1e-9))

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: the image in base64 plus room for the JSON around it."""
        return self.max_image_bytes * 4 // 3 + 64 * 1024

    @property
    def weights_label(self) -> str:
        return self.weights if self.weights in ("imagenet", "none") else "file"


def env_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``MLSCALE_INFERENCE_*`` variables, keyed by setting name in lower case."""
    return {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and value != ""
    }
