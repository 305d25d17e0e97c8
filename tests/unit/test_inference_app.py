"""The inference app in-process (ASGI, no server, no process) with a stand-in model: what it
refuses, how it admits, what it says while loading. The real model under Uvicorn is
tests/integration/test_inference_service.py's."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import threading
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from starlette.applications import Starlette

from harness.services import b64, jpeg_bytes
from mlscale_inference import imaging
from mlscale_inference.app import Predictor, create_app
from mlscale_inference.config import Settings
from tests.asgi import run_with

TEN_MB = 10 * 1024 * 1024


class FlatModel:
    """Every class equally likely, as MobileNetV2 with weights=None answers."""

    def predict(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.full((len(batch), 1000), 0.001, dtype=np.float32)


def app_with(loader: Callable[[Settings], Predictor], **settings: Any) -> Starlette:
    return create_app(Settings(weights="none", replica_id="in-process", **settings), loader)


def serving_model(model: Predictor) -> Callable[[Settings], Predictor]:
    return lambda settings: model


async def until_ready(client: httpx.AsyncClient) -> None:
    for _ in range(500):
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the stand-in model never became ready")


def _gif() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "GIF")
    return b64(out.getvalue())


def _bomb() -> bytes:
    """A 20000x20000 1-bit PNG: 48 KB on the wire, 400 megapixels decoded."""
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, "PNG")
    return buffer.getvalue()


BAD_INPUTS = [
    ("not json", b"{not json", 400, "invalid_json"),
    ("array body", b"[1, 2]", 400, "invalid_body"),
    ("missing image", json.dumps({"top_k": 3}).encode(), 400, "missing_field"),
    ("image not a string", json.dumps({"image": 42}).encode(), 422, "invalid_field"),
    ("bad base64", json.dumps({"image": "@@@not base64@@@"}).encode(), 400, "invalid_base64"),
    ("empty image", json.dumps({"image": ""}).encode(), 400, "invalid_image"),
    ("text bytes", json.dumps({"image": b64(b"hello, not an image")}).encode(), 400, "invalid_image"),
    ("gif", json.dumps({"image": _gif()}).encode(), 415, "unsupported_image_format"),
    ("truncated jpeg", json.dumps({"image": b64(jpeg_bytes()[:3000])}).encode(), 400, "invalid_image"),
    # Issue 13: both answered 500.
    ("decompression bomb", json.dumps({"image": b64(_bomb())}).encode(), 413, "image_too_large"),
    (
        "bmp header, random bytes",
        json.dumps({"image": b64(b"BM" + random.Random(1).randbytes(4000))}).encode(),
        400,
        "invalid_image",
    ),
    ("top_k zero", json.dumps({"image": b64(jpeg_bytes(64, 64)), "top_k": 0}).encode(), 422, "invalid_field"),
    (
        "top_k huge",
        json.dumps({"image": b64(jpeg_bytes(64, 64)), "top_k": 1001}).encode(),
        422,
        "invalid_field",
    ),
    (
        "top_k string",
        json.dumps({"image": b64(jpeg_bytes(64, 64)), "top_k": "5"}).encode(),
        422,
        "invalid_field",
    ),
    (
        "top_k bool",
        json.dumps({"image": b64(jpeg_bytes(64, 64)), "top_k": True}).encode(),
        422,
        "invalid_field",
    ),
]


@pytest.mark.parametrize(("case", "body", "status", "error"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_4xx_json_error(case: str, body: bytes, status: int, error: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        await until_ready(client)
        response = await client.post("/infer", content=body, headers={"content-type": "application/json"})
        assert response.status_code == status, response.text
        assert response.json()["error"] == error
        assert response.json()["detail"]

    run_with(app_with(serving_model(FlatModel())), scenario, lifespan=True)


def png_of(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, "PNG")
    return out.getvalue()


RAW_BAD = [  # (case, body: None for a real photo, query, status, error)
    ("empty", b"", "", 400, "invalid_image"),
    # issue 31: 128 KB, 39.7 MP (under the 40 MP header limit): over the 2048x2048 decode budget
    ("a small PNG of many pixels", png_of(6300, 6300), "", 413, "image_too_large"),
    ("text", b"hello, not an image", "", 400, "invalid_image"),
    ("top_k zero", None, "?top_k=0", 422, "invalid_field"),
    ("top_k word", None, "?top_k=five", 422, "invalid_field"),
    ("top_k superscript digit", None, "?top_k=%C2%B37", 422, "invalid_field"),
    ("top_k arabic-indic digit", None, "?top_k=%D9%A3", 422, "invalid_field"),
    ("top_k huge", None, "?top_k=1001", 422, "invalid_field"),
]


def test_a_raw_image_body_is_served_as_the_json_one_is() -> None:
    """What the dispatcher sends: the image's bytes, top_k in the query (no base64 to decode)."""
    photo = jpeg_bytes(320, 240)

    async def scenario(client: httpx.AsyncClient) -> None:
        await until_ready(client)
        for kind in ("application/octet-stream", "image/jpeg"):
            raw = await client.post("/infer?top_k=3", content=photo, headers={"content-type": kind})
            assert raw.status_code == 200, raw.text
            assert len(raw.json()["predictions"]) == 3
        plain = await client.post("/infer", content=photo, headers={"content-type": "image/jpeg"})
        assert len(plain.json()["predictions"]) == 5
        as_json = await client.post("/infer", json={"image": b64(photo), "top_k": 3})
        assert as_json.json()["predictions"] == raw.json()["predictions"]
        for case, body, query, status, error in RAW_BAD:
            bad = await client.post(f"/infer{query}", content=photo if body is None else body,
                                    headers={"content-type": "application/octet-stream"})  # fmt: skip
            assert (bad.status_code, bad.json()["error"]) == (status, error), case
        gif = await client.post("/infer", content=base64.b64decode(_gif()),
                                headers={"content-type": "image/png"})  # fmt: skip
        assert (gif.status_code, gif.json()["error"]) == (415, "unsupported_image_format")

    run_with(app_with(serving_model(FlatModel())), scenario, lifespan=True)


