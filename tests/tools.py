"""Programs some tests need from outside Python (Chromium, helm, Prometheus).

On a developer's machine without one, its tests skip and say how to get it; CI sets
MLSCALE_REQUIRE_TOOLS=1, where a missing program fails instead.
"""

from __future__ import annotations

import os
import shutil

import pytest


def optional_tool(*names: str, how: str) -> str | None:
    """The first of ``names`` on PATH; None when absent (a failure when tools are required)."""
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    if os.environ.get("MLSCALE_REQUIRE_TOOLS"):
        pytest.fail(f"{names[0]} is not on PATH ({how})")
    return None


def required_tool(*names: str, how: str) -> str:
    """The first of ``names`` on PATH, or the calling test skips saying how to get it."""
    found = optional_tool(*names, how=how)
    if found is None:
        pytest.skip(f"{names[0]} is not on PATH ({how})")
    return found
