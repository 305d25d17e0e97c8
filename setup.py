"""Packaging only: a built wheel carries the chart, the services' build contexts, the workloads and the
sample images under ``mlscale/_data`` (``mlscale.locations`` finds them there; an editable install
finds them in the checkout)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
RESOURCES = ("helm", "services", "workloads", "images")  # mlscale.locations.RESOURCES
SKIP = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc", "build", "charts", "Chart.lock")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "mlscale" / "_data"
        for name in RESOURCES:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, target / name, ignore=SKIP, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithResources})
