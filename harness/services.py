"""Real service processes on 127.0.0.1 and sample images, for the tests and the benchmarks."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlscale.net import free_port as free_port  # one definition, re-exported

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def jpeg_bytes(width: int = 800, height: int = 600, source: str = "chelsea.png") -> bytes:
    """A real photograph resized to ``width``×``height`` and saved as JPEG."""
    from PIL import Image

    with Image.open(IMAGES / source) as image:
        out = io.BytesIO()
        image.convert("RGB").resize((width, height)).save(out, "JPEG", quality=90)
        return out.getvalue()


@dataclass
class ServiceProcess:
    """A service started as its own process group, so teardown leaves nothing behind."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_module(module: str, args: Sequence[str], log_path: Path, port: int) -> ServiceProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return ServiceProcess(process, f"http://127.0.0.1:{port}", log_path)


def wait_ready(service: ServiceProcess, timeout: float = 120.0, path: str = "/readyz") -> None:
    """Poll ``path`` until it answers 200; fail with the service's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise AssertionError(f"service exited with {service.process.returncode}:\n{service.log()}")
            try:
                if client.get(service.url + path).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise AssertionError(f"service not ready after {timeout}s:\n{service.log()}")


def start_dispatcher(log_path: Path, *args: str) -> ServiceProcess:
    """A real dispatcher process on a free port of 127.0.0.1, ready to take work."""
    service = start_module("mlscale_dispatcher", [*args, "--log-level", "warning"], log_path, free_port())
    wait_ready(service, timeout=30)
    return service


def wait_exit(service: ServiceProcess, timeout: float) -> int:
    try:
        return service.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"service still running after {timeout}s:\n{service.log()}") from None
