"""What the local backend is asked to run, validated when it is made (the CLI and the supervisor's
command line both build it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlscale import defaults
from mlscale.autoscaling.policies.base import POLICY_NAMES
from mlscale.backends.base import ENGINE_NAMES, cpu_millicores
from mlscale.errors import InputError

NAMED_WEIGHTS = ("imagenet", "none")


@dataclass(frozen=True)
class LocalOptions:
    weights: str = "none"
    """imagenet, none (random, the same CPU), or the path of a weights file."""
    engine: str = "keras"
    """keras, litert or onnx: what runs the model in each replica."""
    model_file: Path | None = None
    """The exported model litert or onnx runs (``up`` exports it before the supervisor starts)."""
    cpu_request: str = "500m"
    dispatcher_port: int = defaults.DISPATCHER_PORT
    result_url: str = defaults.RESULT_URL
    concurrency: int | None = None
    """Dispatcher forwarders, fixed; None: two per ready replica."""
    time_scale: float = 1.0
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_cpu: int | None = None
    max_starting: int | None = 1
    """Replicas starting at once (the rest wait, Pending); None: no limit."""
    policy: str | None = None
    """cpu, queue, kpa or oracle; None: values.yaml's ``autoscaling.policy``."""
    values_file: Path | None = None
    """values.yaml with the autoscaling and probe settings; None: the chart's own."""
    state_dir: Path = Path(".mlscale")
    images: Path | None = None
    """Images the calibration sends (None or a missing folder: a synthetic JPEG)."""
    calibrate: bool = True

    def __post_init__(self) -> None:
        if self.weights not in NAMED_WEIGHTS and not Path(self.weights).is_file():
            raise InputError(f"--weights must be imagenet, none or a weights file; {self.weights!r} is none")
        try:
            if cpu_millicores(self.cpu_request) <= 0:
                raise ValueError(self.cpu_request)
        except ValueError as exc:
            raise InputError(
                f"--cpu-request {self.cpu_request!r} is not a CPU quantity > 0 (e.g. 500m)"
            ) from exc
        if not 0 < self.dispatcher_port < 65536:
            raise InputError(f"--dispatcher-port must be in 1..65535, not {self.dispatcher_port}")
        url = urlsplit(self.result_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InputError(f"--result-url must be an http(s) URL, not {self.result_url!r}")
        if self.policy is not None and self.policy not in POLICY_NAMES:
            raise InputError(f"--policy must be one of {', '.join(POLICY_NAMES)}, not {self.policy!r}")
        if self.engine not in ENGINE_NAMES:
            raise InputError(f"--engine must be one of {', '.join(ENGINE_NAMES)}, not {self.engine!r}")
        if self.max_starting is not None and self.max_starting < 1:
            raise InputError(f"--max-starting must be >= 1, not {self.max_starting}")
        if self.concurrency is not None and self.concurrency < 1:
            raise InputError(f"concurrency must be >= 1, not {self.concurrency}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> LocalOptions:
        data: dict[str, Any] = json.loads(text)
        for key in ("values_file", "state_dir", "images", "model_file"):
            if data.get(key) is not None:
                data[key] = Path(data[key])
        return cls(**data)
