from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter

import pytest

from mlscale_dispatcher.__main__ import parse_args
from mlscale_dispatcher.config import ConfigError
from mlscale_dispatcher.ledger import Ledger
from mlscale_dispatcher.upstreams import UpstreamPool


def test_of_two_random_choices_the_one_with_fewer_outstanding_requests_is_picked() -> None:
    pool = UpstreamPool(["http://a", "http://b", "http://c"], rng=random.Random(1))
    by_url = {
        u.url: u for u in (pool.pick(0.0, frozenset(pool_urls(pool) - {url})) for url in pool_urls(pool)) if u
    }
    by_url["http://a"].outstanding, by_url["http://b"].outstanding, by_url["http://c"].outstanding = 3, 1, 2
    picks = Counter(u.url for u in (pool.pick(0.0) for _ in range(3000)) if u)
    # The most loaded one loses every draw it is in; the least loaded wins every draw it is in.
    assert picks["http://a"] == 0
    assert picks["http://b"] == pytest.approx(2000, rel=0.1)  # in 2 of the 3 possible pairs
    assert picks["http://c"] == pytest.approx(1000, rel=0.15)


def pool_urls(pool: UpstreamPool) -> set[str]:
    return {str(u["url"]) for u in pool.snapshot(0.0)}


def test_idle_replicas_share_the_load_evenly() -> None:
    """Issue 13: ties went to the first replica, which served 99.6 % of a 30/s run."""
    pool = UpstreamPool([f"http://r{i}" for i in range(4)], rng=random.Random(7))
    picks = Counter(u.url for u in (pool.pick(0.0) for _ in range(8000)) if u)
    assert len(picks) == 4
    for count in picks.values():
        assert count == pytest.approx(2000, rel=0.1)


def test_a_failed_upstream_cools_down_and_is_used_only_as_a_last_resort() -> None:
    pool = UpstreamPool(["http://a", "http://b"], cool_down=1.0)
    a = pool.pick(0.0, frozenset({"http://b"}))
    assert a is not None
    pool.failed(a, now=10.0)
    assert all(pool.pick(10.5) is not a for _ in range(3))
    assert pool.pick(10.5, frozenset({"http://b"})) is a  # nothing else left
    assert pool.pick(11.0, frozenset({"http://b"})) is a


def test_a_retry_never_goes_back_to_a_refused_replica_while_a_busy_one_is_listed() -> None:
    """Issue 31: a killed replica (connection refused) and a busy one (503), both cooling down: the
    retry goes to the busy one, however recently it failed, until the dead one's longer cool-down
    has passed."""
    pool = UpstreamPool(["http://dead", "http://busy"], cool_down=1.0, unreachable_cool_down=5.0)
    dead, busy = (pool.pick(0.0, frozenset({other})) for other in ("http://busy", "http://dead"))
    assert dead is not None
    assert busy is not None
    pool.failed(dead, now=10.0, unreachable=True)
    pool.failed(busy, now=10.2)  # later, and so cooling down longer in the old rule
    assert all(pool.pick(t) is busy for t in (10.3, 10.9, 11.5, 14.9))
    assert pool.pick(15.1, frozenset({"http://busy"})) is dead  # its cool-down over: tried again
    assert pool.pick(10.5, frozenset({"http://busy"})) is dead  # the only one left: still tried


def test_replacing_upstreams_keeps_counters_of_those_that_stay() -> None:
    pool = UpstreamPool(["http://a/", "http://b"])
    a = pool.pick(0.0, frozenset({"http://b"}))
    assert a is not None
    assert a.url == "http://a"
    a.served = 7
    pool.replace(["http://a", "http://c"])
    assert len(pool) == 2
    assert {u["url"]: u["served"] for u in pool.snapshot(0.0)} == {"http://a": 7, "http://c": 0}
    pool.replace([])
    assert pool.pick(0.0) is None


def make_ledger(keep: int, count: int) -> Ledger:
    async def build() -> Ledger:  # Ledger owns an asyncio.Event, so build it inside a loop
        ledger = Ledger(keep=keep, buffer=10)
        for i in range(count):
            ledger.write({"id": str(i), "outcome": "ok" if i % 2 else "error"}, report=False)
        return ledger

    return asyncio.run(build())


def test_results_cursor_pages_through_every_record() -> None:
    ledger = make_ledger(keep=100, count=25)
    seen: list[str] = []
    cursor = 0
    while True:
        records, cursor, truncated = ledger.since(cursor, 10)
        assert not truncated
        if not records:
            break
        seen += [r["id"] for r in records]
    assert seen == [str(i) for i in range(25)]
    assert ledger.counts == {"ok": 12, "error": 13, "timeout": 0, "dropped": 0}


