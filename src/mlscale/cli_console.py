"""The CLI's two terminals: what a command prints, and its errors (stderr). One of each."""

from __future__ import annotations

from rich.console import Console

console = Console()
errors = Console(stderr=True, soft_wrap=True)
"""Errors are never broken across lines by the console: a path or a command in one must stay whole
(a test that looked for "no such image folder" failed when the wrap fell between "no" and "such")."""
