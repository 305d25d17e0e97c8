"""Where mlscale finds what it ships and where it keeps its state: resolved here, and only here.

What mlscale ships (the Helm chart with its ``values.yaml``, the two services' build contexts, the
workloads and the sample images) is package data under ``mlscale/_data`` in a built wheel
(``setup.py`` copies it there), and the checkout's own folders when mlscale runs from a source tree
(an editable install). Anything missing is a ``ResourceMissing`` that names it; nothing is found by
counting parent directories.

The state directory (``.mlscale`` under the working directory, or ``$MLSCALE_STATE_DIR``) holds the
state file, tokens and logs of the system that is up.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from mlscale.errors import ResourceMissing

PACKAGED = Path(__file__).resolve().parent / "_data"
RESOURCES = ("helm", "services", "workloads", "images")
"""Top-level folders of the checkout that a wheel carries under ``mlscale/_data``."""


def state_dir() -> Path:
    return Path(os.environ.get("MLSCALE_STATE_DIR", ".mlscale"))


def cache_dir() -> Path:
    """What is kept across systems (the exported models): ``$MLSCALE_CACHE_DIR``, or ``mlscale``
    under ``$XDG_CACHE_HOME`` (``~/.cache``)."""
    if os.environ.get("MLSCALE_CACHE_DIR"):
        return Path(os.environ["MLSCALE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlscale"


@cache
def _checkout() -> Path | None:
    """The source tree this module runs from, if it runs from one (its pyproject names mlscale)."""
    for parent in Path(__file__).resolve().parents:
        manifest = parent / "pyproject.toml"
        if manifest.is_file() and (parent / "helm" / "mlscale").is_dir():
            return parent
    return None


def resource(*parts: str) -> Path:
    """A shipped file or folder, e.g. ``resource("helm", "mlscale", "values.yaml")``."""
    for base in (PACKAGED, _checkout()):
        if base is not None and (base / Path(*parts)).exists():
            return base / Path(*parts)
    looked = ", ".join(str(b / Path(*parts)) for b in (PACKAGED, _checkout()) if b is not None)
    raise ResourceMissing(
        f"mlscale's {'/'.join(parts)} is missing (looked in {looked}); reinstall mlscale from a wheel "
        "or a checkout that has it"
    )


def chart_dir() -> Path:
    return resource("helm", "mlscale")


def values_file() -> Path:
    return resource("helm", "mlscale", "values.yaml")


def service_context(service: str) -> tuple[Path, str]:
    """The docker build context of ``dispatcher`` or ``inference`` and its Dockerfile in it: the
    whole services folder, since each image also installs ``services/http``."""
    return resource("services"), f"{service}/Dockerfile"


def local_or_shipped(path: Path, folder: str = "") -> Path:
    """``path`` if it exists; else the file of that name mlscale ships in ``folder`` (so
    ``mlscale loadtest workloads/demo.txt`` works outside a checkout); else ``path`` itself, for the
    caller's own "no such file" error."""
    if path.exists():
        return path
    try:
        return resource(*(part for part in (folder, path.name) if part))
    except ResourceMissing:
        return path
