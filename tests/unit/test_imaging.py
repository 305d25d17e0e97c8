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


@pytest.mark.parametrize(
    ("fmt", "size", "decoded"),
    [
        ("PNG", (3000, 3000), 9_000_000),  # a PNG decodes whole
        ("JPEG", (3000, 3000), 375 * 375),  # 1/8: both sides stay over 224
        ("JPEG", (800, 600), 400 * 300),  # 1/2: 1/4 would make 150 rows, under 224
        ("JPEG", (224, 224), 224 * 224),
    ],
)
def test_decoded_pixels_follow_jpeg_draft_scaling(fmt: str, size: tuple[int, int], decoded: int) -> None:
    from mlscale_inference.imaging import decoded_pixels, open_image

    image = open_image(encode(Image.new("RGB", size), fmt), 40_000_000)
    assert decoded_pixels(image, 224) == decoded


def test_the_decode_budget_refuses_a_small_file_of_many_pixels_and_passes_a_big_photo() -> None:
    png = encode(Image.new("L", (6300, 6300)), "PNG")  # issue 31: 128 KB, 39.7 MP, 0.53 s to decode
    assert len(png) < 200_000
    with pytest.raises(ImageError) as caught:
        decode_image(png, 224, 40_000_000, decode_budget=2048 * 2048)
    assert caught.value.kind == "image_too_large"
    assert "decode budget" in caught.value.detail
    photo = jpeg_bytes(4000, 3000)  # 12 MP from a phone: its draft decode is 500x375
    assert decode_image(photo, 224, 40_000_000, decode_budget=2048 * 2048).shape == (224, 224, 3)


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
