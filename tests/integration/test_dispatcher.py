"""The real dispatcher under Uvicorn on 127.0.0.1, against the real inference service and fakes."""

from __future__ import annotations

import collections
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.services import ServiceProcess, b64, jpeg_bytes, start_dispatcher, wait_exit
from tests.fakes import Receiver, fake_upstream, serving

IMAGE = b64(jpeg_bytes(320, 240))


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    sink = Receiver()
    with serving(sink.app) as server:
        yield sink, f"{server.url}/storeLatency"


def enqueue_many(url: str, count: int, prefix: str, image: str = IMAGE) -> list[httpx.Response]:
    with httpx.Client(timeout=10) as client:
        return [
            client.post(f"{url}/enqueue", json={"image": image, "id": f"{prefix}-{i}", "sent_at": 1.5})
            for i in range(count)
        ]


def results_via_api(url: str) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    cursor = 0
    while True:
        page = httpx.get(f"{url}/results", params={"after": cursor, "limit": 100}).json()
        if not page["records"]:
            return records
        records.extend(page["records"])
        cursor = page["next"]


def test_outcomes_reach_the_receiver_with_plausible_timings(
    tmp_path: Path, replicas: dict[str, ServiceProcess], receiver: tuple[Receiver, str]
) -> None:
    sink, result_url = receiver
    dispatcher = start_dispatcher(
        tmp_path / "d.log",
        "--upstream",
        replicas["main"].url,
        "--result-url",
        result_url,
        "--concurrency",
        "4",
    )
    try:
        accepted = enqueue_many(dispatcher.url, 12, "plausible")
        assert all(r.status_code == 202 for r in accepted)
        assert {r.json()["id"] for r in accepted} == {f"plausible-{i}" for i in range(12)}
        records = sink.wait_for(12, timeout=60)
        assert sorted(r["id"] for r in records) == sorted(f"plausible-{i}" for i in range(12))
        for record in records:
            assert record["outcome"] == "ok"
            assert record["replica"] == "test-main"
            assert record["attempts"] == 1
            assert record["sent_at"] == 1.5
            assert 0 <= record["queue_ms"] <= record["total_ms"]
            assert 5 < record["infer_ms"] <= record["total_ms"]  # a real MobileNetV2 pass takes ms
            assert record["total_ms"] < 30_000
            assert record["finished_at"] >= record["enqueued_at"]
        # /results serves the same records as the callbacks
        assert {r["id"]: r["outcome"] for r in results_via_api(dispatcher.url)} == {
            r["id"]: r["outcome"] for r in records
        }
        stats = httpx.get(f"{dispatcher.url}/stats").json()
        assert (stats["accepted"], stats["outcomes"]["ok"], stats["queue_depth"]) == (12, 12, 0)
        metrics = httpx.get(f"{dispatcher.url}/metrics").text
        assert 'mlscale_dispatcher_requests_total{outcome="ok"} 12.0' in metrics
        assert 'mlscale_dispatcher_latency_seconds_count{outcome="ok",stage="infer"} 12.0' in metrics
    finally:
        dispatcher.stop()


def test_drain_rate_two_forwards_two_items_per_second(
    tmp_path: Path, replicas: dict[str, ServiceProcess], receiver: tuple[Receiver, str]
) -> None:
    sink, result_url = receiver
    dispatcher = start_dispatcher(
        tmp_path / "d.log",
        "--upstream",
        replicas["main"].url,
        "--result-url",
        result_url,
        "--drain-rate",
        "2",
    )
    try:
        enqueue_many(dispatcher.url, 21, "rate")
        records = sink.wait_for(21, timeout=30)
    finally:
        dispatcher.stop()
    dequeued = sorted(r["enqueued_at"] + r["queue_ms"] / 1000 for r in records)
    span = dequeued[-1] - dequeued[0]  # 20 intervals at 2/s: 10 s
    rate = 20 / span
    assert 1.8 <= rate <= 2.2, f"drained at {rate:.2f}/s over {span:.1f}s"


def test_requests_move_off_an_upstream_that_answers_503(
    tmp_path: Path, replicas: dict[str, ServiceProcess], receiver: tuple[Receiver, str]
) -> None:
    sink, result_url = receiver
    refusing_app = fake_upstream("refuser", status=503)
    with serving(refusing_app) as refuser:
        dispatcher = start_dispatcher(
            tmp_path / "d.log",
            "--upstream",
            refuser.url,
            "--upstream",
            replicas["main"].url,
            "--result-url",
            result_url,
            "--concurrency",
            "4",
        )
        try:
            enqueue_many(dispatcher.url, 10, "busy")
            records = sink.wait_for(10, timeout=60)
        finally:
            dispatcher.stop()
    assert refusing_app.state.hits["count"] >= 1
    assert [r["outcome"] for r in records] == ["ok"] * 10
    assert {r["replica"] for r in records} == {"test-main"}
    assert any(r["attempts"] > 1 for r in records)


