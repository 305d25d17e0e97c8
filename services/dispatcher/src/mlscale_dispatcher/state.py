"""What one dispatcher holds while it runs: its queue, upstream pool, ledger, metrics and counts,
and the HTTP sessions it forwards and reports with (made by the app's lifespan, or given by a
test)."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import orjson

from mlscale_dispatcher.config import Settings
from mlscale_dispatcher.forwarder import Forwarder
from mlscale_dispatcher.jobqueue import JobQueue
from mlscale_dispatcher.ledger import Ledger, Record
from mlscale_dispatcher.metrics import DispatcherMetrics
from mlscale_dispatcher.upstreams import UpstreamPool


@dataclass
class Sessions:
    """``forward`` reaches the replicas (no connection limit: the forwarder count is the limit);
    ``report`` posts outcomes to the load tester."""

    forward: aiohttp.ClientSession
    report: aiohttp.ClientSession

    @classmethod
    def open(cls) -> Sessions:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        return cls(aiohttp.ClientSession(connector=connector), aiohttp.ClientSession())

    async def close(self) -> None:
        await self.forward.close()
        await self.report.close()


class RecentIds:
    """Ids this dispatcher accepted, the oldest forgotten first once ``capacity`` is passed."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: dict[str, None] = {}  # insertion-ordered: the oldest first

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._ids

    def add(self, job_id: str) -> None:
        self._ids[job_id] = None
        if len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]


IN_FLIGHT_MARGIN = 10_000
"""More than the forwarders ever hold at once."""


@dataclass
class DispatcherState:
    settings: Settings
    metrics: DispatcherMetrics = field(default_factory=DispatcherMetrics.create)
    accepted: int = 0
    rejected: int = 0
    draining: bool = False
    forwarder: Forwarder | None = None
    queue: JobQueue = field(init=False)
    pool: UpstreamPool = field(init=False)
    ledger: Ledger = field(init=False)
    ids: RecentIds = field(init=False)
    """Every id queued or in flight, and reported ones as long as ``GET /results`` keeps them: a
    second job under one id would get two outcomes, one of them a stranger's."""
    report_headers: dict[str, str] = field(init=False)
    """Of every outcome post; the load tester refuses one without the result token it expects."""

    def __post_init__(self) -> None:
        settings = self.settings
        self.queue = JobQueue(settings.max_queue, settings.max_queue_bytes)
        self.metrics.queue_bytes.set_function(lambda: self.queue.queued_bytes)
        self.pool = UpstreamPool(settings.upstreams)
        self.ledger = Ledger(settings.results_kept, settings.report_buffer)
        self.ids = RecentIds(settings.max_queue + settings.results_kept + IN_FLIGHT_MARGIN)
        self.metrics.upstreams.set(len(self.pool))
        self.report_headers = {"content-type": "application/json"}
        if settings.result_token:
            self.report_headers["authorization"] = f"Bearer {settings.result_token}"

    def idle(self) -> bool:
        """Nothing queued and nothing in flight: a draining dispatcher may stop."""
        return self.queue.empty() and (self.forwarder is None or not self.forwarder.in_flight)

    def replace_upstreams(self, urls: list[str]) -> None:
        """PUT /upstreams and discovery both land here: the pool, its gauge, the forwarders."""
        self.pool.replace(urls)
        self.metrics.upstreams.set(len(self.pool))
        if self.forwarder is not None:
            self.forwarder.resize()

    async def post_results(self, session: aiohttp.ClientSession, records: list[Record]) -> None:
        assert self.settings.result_url is not None
        async with session.post(
            self.settings.result_url,
            data=orjson.dumps({"records": records}),
            headers=self.report_headers,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as response:
            await response.read()
            response.raise_for_status()
