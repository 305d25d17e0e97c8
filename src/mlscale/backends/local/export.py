"""The fast engines' model file on the local backend: exported once per weights choice, cached.

The export runs ``python -m mlscale_inference.export`` in its own process (it imports TensorFlow;
the CLI and the supervisor do not), before any replica starts, so no replica ever converts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.console import Console

from mlscale.errors import StartError

EXPORT_TIMEOUT_S = 900.0


def exported_model(engine: str, weights: str, cache: Path, console: Console | None = None) -> Path:
    """The cached export of (engine, weights) under ``cache/models``, made now if missing."""
    command = [sys.executable, "-m", "mlscale_inference.export", "--engine", engine,
               "--weights", weights, "--cache-dir", str(cache / "models")]  # fmt: skip
    console = console or Console(stderr=True)
    with console.status(f"the {engine} model for weights {weights}: exported once, then cached in {cache}"):
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise StartError(f"exporting the model to {engine} took over {EXPORT_TIMEOUT_S:.0f} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        raise StartError(
            f"exporting the model to {engine} failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    return Path(lines[-1])
