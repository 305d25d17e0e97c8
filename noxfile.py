"""Sessions: lint, typecheck, tests, bench.

All sessions share one virtual environment, ``.nox/shared``: tensorflow alone is 1.6 GB, and
nox would otherwise build it once per session. It is rebuilt when a ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]

ROOT = Path(__file__).parent
VENV = ROOT / ".nox" / "shared"
PROJECTS = [ROOT, ROOT / "services" / "inference", ROOT / "services" / "dispatcher"]
INSTALL = ["-e", f"{ROOT}[dev]", *[arg for p in PROJECTS[1:] for arg in ("-e", str(p))]]
CHECKED = ["src", "services/inference/src", "services/dispatcher/src"]


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for project in PROJECTS:
        digest.update((project / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def tool(name: str) -> str:
    """A program inside the shared venv (nox looks programs up on its own PATH, not the session's)."""
    return str(VENV / "bin" / name)


def shared_env(session: nox.Session) -> dict[str, str]:
    """Create or refresh ``.nox/shared`` and return the environment that puts it first on PATH."""
    stamp = VENV / ".mlscale-fingerprint"
    python = VENV / "bin" / "python"
    if not (python.exists() and stamp.exists() and stamp.read_text() == _fingerprint()):
        uv = shutil.which("uv")
        if uv:
            session.run(uv, "venv", "--allow-existing", "--python", sys.executable, str(VENV), external=True)
            session.run(uv, "pip", "install", "--python", str(python), *INSTALL, external=True)
        else:
            session.run(sys.executable, "-m", "venv", str(VENV), external=True)
            session.run(str(python), "-m", "pip", "install", *INSTALL, external=True)
        stamp.write_text(_fingerprint())
    return {
        "VIRTUAL_ENV": str(VENV),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    env = shared_env(session)
    session.run(tool("ruff"), "check", ".", env=env, external=True)
    session.run(tool("ruff"), "format", "--check", ".", env=env, external=True)


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the CLI package and the services."""
    env = shared_env(session)
    session.run(tool("mypy"), *CHECKED, "tests", "bench", env=env, external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """pytest: unit tests, then integration tests that start real services on 127.0.0.1."""
    env = shared_env(session)
    session.run(tool("pytest"), *session.posargs, env=env, external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Benchmarks: ``nox -s bench -- inference`` (or dispatcher, loadgen; none = all)."""
    env = shared_env(session)
    session.run(tool("python"), "-m", "bench", *session.posargs, env=env, external=True)
