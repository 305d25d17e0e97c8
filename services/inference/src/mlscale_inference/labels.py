"""The 1,000 ImageNet-1k classes in the order of keras' MobileNetV2 outputs.

Shipped with the package (taken from timm's ``data/_info``) because keras downloads its
class index at run time, which a container without network access cannot do.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def imagenet_labels() -> tuple[str, ...]:
    text = resources.files("mlscale_inference").joinpath("data/imagenet_classes.tsv").read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    labels = tuple(row[2] for row in rows)
    if len(labels) != 1000 or any(int(row[0]) != i for i, row in enumerate(rows)):
        raise RuntimeError("imagenet_classes.tsv is damaged: expected class ids 0..999 in order")
    return labels
