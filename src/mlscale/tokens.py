"""Shared secrets, each in its own 0600 file under the state directory; never printed or logged.

``control``  the local supervisor's control API (``mlscale status``/``down`` present it)
``result``   the dispatcher's outcome posts to the load tester's /storeLatency
``serve``    ``mlscale loadtest --serve``'s /runLoadTest and /generateReport
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mlscale.locations import state_dir

NAMES = ("control", "result", "serve")


def token_path(name: str, directory: Path | None = None) -> Path:
    if name not in NAMES:
        raise ValueError(f"unknown token {name!r}")
    return (directory or state_dir()) / f"{name}-token"


def read_token(name: str, directory: Path | None = None) -> str | None:
    try:
        return token_path(name, directory).read_text().strip() or None
    except FileNotFoundError:
        return None


def ensure_token(name: str, directory: Path | None = None) -> str:
    """The token, made on first use (``write_private``)."""
    existing = read_token(name, directory)
    if existing is not None:
        return existing
    token = secrets.token_urlsafe(32)
    write_private(token_path(name, directory), token)
    return token


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner alone: created 0600 (O_EXCL), then moved in
    place, so no other user can read it at any moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    temporary.replace(path)