def test_results_say_when_old_records_were_evicted() -> None:
    ledger = make_ledger(keep=5, count=12)
    records, cursor, truncated = ledger.since(0, 100)
    assert truncated
    assert [r["seq"] for r in records] == [8, 9, 10, 11, 12]
    assert ledger.since(cursor, 100) == ([], 12, False)


def test_report_buffer_overflow_is_counted() -> None:
    async def scenario() -> Ledger:
        ledger = Ledger(keep=100, buffer=3)
        for i in range(5):
            ledger.write({"id": str(i), "outcome": "ok"}, report=True)
        return ledger

    ledger = asyncio.run(scenario())
    assert (ledger.unsent, ledger.report.overflowed) == (3, 2)


def test_failed_posts_are_retried_until_every_record_is_delivered() -> None:
    delivered: list[str] = []
    calls = {"n": 0}

    async def scenario() -> Ledger:
        all_delivered = asyncio.Event()

        async def flaky_post(records: list[dict[str, object]]) -> None:
            calls["n"] += 1
            if calls["n"] % 2:
                raise ConnectionError("receiver down")
            delivered.extend(str(r["id"]) for r in records)
            if len(delivered) == 7:
                all_delivered.set()

        ledger = Ledger(keep=100, buffer=100)
        for i in range(7):
            ledger.write({"id": str(i), "outcome": "ok"}, report=True)
        task = asyncio.create_task(ledger.report_forever(flaky_post, batch=3, interval=0.001))
        await asyncio.wait_for(all_delivered.wait(), 30)
        task.cancel()
        return ledger

    ledger = asyncio.run(scenario())
    assert delivered == [str(i) for i in range(7)]
    assert ledger.report.failed_posts >= 3


def test_queue_bytes_take_the_suffixes_of_kubernetes_quantities() -> None:
    assert parse_args(["--max-queue-bytes", "512Mi"], {}).max_queue_bytes == 512 * 2**20
    env = {"MLSCALE_DISPATCHER_MAX_QUEUE_BYTES": "2Gi"}
    assert parse_args([], env).max_queue_bytes == 2 * 2**30
    assert parse_args(["--max-queue-bytes", "20000000"], env).max_queue_bytes == 20_000_000


