"""The dispatcher's app in-process (ASGI, no server, no process): what it refuses and how it
answers. What only a process shows (signals, drain, ports, real forwarding) stays in
tests/integration/test_dispatcher.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mlscale_dispatcher.app import create_app
from mlscale_dispatcher.config import Settings
from tests.asgi import run_with

BAD = [
    (b"{nope", 400, "invalid_json"),
    (b'"a string"', 400, "invalid_body"),
    (b'{"id": "x"}', 400, "missing_field"),
    (b'{"image": 5}', 422, "invalid_field"),
    (b'{"image": ""}', 400, "invalid_image"),
    (b'{"image": "not*base64"}', 400, "invalid_base64"),
    (b'{"image": "aGVsbG8=", "id": 7}', 422, "invalid_field"),
    (b'{"image": "aGVsbG8=", "sent_at": "yesterday"}', 422, "invalid_field"),
    # Issue 13: a control character in an id killed a forwarder once it reached the header.
    (b'{"image": "aGVsbG8=", "id": "x\\r\\n1"}', 422, "invalid_field"),
    (b'{"image": "aGVsbG8=", "id": "has space"}', 422, "invalid_field"),
]


@pytest.mark.parametrize(("body", "status", "error"), BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)])
def test_bad_enqueue_bodies_get_4xx_json(body: bytes, status: int, error: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post("/enqueue", content=body)
        assert response.status_code == status
        assert response.json()["error"] == error
        assert response.json()["detail"]
        big = await client.post("/enqueue", content=b"x" * (14 * 1024 * 1024 + 1))
        assert (big.status_code, big.json()["error"]) == (413, "body_too_large")
        assert (await client.get("/stats")).json()["accepted"] == 0

    run_with(create_app(Settings()), scenario)


def test_a_full_queue_answers_429_and_counts_it() -> None:
    """No upstream: the one forwarder holds one job and waits, the queue fills to its bound."""

    async def scenario(client: httpx.AsyncClient) -> None:
        statuses = []
        for i in range(10):
            response = await client.post("/enqueue", json={"image": "aGVsbG8=", "id": f"full-{i}"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["retry-after"] == "1"
                assert response.json()["error"] == "queue_full"
            if i == 0:  # let the forwarder take the first job off the queue
                for _ in range(100):
                    if (await client.get("/stats")).json()["in_flight"]:
                        break
                    await asyncio.sleep(0.01)
        assert statuses.count(202) == 6  # 5 queued + 1 taken by the forwarder
        assert statuses.count(429) == 4
        stats = (await client.get("/stats")).json()
        assert (stats["rejected"], stats["queue_depth"]) == (4, 5)
        # One job has been in flight (waiting for an upstream) since the first enqueue: its
        # request-seconds grow, in /stats and as the counter KEDA's query takes the rate of.
        await asyncio.sleep(0.05)
        later = (await client.get("/stats")).json()
        assert later["busy_seconds"] >= stats["busy_seconds"] + 0.04
        page = (await client.get("/metrics")).text
        (line,) = [x for x in page.splitlines() if x.startswith("mlscale_dispatcher_busy_seconds_total ")]
        assert float(line.split()[1]) >= later["busy_seconds"]

    run_with(create_app(Settings(max_queue=5, concurrency=1)), scenario, lifespan=True)


def test_the_queue_is_bounded_by_the_bytes_of_its_images_too() -> None:
    """Queued images live in memory: a pod with a 512 Mi limit was OOM-killed at ~800 of them,
    losing all it held. With a byte bound the next one is a 429, counted, and the bytes show."""
    image = "aGVsbG8h" * 1000  # 8,000 base64 characters: 6,000 bytes queued
    limit = 3 * 6000 + 100  # room for three queued images, not four

    async def scenario(client: httpx.AsyncClient) -> None:
        statuses = [
            (await client.post("/enqueue", json={"image": image, "id": f"b{i}"})).status_code
            for i in range(5)
        ]
        assert statuses == [202, 202, 202, 429, 429]  # no upstream and no forwarder: all stay queued
        refused = await client.post("/enqueue", json={"image": image})
        assert refused.json()["error"] == "queue_full"
        assert "MiB" in refused.json()["detail"]
        stats = (await client.get("/stats")).json()
        assert (stats["queue_depth"], stats["queue_bytes"]) == (3, 3 * 6000)
        assert (stats["rejected"], stats["max_queue_bytes"]) == (3, limit)
        small = await client.post("/enqueue", json={"image": "aGVsbG8="})  # still fits by bytes
        assert small.status_code == 202
        page = (await client.get("/metrics")).text
        assert f"mlscale_dispatcher_queue_bytes {float(3 * 6000 + 5)}" in page

    settings = Settings(max_queue=100, max_queue_bytes=limit, max_image_bytes=6000)
    run_with(create_app(settings), scenario)


def test_the_queues_bytes_go_with_the_jobs_that_leave_it() -> None:
    from mlscale_dispatcher.forwarder import Job
    from mlscale_dispatcher.jobqueue import JobQueue

    async def scenario() -> None:
        queue = JobQueue(max_items=10, max_bytes=25)
        assert queue.refusal(25) is None
        queue.put_nowait(Job("a", b"x" * 10, None))
        queue.put_nowait(Job("b", b"y" * 10, None))
        assert queue.queued_bytes == 20
        assert queue.refusal(6) is not None
        assert queue.refusal(5) is None
        assert (await queue.get()).id == "a"  # FIFO, and its bytes left with it
        assert queue.queued_bytes == 10
        assert queue.get_nowait().id == "b"
        assert queue.queued_bytes == 0

    asyncio.run(scenario())


def test_a_huge_results_cursor_is_a_400_not_a_500() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        huge = await client.get("/results", params={"after": "9" * 40})
        assert (huge.status_code, huge.json()["error"]) == (400, "invalid_query")
        assert (await client.get("/results", params={"after": 2**53})).status_code == 200

    run_with(create_app(Settings()), scenario)


def test_upstreams_need_the_control_token_and_valid_urls() -> None:
    body = {"upstreams": ["http://10.0.0.7:8001"]}

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.put("/upstreams", json=body)).status_code == 403
        wrong = await client.put("/upstreams", json=body, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 403
        not_ascii = await client.put(  # issue 13: a hmac TypeError answered 500
            "/upstreams", json=body, headers=[(b"authorization", b"Bearer \xe9")]
        )
        assert (not_ascii.status_code, not_ascii.json()["error"]) == (403, "forbidden")
        token = {"authorization": "Bearer s3cret"}
        bad = await client.put("/upstreams", json={"upstreams": ["ftp://x"]}, headers=token)
        assert bad.status_code == 422
        ok = await client.put("/upstreams", json=body, headers=token)
        assert ok.status_code == 200
        ready = (await client.get("/readyz")).json()
        assert ready == {"status": "ready", "upstreams": 1}

    run_with(create_app(Settings(control_token="s3cret")), scenario)


def test_unknown_routes_and_methods_answer_json() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        missing = await client.get("/nope")
        assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
        wrong = await client.get("/enqueue")
        assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")

    run_with(create_app(Settings()), scenario)


def test_one_id_one_job_a_second_enqueue_of_an_id_is_409() -> None:
    """Queued, in flight or reported: the second job of an id would answer for the first."""

    async def scenario(client: httpx.AsyncClient) -> None:
        first = await client.post("/enqueue", json={"image": "aGVsbG8=", "id": "run-1"})
        assert first.status_code == 202
        for _ in range(2):  # queued (or taken by the forwarder), then once more
            again = await client.post("/enqueue", json={"image": "AAAA", "id": "run-1"})
            assert again.status_code == 409
            assert again.json()["error"] == "duplicate_id"
        assert (await client.post("/enqueue", json={"image": "aGVsbG8=", "id": "run-2"})).status_code == 202
        assert (await client.get("/stats")).json()["accepted"] == 2

    run_with(create_app(Settings(concurrency=1)), scenario)


def test_an_id_refused_for_a_full_queue_may_come_again() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        statuses = [
            (await client.post("/enqueue", json={"image": "aGVsbG8=", "id": f"q-{i}"})).status_code
            for i in range(3)
        ]
        assert statuses[-1] == 429  # never queued: not taken, so not a duplicate later
        assert (await client.post("/enqueue", json={"image": "aGVsbG8=", "id": "q-2"})).status_code == 429

    run_with(create_app(Settings(max_queue=2, concurrency=1)), scenario)


def test_the_recent_ids_forget_the_oldest_first() -> None:
    from mlscale_dispatcher.state import RecentIds

    ids = RecentIds(3)
    for name in "abcd":
        ids.add(name)
    assert [name in ids for name in "abcd"] == [False, True, True, True]


def test_results_need_the_result_token_when_the_dispatcher_has_one() -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        refusals: list[list[tuple[bytes, bytes]]] = [
            [],
            [(b"authorization", b"Bearer wrong")],
            [(b"authorization", "Bearer s3crét".encode("latin-1"))],
        ]
        for headers in refusals:
            refused = await client.get("/results", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"] == "unauthorized"
        allowed = await client.get("/results", headers={"authorization": "Bearer r-token"})
        assert allowed.status_code == 200
        assert allowed.json()["records"] == []

    run_with(create_app(Settings(result_token="r-token")), scenario)
