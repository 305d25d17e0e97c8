"""Bytes of a JPEG or PNG -> the model's input tensor, cheaply.

JPEG is decoded with Pillow's draft mode, which lets libjpeg scale down by 1/2, 1/4 or 1/8
while decoding (DCT scaling), so an 800×600 photo costs a 400×300 decode, not a full one; the
rest of the way is a box (area-average) filter, the cheapest one that does not alias.
Pixels stay uint8: scaling to [-1, 1] is part of the compiled model graph.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

SUPPORTED_FORMATS = ("JPEG", "PNG")


class ImageError(ValueError):
    """The bytes are not an image this service accepts. ``kind`` becomes the JSON ``error``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def decode_image(
    data: bytes, size: int, max_pixels: int, decode_budget: int | None = None
) -> npt.NDArray[np.uint8]:
    """Decode and resize to ``size``×``size`` RGB, uint8."""
    image = open_image(data, max_pixels)
    if decode_budget is not None:
        check_decode_budget(image, size, decode_budget)
    return to_tensor(image, size)


def decoded_pixels(image: Image.Image, size: int) -> int:
    """Pixels a decode for a ``size``×``size`` input produces: a JPEG's draft mode scales by the
    largest of 1/2, 1/4, 1/8 that keeps both sides at least ``size``; a PNG decodes whole."""
    width, height = image.size
    scale = 1
    while image.format == "JPEG" and scale < 8 and min(width, height) // (scale * 2) >= size:
        scale *= 2
    return -(-width // scale) * -(-height // scale)


def check_decode_budget(image: Image.Image, size: int, budget: int) -> None:
    """Refuse (closing it) an image whose decode would produce more than ``budget`` pixels: a
    128 KB PNG of 39.7 MP cost 0.53 s of CPU and 170 MB, 36 times a photo's decode."""
    pixels = decoded_pixels(image, size)
    if pixels > budget:
        width, height = image.size
        fmt = image.format
        image.close()
        raise ImageError(
            "image_too_large",
            f"decoding this {width}x{height} {fmt} makes {pixels} pixels, over the decode budget of "
            f"{budget} (the model takes {size}x{size}): send it scaled down",
        )


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header only (cheap): the format and the size, both checked; pixels not decoded yet."""
    try:
        with warnings.catch_warnings():
            # Pillow warns over MAX_IMAGE_PIXELS and raises over twice it: both are "too large".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("image_too_large", f"the image has too many pixels: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError("invalid_image", "the bytes are not a JPEG or PNG image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # a format's plugin choked on its header
        raise ImageError("invalid_image", f"the bytes are not a decodable image: {exc}") from None
    if image.format not in SUPPORTED_FORMATS:
        image.close()
        raise ImageError(
            "unsupported_image_format", f"{image.format} images are not accepted; send JPEG or PNG"
        )
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageError(
            "image_too_large", f"{width}x{height} pixels is over the limit of {max_pixels} pixels"
        )
    return image


def to_tensor(image: Image.Image, size: int) -> npt.NDArray[np.uint8]:
    """Decode an ``open_image`` and resize it to ``size``×``size`` RGB; closes the image."""
    with image:
        try:
            if image.format == "JPEG":
                image.draft("RGB", (size, size))
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BOX)
        except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
            raise ImageError("invalid_image", f"the image could not be decoded: {exc}") from None
    return np.asarray(rgb, dtype=np.uint8)
