"""mlscale's one error tree. The CLI turns each into a message and an exit code, once, at its edge.

MlscaleError            anything mlscale reports to a person (exit 1)
└── InputError          a file, folder or option the user gave is unusable (exit 2)
    ├── WorkloadError   a workload file: names the file, line and column
    └── ImageFolderError an image folder: missing, empty, or holding a corrupt file
"""

from __future__ import annotations


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