def test_settings_come_from_flags_and_environment() -> None:
    env = {"MLSCALE_DISPATCHER_UPSTREAMS": "http://a:1, http://b:2", "MLSCALE_DISPATCHER_CONCURRENCY": "8"}
    settings = parse_args(["--drain-rate", "2"], env)
    assert settings.upstreams == ("http://a:1", "http://b:2")
    assert (settings.concurrency, settings.drain_rate) == (8, 2.0)
    assert parse_args(["--upstream", "http://c:3"], env).upstreams == ("http://c:3",)


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--concurrency", "0"], {}, "concurrency"),
        (["--drain-rate", "-1"], {}, "drain_rate"),
        (["--upstream", "localhost:8001"], {}, "upstream"),
        (["--result-url", "file:///etc/passwd"], {}, "result_url"),
        ([], {"MLSCALE_DISPATCHER_MAX_QUEUE": "lots"}, "MLSCALE_DISPATCHER_MAX_QUEUE"),
        ([], {"MLSCALE_DISPATCHER_MAX_QUEUE_BYTES": "512MB"}, "a size in bytes"),
        (["--max-queue-bytes", "1Mi"], {}, "must hold at least one image"),
        (["--port", "70000"], {}, "port"),
    ],
)
def test_bad_settings_name_the_value(argv: list[str], env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_args(argv, env)


def test_ids_are_checked_at_the_door_against_a_documented_charset() -> None:
    from mlscale_dispatcher.app import ID_PATTERN, MAX_ID_LENGTH

    assert ID_PATTERN.fullmatch("run-20261127T1200Z-17")
    assert ID_PATTERN.fullmatch("a" * MAX_ID_LENGTH)
    for bad in ("x\r\n1", "", "a" * (MAX_ID_LENGTH + 1), "sp ace", "é", "a\x00b"):
        assert not ID_PATTERN.fullmatch(bad), bad


class _RaisingSession:
    """An aiohttp session stand-in whose post raises what aiohttp raises for a header it refuses."""

    def post(self, url: str, **kwargs: object) -> object:
        raise ValueError("Newline or carriage return character detected in HTTP header")


def test_a_job_that_raises_in_a_forwarder_ends_in_error_and_the_forwarders_live_on() -> None:
    """Issue 13: an exception a forwarder did not expect killed it; after --concurrency of them
    every request got 202 and none was forwarded, without a word."""
    from mlscale_dispatcher.config import Settings
    from mlscale_dispatcher.forwarder import Forwarder, Job
    from mlscale_dispatcher.metrics import DispatcherMetrics

    async def scenario() -> tuple[list[dict[str, object]], float, int]:
        settings = Settings(upstreams=("http://127.0.0.1:9",), concurrency=1)
        queue: asyncio.Queue[Job] = asyncio.Queue()
        ledger = Ledger(keep=100, buffer=100)
        metrics = DispatcherMetrics.create()
        forwarder = Forwarder(
            settings,
            queue,
            UpstreamPool(settings.upstreams),
            ledger,
            metrics,
            _RaisingSession(),  # type: ignore[arg-type]
        )
        forwarder.resize()
        for i in range(5):
            queue.put_nowait(Job(f"j-{i}", b"hello", None))
        await asyncio.wait_for(queue.join(), 5)
        alive = sum(not t.done() for t in forwarder.workers.values())
        await forwarder.stop_workers()
        crashes = metrics.registry.get_sample_value("mlscale_dispatcher_worker_crashes_total") or 0.0
        return ledger.since(0, 100)[0], crashes, alive

    records, crashes, alive = asyncio.run(scenario())
    assert [(r["id"], r["outcome"], r["error"]) for r in records] == [
        (f"j-{i}", "error", "internal_ValueError") for i in range(5)
    ]
    assert crashes == 5
    assert alive == 1  # the one forwarder took all five, one after another


# --- upstream discovery (a headless Service's name: one upstream per ready pod) ---


def test_discovery_applies_each_new_set_once_and_keeps_the_last_on_a_resolver_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mlscale_dispatcher.discovery import discover_forever

    caplog.set_level(logging.INFO, logger="mlscale_dispatcher.discovery")  # its records must build

    answers: list[list[str] | OSError] = [
        ["http://10.0.0.1:8001"],
        ["http://10.0.0.1:8001"],  # unchanged: not applied again
        OSError("resolver timed out"),  # kept: the pods did not go away because DNS hiccuped
        ["http://10.0.0.1:8001", "http://10.0.0.2:8001"],
        [],  # no ready pod: requests wait
    ]
    applied: list[list[str]] = []

    async def resolver(url: str) -> list[str]:
        assert url == "http://inference-endpoints:8001"
        answer = answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        if not answers:
            tasks[0].cancel()
        return answer

    tasks: list[asyncio.Task[None]] = []

    async def main() -> None:
        tasks.append(
            asyncio.create_task(
                discover_forever("http://inference-endpoints:8001", 0.001, applied.append, resolver)
            )
        )
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]

    asyncio.run(main())
    assert applied == [
        ["http://10.0.0.1:8001"],
        ["http://10.0.0.1:8001", "http://10.0.0.2:8001"],
        [],
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("upstreams discovered") == 3
    assert messages.count("upstream discovery failed; keeping the last upstreams") == 1


def test_resolve_gives_one_upstream_per_address_and_none_for_a_name_without_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from mlscale_dispatcher.discovery import resolve

    async def addresses(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        if host == "gone":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if host == "flaky":
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ("10.0.0.2", "10.0.0.1")]

    async def main() -> None:
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", addresses)
        assert await resolve("http://pods:8001") == ["http://10.0.0.1:8001", "http://10.0.0.2:8001"]
        assert await resolve("http://gone:8001") == []
        with pytest.raises(socket.gaierror):
            await resolve("http://flaky:8001")

    asyncio.run(main())


def test_discover_is_an_http_url_and_excludes_fixed_upstreams() -> None:
    assert parse_args(["--discover", "http://inference-endpoints:8001"], {}).discover == (
        "http://inference-endpoints:8001"
    )
    with pytest.raises(ConfigError, match="discover"):
        parse_args(["--discover", "inference-endpoints"], {})
    with pytest.raises(ConfigError, match="not both"):
        parse_args(["--discover", "http://a:1", "--upstream", "http://b:2"], {})
    with pytest.raises(ConfigError, match="discover_interval"):
        parse_args(["--discover", "http://a:1", "--discover-interval", "0"], {})


def test_busy_seconds_integrate_the_in_flight_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlscale_dispatcher import forwarder

    clock = [100.0]
    monkeypatch.setattr("mlscale_dispatcher.forwarder.time.monotonic", lambda: clock[0])
    busy = forwarder.BusyClock()
    busy.change(+1)  # one in flight from 100 s
    clock[0] = 101.0
    busy.change(+1)  # two from 101 s
    clock[0] = 103.0
    busy.change(-1)
    busy.change(-1)  # none from 103 s
    clock[0] = 110.0
    assert busy.seconds() == 1 * 1 + 2 * 2  # 5 request-seconds: a mean of 0.5 over these 10 s
    busy.change(+1)
    clock[0] = 110.5
    assert busy.seconds() == 5.5  # the request still in flight counts up to now
