"""A replica on a fast engine, as a process: it serves from the export alone, without TensorFlow
in the process, and says which engine it runs and how its start-up went."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.services import IMAGES, ServiceProcess, b64, free_port, start_module, wait_ready
from tests.engine_answers import run_module


@pytest.fixture(scope="module", params=["litert", "onnx"])
def fast_replica(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    engine: str = request.param
    where = tmp_path_factory.mktemp(engine)
    model = run_module("mlscale_inference.export", "--engine", engine, "--weights", "none",
                       "--cache-dir", str(where / "cache"))  # fmt: skip
    service = start_module("mlscale_inference",
                           ["--weights", "none", "--engine", engine, "--model-file", model,
                            "--replica-id", f"fast-{engine}"],
                           where / "replica.log", free_port())  # fmt: skip
    try:
        wait_ready(service, timeout=120)
        yield service
    finally:
        service.stop()


def test_a_fast_replica_serves_without_tensorflow(fast_replica: ServiceProcess) -> None:
    response = httpx.post(f"{fast_replica.url}/infer",
                          json={"image": b64((IMAGES / "rocket.jpg").read_bytes())}, timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 5
    # Nothing of TensorFlow was loaded: no library of it is mapped into the process.
    maps = Path(f"/proc/{fast_replica.process.pid}/maps").read_text()
    assert "tensorflow" not in maps.lower()


def test_a_fast_replica_names_its_engine_and_start_up(fast_replica: ServiceProcess) -> None:
    text = httpx.get(f"{fast_replica.url}/metrics").text
    (info,) = [line for line in text.splitlines() if line.startswith("mlscale_inference_model_info{")]
    engine = fast_replica.log_path.parent.name.rstrip("0123456789")
    assert f'engine="{engine}"' in info
    lines = [line for line in text.splitlines() if line.startswith("mlscale_inference_startup_seconds{")]
    phases = {line.split('phase="')[1].split('"')[0] for line in lines}
    assert phases == {"interpreter", "import", "load", "warmup", "ready"}


def test_a_fast_engine_without_its_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    service = start_module("mlscale_inference", ["--engine", "litert", "--weights", "none"],
                           tmp_path / "replica.log", free_port())  # fmt: skip
    assert service.process.wait(timeout=60) == 2
    assert "python -m mlscale_inference.export --engine litert" in service.log()
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"")
    wrong = start_module("mlscale_inference", ["--engine", "litert", "--model-file", str(onnx)],
                         tmp_path / "wrong.log", free_port())  # fmt: skip
    assert wrong.process.wait(timeout=60) == 2
    assert "is not a litert model (a .tflite file)" in wrong.log()
