"""The ``mlscale`` command: thin, it parses, calls the library and prints."""

from __future__ import annotations

import platform

import typer
from rich.console import Console

from mlscale import __version__

app = typer.Typer(
    name="mlscale",
    help="Run and study autoscaled ML inference: bring the system up, load it, report, tear it down.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.command()
def version() -> None:
    """Print mlscale's version and the Python it runs on."""
    console.print(f"mlscale {__version__} (Python {platform.python_version()})")


@app.callback()
def main() -> None:
    """Run and study autoscaled ML inference."""