def test_requests_move_off_an_upstream_that_dies_mid_test(
    tmp_path: Path, replicas: dict[str, ServiceProcess], receiver: tuple[Receiver, str]
) -> None:
    sink, result_url = receiver
    with serving(fake_upstream("mortal", delay=0.05)) as mortal:
        dispatcher = start_dispatcher(
            tmp_path / "d.log",
            "--upstream",
            mortal.url,
            "--upstream",
            replicas["main"].url,
            "--result-url",
            result_url,
            "--concurrency",
            "4",
        )
        try:
            enqueue_many(dispatcher.url, 10, "before")
            sink.wait_for(10, timeout=60)
            mortal.stop()  # the replica dies; later requests must reach the live one
            enqueue_many(dispatcher.url, 20, "after")
            records = sink.wait_for(30, timeout=60)
        finally:
            dispatcher.stop()
    assert len(records) == 30
    assert [r["outcome"] for r in records] == ["ok"] * 30
    after = [r for r in records if str(r["id"]).startswith("after")]
    assert {r["replica"] for r in after} == {"test-main"}
    assert "mortal" in {r["replica"] for r in records if str(r["id"]).startswith("before")}


def test_sigterm_with_a_full_queue_records_every_unserved_request_as_dropped(
    tmp_path: Path, replicas: dict[str, ServiceProcess], receiver: tuple[Receiver, str]
) -> None:
    sink, result_url = receiver
    dispatcher = start_dispatcher(
        tmp_path / "d.log",
        "--upstream",
        replicas["main"].url,
        "--result-url",
        result_url,
        "--drain-rate",
        "4",
        "--grace-period",
        "1",
    )
    enqueue_many(dispatcher.url, 40, "term")
    dispatcher.signal(signal.SIGTERM)
    refused = httpx.post(f"{dispatcher.url}/enqueue", json={"image": IMAGE})
    assert (refused.status_code, refused.json()["error"]) == (503, "shutting_down")
    assert wait_exit(dispatcher, timeout=30) == 0
    records = sink.wait_for(40, timeout=5)
    by_outcome = collections.Counter(r["outcome"] for r in records)
    assert sorted(r["id"] for r in records) == sorted(f"term-{i}" for i in range(40))
    assert by_outcome["ok"] >= 1  # the grace period drained some
    assert by_outcome["dropped"] >= 30  # 4/s for ~1 s cannot serve the rest
    assert by_outcome["ok"] + by_outcome["dropped"] == 40
    assert all(r["error"] == "shutdown" for r in records if r["outcome"] == "dropped")


def test_every_id_arrives_exactly_once_when_30_percent_of_callbacks_fail(tmp_path: Path) -> None:
    sink = Receiver(fail_ratio=0.3, seed=11)
    with serving(sink.app) as receiver, serving(fake_upstream("noop")) as upstream:
        dispatcher = start_dispatcher(
            tmp_path / "d.log",
            "--upstream",
            upstream.url,
            "--result-url",
            f"{receiver.url}/storeLatency",
            "--concurrency",
            "16",
            "--report-batch",
            "50",
        )
        try:
            enqueue_many(dispatcher.url, 2000, "acct", image=b64(b"tiny"))
            records = sink.wait_for(2000, timeout=120)
            stats = httpx.get(f"{dispatcher.url}/stats").json()
        finally:
            dispatcher.stop()
    ids = [r["id"] for r in records]
    duplicates = [i for i, n in collections.Counter(ids).items() if n > 1]
    assert duplicates == []
    assert set(ids) == {f"acct-{i}" for i in range(2000)}
    assert sink.failed > 0  # failures were injected, and survived
    assert stats["report"]["failed_posts"] == sink.failed


def test_upstreams_change_at_run_time_only_with_the_control_token(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    sink, result_url = receiver
    with serving(fake_upstream("first")) as first, serving(fake_upstream("second")) as second:
        dispatcher = start_dispatcher(
            tmp_path / "d.log",
            "--upstream",
            first.url,
            "--result-url",
            result_url,
            "--control-token",
            "s3cret",
        )
        try:
            enqueue_many(dispatcher.url, 5, "one")
            sink.wait_for(5, timeout=10)
            # (its refusals without the token are tests/unit/test_dispatcher_app.py's)
            body = {"upstreams": [second.url]}
            assert httpx.put(f"{dispatcher.url}/upstreams", json=body).status_code == 403
            ok = httpx.put(
                f"{dispatcher.url}/upstreams", json=body, headers={"authorization": "Bearer s3cret"}
            )
            assert ok.status_code == 200
            enqueue_many(dispatcher.url, 5, "two")
            records = sink.wait_for(10, timeout=10)
        finally:
            dispatcher.stop()
    replicas_by_batch = {(str(r["id"])[:3], r["replica"]) for r in records}
    assert replicas_by_batch == {("one", "first"), ("two", "second")}


def test_upstreams_discovered_from_a_name_serve_requests(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    sink, result_url = receiver
    with serving(fake_upstream("found")) as upstream:
        port = upstream.url.rsplit(":", 1)[1]
        dispatcher = start_dispatcher(
            tmp_path / "d.log", "--discover", f"http://localhost:{port}", "--result-url", result_url
        )
        try:
            enqueue_many(dispatcher.url, 5, "disc")
            records = sink.wait_for(5, timeout=10)
            stats = httpx.get(f"{dispatcher.url}/stats").json()
        finally:
            dispatcher.stop()
    assert {r["replica"] for r in records} == {"found"}
    assert [u["url"] for u in stats["upstreams"]] == [f"http://127.0.0.1:{port}"]
