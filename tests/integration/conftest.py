from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.services import ServiceProcess, free_port, start_module, wait_ready


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    """Three real inference replicas (weights none), started together to share TensorFlow's start-up.

    ``main`` serves the ordinary tests; ``tight`` admits only 2 requests (overload); ``doomed``
    is the one the SIGTERM test stops.
    """
    logs: Path = tmp_path_factory.mktemp("inference")
    flags = {
        "main": ["--max-pending", "64"],
        "tight": ["--max-pending", "2"],
        "doomed": ["--max-pending", "64", "--drain-timeout", "60"],
    }
    started = {
        name: start_module(
            "mlscale_inference",
            ["--weights", "none", "--replica-id", f"test-{name}", *extra],
            logs / f"{name}.log",
            free_port(),
        )
        for name, extra in flags.items()
    }
    try:
        for service in started.values():
            wait_ready(service, timeout=240)
        yield started
    finally:
        for service in started.values():
            service.stop()
