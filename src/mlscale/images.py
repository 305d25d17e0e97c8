"""The image pool: every JPEG and PNG of a folder, base64-encoded once, before the test starts."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mlscale.errors import ImageFolderError

EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ImagePool:
    folder: Path
    names: tuple[str, ...]
    encoded: tuple[str, ...]

    def pick(self, index: int) -> tuple[str, str]:
        """The ``index``-th image, round robin: (file name, base64)."""
        i = index % len(self.encoded)
        return self.names[i], self.encoded[i]


def load_images(folder: Path) -> ImagePool:
    if not folder.is_dir():
        raise ImageFolderError(
            f"{folder}: no such image folder; pass --images DIR with .jpg/.jpeg/.png files"
        )
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not paths:
        raise ImageFolderError(f"{folder}: no .jpg, .jpeg or .png files in this folder")
    encoded = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:  # unreadable (permissions), or gone since the listing
            raise ImageFolderError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
        try:
            with Image.open(path) as image:
                image.verify()  # header and structure, without a full decode
        except Image.DecompressionBombError as exc:
            raise ImageFolderError(f"{path}: too many pixels for a test image ({exc})") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageFolderError(f"{path}: not a readable JPEG or PNG ({exc})") from exc
        encoded.append(base64.b64encode(data).decode("ascii"))
    return ImagePool(folder, tuple(p.name for p in paths), tuple(encoded))