def test_oversize_images_and_bodies_are_413() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        image = b64(b"\xff\xd8" + bytes(TEN_MB))  # just over 10 MB once decoded
        over = await client.post("/infer", json={"image": image})
        assert (over.status_code, over.json()["error"]) == (413, "image_too_large")
        body = await client.post("/infer", content=b"x" * (15 * 1024 * 1024))
        assert (body.status_code, body.json()["error"]) == (413, "body_too_large")

    run_with(app_with(serving_model(FlatModel())), scenario, lifespan=True)


def test_unknown_route_and_method_are_json_errors() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/nope")).json()["error"] == "not_found"
        response = await client.get("/infer")
        assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")

    run_with(app_with(serving_model(FlatModel())), scenario)


def test_a_model_that_fails_to_load_says_why_on_readyz_and_infer() -> None:
    def broken(settings: Settings) -> Predictor:
        raise OSError("weights file is truncated")

    async def scenario(client: httpx.AsyncClient) -> None:
        for _ in range(500):
            ready = await client.get("/readyz")
            if ready.json()["reason"] != "loading":
                break
            await asyncio.sleep(0.01)
        assert (ready.status_code, ready.json()["reason"]) == (503, "OSError: weights file is truncated")
        infer = await client.post("/infer", json={"image": b64(jpeg_bytes(64, 64))})
        assert (infer.status_code, infer.json()["error"]) == (503, "not_ready")
        assert infer.headers["retry-after"] == "1"
        assert (await client.get("/healthz")).status_code == 200  # alive: liveness does not restart it

    run_with(app_with(broken), scenario, lifespan=True)


class HeldDecode:
    """``to_tensor`` that records the thread it ran on and, once ``hold`` is cleared, waits for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.release.set()
        self.threads: list[str] = []
        real = imaging.to_tensor

        def held(image: Image.Image, size: int) -> npt.NDArray[np.uint8]:
            self.threads.append(threading.current_thread().name)
            self.release.wait(10)
            return real(image, size)

        monkeypatch.setattr(imaging, "to_tensor", held)

    def hold(self) -> None:
        self.release.clear()


def test_admission_is_bounded_at_max_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two admitted (one decoding on the worker thread, one waiting for it): the third is 503 at once."""
    decode = HeldDecode(monkeypatch)

    async def scenario(client: httpx.AsyncClient) -> None:
        await until_ready(client)
        image = b64(jpeg_bytes(64, 64))
        decode.hold()
        admitted = [asyncio.create_task(client.post("/infer", json={"image": image})) for _ in range(2)]
        for _ in range(500):
            if "mlscale_inference_in_flight 2.0" in (await client.get("/metrics")).text:
                break
            await asyncio.sleep(0.01)
        refused = await client.post("/infer", json={"image": image})
        assert (refused.status_code, refused.json()["error"]) == (503, "overloaded")
        assert refused.headers["retry-after"] == "1"
        decode.release.set()
        answers = await asyncio.gather(*admitted)
        assert [a.status_code for a in answers] == [200, 200]
        assert len(answers[0].json()["predictions"]) == 5
        metrics = (await client.get("/metrics")).text
        assert 'mlscale_inference_requests_total{outcome="overloaded"} 1.0' in metrics

    app = app_with(serving_model(FlatModel()), max_pending=2, loop_max_pixels=0)  # every decode on the thread
    run_with(app, scenario, lifespan=True)


def test_admission_counts_the_requests_waiting_for_the_loop() -> None:
    """The model runs on the event loop, but a request waiting for its turn counts as admitted, so
    the bound holds: of three at once with room for two, one is 503."""

    async def scenario(client: httpx.AsyncClient) -> None:
        await until_ready(client)
        image = b64(jpeg_bytes(64, 64))
        answers = await asyncio.gather(*(client.post("/infer", json={"image": image}) for _ in range(3)))
        assert sorted(a.status_code for a in answers) == [200, 200, 503]
        assert [a.json()["error"] for a in answers if a.status_code == 503] == ["overloaded"]

    run_with(app_with(serving_model(FlatModel()), max_pending=2), scenario, lifespan=True)


def test_a_large_image_decodes_off_the_loop_while_health_checks_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small images decode on the event loop (no thread hand-off per request); one over
    ``loop_max_pixels`` decodes on the worker thread, and /healthz, /readyz and /metrics answer
    while it does."""
    decode = HeldDecode(monkeypatch)

    async def scenario(client: httpx.AsyncClient) -> None:
        await until_ready(client)
        small = await client.post("/infer", json={"image": b64(jpeg_bytes(64, 64))})
        assert small.status_code == 200
        decode.hold()
        large = asyncio.create_task(client.post("/infer", json={"image": b64(jpeg_bytes(128, 128))}))
        for _ in range(500):
            if len(decode.threads) == 2:
                break
            await asyncio.sleep(0.01)
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200, path
        assert not large.done()
        decode.release.set()
        assert (await large).status_code == 200
        assert decode.threads[0] == threading.current_thread().name  # the loop's
        assert decode.threads[1].startswith("inference")

    run_with(app_with(serving_model(FlatModel()), loop_max_pixels=100 * 100), scenario, lifespan=True)
