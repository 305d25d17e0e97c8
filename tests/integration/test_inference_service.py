"""The real inference service under Uvicorn on 127.0.0.1, weights ``none``."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest

from harness.services import IMAGES, ServiceProcess, b64, jpeg_bytes


@pytest.fixture(scope="module")
def main(replicas: dict[str, ServiceProcess]) -> str:
    return replicas["main"].url


@pytest.mark.parametrize("name", ["rocket.jpg", "chelsea.png"])
def test_infer_answers_top_k_predictions(main: str, name: str) -> None:
    image = b64((IMAGES / name).read_bytes())
    response = httpx.post(f"{main}/infer", json={"image": image, "top_k": 3}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"predictions", "model", "replica", "timings_ms"}
    assert body["model"] == "mobilenet_v2"
    assert body["replica"] == "test-main"
    assert len(body["predictions"]) == 3
    for prediction in body["predictions"]:
        assert set(prediction) == {"label", "class_id", "score"}
        assert 0 <= prediction["class_id"] < 1000
        assert 0.0 <= prediction["score"] <= 1.0
    scores = [p["score"] for p in body["predictions"]]
    assert scores == sorted(scores, reverse=True)
    assert body["timings_ms"]["decode"] > 0
    assert body["timings_ms"]["infer"] > 0
    assert response.headers["x-request-id"]


def test_top_k_defaults_to_five_and_request_id_is_echoed(main: str) -> None:
    image = b64(jpeg_bytes(320, 240))
    response = httpx.post(
        f"{main}/infer", json={"image": image}, headers={"x-request-id": "abc123"}, timeout=30
    )
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 5
    assert response.headers["x-request-id"] == "abc123"


def test_health_endpoints(main: str) -> None:
    assert httpx.get(f"{main}/healthz").json()["status"] == "alive"
    ready = httpx.get(f"{main}/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


def test_metrics_count_requests_and_expose_latency_cpu_and_model(main: str) -> None:
    before = httpx.get(f"{main}/metrics").text
    httpx.post(f"{main}/infer", json={"image": b64(jpeg_bytes(320, 240))}, timeout=30)
    httpx.post(f"{main}/infer", content=b"not json", timeout=30)
    text = httpx.get(f"{main}/metrics").text

    def value(metrics: str, line_start: str) -> float:
        for line in metrics.splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{line_start} not in /metrics")

    ok = 'mlscale_inference_requests_total{outcome="ok"}'
    bad = 'mlscale_inference_requests_total{outcome="bad_request"}'
    assert value(text, ok) == value(before, ok) + 1
    assert value(text, bad) == value(before, bad) + 1
    for stage in ("decode", "infer", "total"):
        assert value(text, f'mlscale_inference_latency_seconds_count{{stage="{stage}"}}') >= 1
    assert value(text, "mlscale_inference_in_flight") == 0
    assert value(text, "mlscale_inference_ready") == 1
    assert value(text, "process_cpu_seconds_total") > 0
    (info,) = [line for line in text.splitlines() if line.startswith("mlscale_inference_model_info{")]
    assert 'model="mobilenet_v2"' in info
    assert 'engine="keras"' in info
    # Start-up, phase by phase: each measured, and process start -> ready covers them all.
    phases = {p: value(text, f'mlscale_inference_startup_seconds{{phase="{p}"}}')
              for p in ("interpreter", "import", "load", "warmup", "ready")}  # fmt: skip
    assert all(seconds > 0 for seconds in phases.values()), phases
    parts = phases["interpreter"] + phases["import"] + phases["load"] + phases["warmup"]
    assert parts <= phases["ready"] + 0.02, phases  # /proc's start time is in 10 ms ticks


def test_the_service_survives_bad_input(main: str) -> None:
    """Each refusal is tests/unit/test_inference_app.py's; here, that a process takes them and lives."""
    for body in (b"{not json", b'{"image": "@@@"}', json.dumps({"image": b64(b"hello")}).encode()):
        assert httpx.post(f"{main}/infer", content=body, timeout=30).status_code == 400
    response = httpx.post(f"{main}/infer", json={"image": b64(jpeg_bytes(64, 64))}, timeout=30)
    assert response.status_code == 200
    assert "Traceback" not in httpx.get(f"{main}/metrics").text


def test_a_health_check_waits_for_about_two_inferences_not_for_the_queue(main: str) -> None:
    """The model runs on the event loop in turns, and the loop reads its sockets between two: with
    a dozen requests queued, /healthz answers after the running inference and about one more, where
    running the queue back to back would make it wait for all of them."""
    count = 14

    async def scenario() -> tuple[int, int]:
        image = b64(jpeg_bytes(320, 240))
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count + 1)) as client:
            done = 0
            first = asyncio.Event()

            async def one() -> None:
                nonlocal done
                assert (await client.post(f"{main}/infer", json={"image": image})).status_code == 200
                done += 1
                first.set()

            posts = [asyncio.create_task(one()) for _ in range(count)]
            await first.wait()  # the replica is busy, and the others have been sent
            asked_at = done
            assert (await client.get(f"{main}/healthz")).status_code == 200
            answered_at = done
            await asyncio.gather(*posts)
            return asked_at, answered_at

    asked_at, answered_at = asyncio.run(scenario())
    assert count - asked_at >= 8, "the queue must still be long when /healthz is asked"
    assert answered_at - asked_at <= 3, f"/healthz waited for {answered_at - asked_at} inferences"


async def _burst(url: str, count: int, image: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count)) as client:
        return await asyncio.gather(
            *(client.post(f"{url}/infer", json={"image": image}) for _ in range(count))
        )


def test_overload_answers_503_with_retry_after(replicas: dict[str, ServiceProcess]) -> None:
    url = replicas["tight"].url  # admits 2 requests at once
    responses = asyncio.run(_burst(url, 16, b64(jpeg_bytes())))
    statuses = [r.status_code for r in responses]
    rejected = [r for r in responses if r.status_code == 503]
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) >= 2
    assert rejected, "16 concurrent requests against max_pending=2 should be refused in part"
    for response in rejected:
        assert response.json()["error"] == "overloaded"
        assert response.headers["retry-after"] == "1"
    metrics = httpx.get(f"{url}/metrics").text
    assert f'mlscale_inference_requests_total{{outcome="overloaded"}} {float(len(rejected))}' in metrics


def test_sigterm_turns_readyz_false_and_finishes_in_flight_requests(
    replicas: dict[str, ServiceProcess],
) -> None:
    doomed = replicas["doomed"]
    image = b64(jpeg_bytes())
    count = 40

    async def scenario() -> tuple[list[httpx.Response], httpx.Response, int]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count + 2)) as client:
            done = 0
            first_answer = asyncio.Event()

            async def one() -> httpx.Response:
                nonlocal done
                response = await client.post(f"{doomed.url}/infer", json={"image": image})
                done += 1
                first_answer.set()
                return response

            tasks = [asyncio.create_task(one()) for _ in range(count)]
            await first_answer.wait()  # the replica is busy now: stop it mid-work
            doomed.signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            readiness = await client.get(f"{doomed.url}/readyz")
            outstanding = count - done
            return list(await asyncio.gather(*tasks)), readiness, outstanding

    responses, readiness, outstanding = asyncio.run(scenario())
    assert outstanding > 0, "the drain must be observed while requests are still in flight"
    assert readiness.status_code == 503
    assert readiness.json()["reason"] == "draining"
    assert [r.status_code for r in responses] == [200] * count
    deadline = time.monotonic() + 30
    while doomed.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert doomed.process.returncode == 0
