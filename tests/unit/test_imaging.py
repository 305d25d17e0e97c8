from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from harness.services import IMAGES, jpeg_bytes
from mlscale_inference.imaging import ImageError, decode_image
from mlscale_inference.labels import imagenet_labels
from mlscale_inference.model import top_k


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(p.name for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg")))
def test_shipped_photos_decode_to_the_model_input(name: str) -> None:
    pixels = decode_image((IMAGES / name).read_bytes(), 224, 40_000_000)
    assert pixels.shape == (224, 224, 3)
    assert pixels.dtype == np.uint8
    assert int(pixels.min()) < int(pixels.max())


def test_jpeg_draft_mode_matches_a_full_decode_closely() -> None:
    data = jpeg_bytes(800, 600)
    fast = decode_image(data, 224, 40_000_000)
    with Image.open(io.BytesIO(data)) as image:
        full = np.asarray(image.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR), np.float32)
    # DCT scaling changes pixels a little, not the picture: mean error under 2 % of the range.
    assert float(np.abs(fast.astype(np.float32) - full).mean()) < 0.02 * 255


def test_colour_channels_keep_their_order() -> None:
    red = decode_image(encode(Image.new("RGB", (50, 40), (255, 0, 0)), "PNG"), 224, 10**6)
    assert int(red[..., 0].min()) == 255
    assert int(red[..., 1].max()) == 0


def test_grey_and_alpha_images_become_rgb() -> None:
    for mode in ("L", "RGBA", "P"):
        assert decode_image(encode(Image.new(mode, (30, 30)), "PNG"), 224, 10**6).shape == (224, 224, 3)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"plain text, not an image", "invalid_image"),
        (encode(Image.new("RGB", (10, 10)), "GIF"), "unsupported_image_format"),
        (jpeg_bytes(800, 600)[:2000], "invalid_image"),
    ],
)
def test_bad_bytes_raise_image_error_with_a_kind(data: bytes, kind: str) -> None:
    with pytest.raises(ImageError) as caught:
        decode_image(data, 224, 40_000_000)
    assert caught.value.kind == kind


def test_pixel_limit_stops_decompression_bombs() -> None:
    data = encode(Image.new("L", (3000, 3000)), "PNG")  # a few kB that would expand to 9 Mpx
    with pytest.raises(ImageError) as caught:
        decode_image(data, 224, 1_000_000)
    assert caught.value.kind == "image_too_large"


def test_labels_are_imagenet_in_keras_order() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert (labels[0], labels[281], labels[999]) == ("tench", "tabby", "toilet_tissue")


def test_top_k_returns_the_best_classes_best_first() -> None:
    probabilities = np.full(1000, 0.0001, dtype=np.float32)
    probabilities[[281, 7, 500]] = [0.5, 0.3, 0.1]
    best = top_k(probabilities, 3, imagenet_labels())
    assert [p["class_id"] for p in best] == [281, 7, 500]
    assert best[0] == {"label": "tabby", "class_id": 281, "score": pytest.approx(0.5)}
