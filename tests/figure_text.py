"""Which texts of a figure overlap, as drawn: each text's window extent from the renderer that
drew it, so only what reached the canvas counts (not tick labels outside the view, not "")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from matplotlib.backend_bases import RendererBase
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

SLACK_PX = 1.0
"""Boxes that touch by a pixel (antialiasing, rounding) do not overlap."""


def drawn_texts(figure: Figure) -> list[tuple[str, Bbox]]:
    drawn: list[tuple[str, Bbox]] = []
    original = Text.draw

    def record(self: Text, renderer: RendererBase) -> None:
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append((self.get_text(), self.get_window_extent(renderer)))

    with mock.patch.object(Text, "draw", record):
        figure.draw_without_rendering()
    return drawn


def overlaps(figure: Figure) -> list[tuple[str, str]]:
    """Every pair of drawn texts whose boxes overlap by more than ``SLACK_PX`` both ways."""
    texts = drawn_texts(figure)
    found = []
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1 :]:
            wide = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            high = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if wide > SLACK_PX and high > SLACK_PX:
                found.append((a, b))
    return found


@contextmanager
def saved_figures(module: object) -> Iterator[list[tuple[str, Figure]]]:
    """The figures ``module.save(figure, path)`` is given while the block runs, saved as usual."""
    kept: list[tuple[str, Figure]] = []
    real = module.save  # type: ignore[attr-defined]

    def keep(figure: Figure, path: object) -> object:
        kept.append((str(path), figure))
        return real(figure, path)

    with mock.patch.object(module, "save", keep):
        yield kept
