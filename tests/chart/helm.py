"""Running the real helm binary on a copy of the chart whose Chart.yaml lists no subcharts.

helm refuses to render a chart whose declared dependencies are not in charts/, and the
community charts cannot be downloaded here; the copy is otherwise byte-for-byte the chart.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mlscale.backends.kubernetes.backend import chart_without_subcharts
from tests.tools import required_tool

SUBCHARTS_OFF = ["-f", str(Path(__file__).with_name("subcharts-off.yaml"))]
"""A values file, not --set: helm applies --set after every file, so a scenario could not override it."""


def helm_binary() -> str:
    return required_tool("helm", how="`nox -s tests` extracts it into .nox/tools/bin")


@functools.cache
def chart_copy() -> Path:
    return chart_without_subcharts()  # the very copy the backend installs without monitoring


def helm(*args: str) -> str:
    """Run helm in the chart copy; a failure raises AssertionError with helm's own words."""
    result = subprocess.run(
        [helm_binary(), *args], cwd=chart_copy(), capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result.stdout + result.stderr


def render(
    values: Sequence[Path | str],
    *,
    kube_version: str | None = None,
    api_versions: Sequence[str] = (),
    raw_args: bool = False,
) -> list[dict[str, Any]]:
    """`helm template mlscale .` with the subcharts off, then the given values files (or raw args)."""
    args = ["template", "mlscale", ".", *SUBCHARTS_OFF]
    args += [str(v) for v in values] if raw_args else [a for v in values for a in ("-f", str(v))]
    if kube_version:
        args += ["--kube-version", kube_version]
    for api in api_versions:
        args += ["--api-versions", api]
    return [d for d in yaml.safe_load_all(helm(*args)) if d]
