"""mlscale's one error tree. The CLI turns each into a message and an exit code, once, at its edge
(``cli_edge.guarded``); the cause, when there is one, is chained (``raise … from exc``) and shown
with ``MLSCALE_DEBUG=1``.

MlscaleError                anything mlscale reports to a person (exit 1)
├── InputError              a file, folder or option the user gave is unusable (exit 2)
│   ├── WorkloadError       a workload file: names the file, line and column
│   ├── ImageFolderError    an image folder: missing, empty, or holding a corrupt file
│   ├── ConfigError         values.yaml's autoscaling section, or an override of it
│   ├── ThresholdError      a report threshold (``p95 < 500ms``) that does not parse
│   ├── ResourceMissing     a file mlscale ships (chart, workloads, images) is not where it looks
│   └── PreflightError      the kubernetes backend's checks failed before anything changed
├── NotUp                   no system is up (or its supervisor is gone)
├── AlreadyUp               a system is up already
├── StartError              the system did not come up (it was torn down again)
├── BackendUnreachable      the running system's control API or cluster did not answer
├── AdapterError            a tool (docker, helm, kubectl, minikube) or the API server said no
└── LoadTestInterrupted     Ctrl-C during a run: the partial run is written (exit 130)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class MlscaleError(Exception):
    exit_code = 1


class InputError(MlscaleError):
    exit_code = 2


class WorkloadError(InputError):
    def __init__(self, path: str, line: int, column: int, problem: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {problem}")
        self.path, self.line, self.column, self.problem = path, line, column, problem


class ImageFolderError(InputError):
    pass


class ConfigError(InputError):
    pass


class ThresholdError(InputError):
    pass


class ResourceMissing(InputError):
    pass


class Describable(Protocol):
    def describe(self) -> str: ...


class PreflightError(InputError):
    def __init__(self, problems: Sequence[Describable]) -> None:
        lines = "\n".join(p.describe() for p in problems)
        super().__init__(
            f"the kubernetes backend cannot start; {len(problems)} problem(s), nothing was changed:\n{lines}"
        )
        self.problems = problems


class NotUp(MlscaleError):
    pass


class AlreadyUp(MlscaleError):
    pass


class StartError(MlscaleError):
    pass


class BackendUnreachable(MlscaleError):
    pass


class AdapterError(MlscaleError):
    """A tool or the cluster said no; the message is theirs, with what was asked."""


class LoadTestInterrupted(MlscaleError):
    """Ctrl-C during a run: what was recorded is written, marked partial."""

    exit_code = 130

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; the partial run is in {run_dir} (mlscale report {run_dir})")
        self.run_dir = run_dir
