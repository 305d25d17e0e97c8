"""The CLI's two terminals: what a command prints, and its errors (stderr). One of each."""

from __future__ import annotations

from rich.console import Console

console = Console()
errors = Console(stderr=True)
