"""The load tester's HTTP faces refuse bad input with a 4xx JSON body (issue 13's reproducers)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlscale.images import ImagePool
from mlscale.loadgen.options import MAX_PLANNED, LoadTestOptions
from mlscale.loadgen.receiver import OutcomeStore, receiver_app
from mlscale.loadtest_api import LoadTestService
from mlscale.web import MAX_CONTROL_BODY
from tests.asgi import AppClient

TOKEN = {"authorization": "Bearer t0ken"}


def service() -> AppClient:
    pool = ImagePool(Path("."), ("a.png",), ("aGVsbG8=",))
    options = LoadTestOptions(dispatcher_url="http://127.0.0.1:9", result_token="r3sult")
    app = LoadTestService(pool, options, None, serve_token="t0ken", announce=lambda line: None).app()
    return AppClient(app)


@pytest.mark.parametrize(
    ("records", "status"),
    [([1], 422), ([{"id": 5, "outcome": "ok"}], 422), ([{"id": "a", "outcome": "great"}], 422), ("x", 400)],
)
def test_store_latency_refuses_malformed_records_whole(records: object, status: int) -> None:
    store = OutcomeStore()
    client = AppClient(receiver_app(store, "r3sult"))
    answer = client.post(
        "/storeLatency", json={"records": records}, headers={"authorization": "Bearer r3sult"}
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] in ("invalid_record", "invalid_body")
    assert store.by_id == {}


def test_store_latency_needs_the_result_token() -> None:
    store = OutcomeStore()
    client = AppClient(receiver_app(store, "r3sult"))
    record = {"id": "a", "outcome": "ok", "finished_at": 1.0}
    assert client.post("/storeLatency", json={"records": [record]}).status_code == 401
    wrong = client.post("/storeLatency", json={"records": [record]}, headers={"authorization": "Bearer no"})
    assert wrong.status_code == 401
    assert store.by_id == {}
    ok = client.post("/storeLatency", json={"records": [record]}, headers={"authorization": "Bearer r3sult"})
    assert ok.status_code == 200
    assert list(store.by_id) == ["a"]


def test_an_outcome_delivered_twice_is_not_a_duplicate_a_second_outcome_is() -> None:
    """After a dispatcher restart the load tester reads /results from 0: what callbacks already
    brought comes again (the same record), which issue 31 saw counted 676 times."""
    store = OutcomeStore()
    record = {"id": "a", "outcome": "ok", "finished_at": 1.0, "seq": 7}
    store.add([record])
    store.add([dict(record)])
    store.add([{**record, "seq": 1}])  # the same outcome, from a new ledger's numbering
    assert store.duplicates == 0
    store.add([{**record, "outcome": "error", "finished_at": 2.0}])  # the request served twice
    assert store.duplicates == 1
    assert store.by_id["a"]["outcome"] == "ok"  # the first one stands


def test_the_serve_api_needs_its_token() -> None:
    client = service()
    assert client.get("/runLoadTest").status_code == 401
    assert client.post("/generateReport", json={}).status_code == 401
    assert client.get("/runLoadTest", headers=TOKEN).json() == {"state": "idle"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"workload": [1], "stepSeconds": 3e7, "maxImages": 5}, "'stepSeconds' must be in"),
        ({"workload": [1], "scale": 1e9}, "'scale' must be in"),
        ({"workload": [1000] * 100, "stepSeconds": 100}, f"the limit is {MAX_PLANNED}"),
    ],
)
def test_run_load_test_refuses_runs_too_big_to_build_quickly(body: dict[str, object], detail: str) -> None:
    started = time.monotonic()
    answer = service().post("/runLoadTest", json=body, headers=TOKEN)
    assert answer.status_code == 400, answer.text
    assert detail in answer.json()["detail"]
    assert time.monotonic() - started < 1.0  # refused before any schedule was built (took 2.7 s)


def test_bodies_are_bounded_and_must_be_json() -> None:
    client = service()
    big = client.post("/runLoadTest", content=b"x" * (MAX_CONTROL_BODY + 1), headers=TOKEN)
    assert (big.status_code, big.json()["error"]) == (413, "body_too_large")
    form = client.post("/runLoadTest", content=b"a=1", headers={**TOKEN, "content-type": "text/plain"})
    assert (form.status_code, form.json()["error"]) == (415, "unsupported_media_type")
    broken = client.post("/runLoadTest", content=b"{", headers={**TOKEN, "content-type": "application/json"})
    assert (broken.status_code, broken.json()["error"]) == (400, "invalid_json")


def test_a_workload_of_huge_rates_is_a_400_not_a_500() -> None:
    """Found by schemathesis: rates near 1e308 overflowed while sizing the run."""
    body = {"workload": [1.3656925274743716e308, 5e-324], "maxImages": 645, "scale": 9057.5}
    answer = service().post("/runLoadTest", json=body, headers=TOKEN)
    assert answer.status_code == 400, answer.text
    assert "over the limit" in answer.json()["detail"]


@pytest.mark.parametrize("total", [None, -1, 1.5, "7", True, 2**60])
def test_generate_report_refuses_what_its_contract_refuses(total: object) -> None:
    """Found by the fuzzer: null passed as "not given" and waited on the run in progress."""
    answer = service().post("/generateReport", json={"totalRequests": total}, headers=TOKEN)
    assert answer.status_code == 400, answer.text
    assert "'totalRequests'" in answer.json()["detail"]
