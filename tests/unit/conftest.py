"""Unit tests reach no infrastructure: sockets to anything but loopback, and subprocesses, raise."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_infrastructure(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in LOOPBACK:
            raise AssertionError(f"unit test tried to connect to {address!r}")
        return real_connect(self, address)

    def no_subprocess(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"unit test tried to start a process: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
