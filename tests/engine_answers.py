"""``python -m tests.engine_answers ENGINE WEIGHTS MODEL_FILE OUT.npy``: one engine's probabilities
on every image in images/ and 200 random ones, saved for a test to compare.

Engines run in a process of their own: TensorFlow in the pytest process took its stderr with it
(absl's logging) and later tests' output capture crashed with ``lost sys.stderr``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
RANDOM_IMAGES = 200


def run_module(*args: str) -> str:
    """``python -m ARGS`` from the checkout; its last line of output (a path)."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ}
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, (
        f"python -m {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    )
    return done.stdout.strip().splitlines()[-1]


def answers(engine: str, weights: str, model_file: str | None, out: Path) -> npt.NDArray[np.float32]:
    """The engine's (images, 1000) probabilities, computed in a fresh process."""
    run_module("tests.engine_answers", engine, weights, model_file or "-", str(out))
    loaded: npt.NDArray[np.float32] = np.load(out)
    return loaded


def main(engine: str, weights: str, model_file: str, out: str) -> None:
    from mlscale_inference.engines import load_engine
    from tests.models import random_images, sample_images

    model = load_engine(engine, weights, None if model_file == "-" else model_file, threads=1)
    images = sample_images() + random_images(RANDOM_IMAGES)
    np.save(out, np.concatenate([model.predict(image[np.newaxis]) for image in images]))
    print(out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
