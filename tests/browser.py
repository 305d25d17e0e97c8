"""report.html in a real browser: Debian's headless Chromium, driven by playwright (no download).

CI installs Chromium and sets MLSCALE_REQUIRE_TOOLS=1, so a missing browser fails there; on a
developer's machine without it, the browser tests skip and say why.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from tests.tools import required_tool


def chromium() -> str:
    return required_tool("chromium", "chromium-browser", how="apt-get install chromium")


@dataclass
class RenderedPage:
    errors: list[str] = field(default_factory=list)
    """Console errors, page errors and failed requests."""
    images: list[dict[str, Any]] = field(default_factory=list)
    """Each <img>: alt, complete, natural size, rendered width."""
    figures: list[Image.Image] = field(default_factory=list)
    """A screenshot of each <figure> as the browser drew it."""


def render(page_path: Path, screenshot: Path | None = None) -> RenderedPage:
    from playwright.sync_api import sync_playwright

    result = RenderedPage()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("console", lambda m: result.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: result.errors.append(str(e)))
            page.on("requestfailed", lambda r: result.errors.append(f"failed: {r.url}"))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            result.images = page.evaluate(
                "() => [...document.images].map(i => ({alt: i.alt, complete: i.complete,"
                " width: i.naturalWidth, height: i.naturalHeight, shown: i.getBoundingClientRect().width}))"
            )
            for figure in page.locator("figure").all():
                figure.scroll_into_view_if_needed()
                assert figure.is_visible()
                result.figures.append(Image.open(io.BytesIO(figure.screenshot())).convert("RGB"))
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return result


def drawn_fraction(image: Image.Image) -> float:
    """The share of pixels that are not (near) white: 0 for a blank or broken image."""
    grey = image.convert("L")
    histogram = grey.histogram()
    return 1 - sum(histogram[245:]) / (grey.width * grey.height)
