"""One command-line tool run to completion: its output, or an AdapterError in its own words."""

from __future__ import annotations

import subprocess

from mlscale.errors import AdapterError


def run_tool(args: list[str], timeout: float = 600) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise AdapterError(f"{args[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise AdapterError(f"`{' '.join(args)}` took longer than {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise AdapterError(f"`{' '.join(args)}` failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout
