"""The state file: which backend is up and how to reach it, so ``loadtest``, ``status`` and ``down``
find the running system (``state.json`` in ``locations.state_dir()``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlscale.errors import MlscaleError
from mlscale.locations import state_dir


def state_path() -> Path:
    return state_dir() / "state.json"


def read_state() -> dict[str, Any] | None:
    try:
        data = json.loads(state_path().read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MlscaleError(f"{state_path()} is unreadable ({exc}); remove it if no system is up") from exc
    return data if isinstance(data, dict) else None


def write_state(data: dict[str, Any]) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2))
    temporary.replace(path)


def clear_state() -> None:
    state_path().unlink(missing_ok=True)
