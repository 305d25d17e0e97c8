"""Prometheus metrics of the dispatcher, in a registry of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from mlscale_dispatcher.ledger import OUTCOMES

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class BusySecondsCollector(Collector):
    """``mlscale_dispatcher_busy_seconds_total``: request-seconds in flight so far. Its rate is the
    mean number of requests in flight (what KEDA's query and Knative's concurrency average)."""

    def __init__(self, seconds: Callable[[], float]) -> None:
        self.seconds = seconds

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "mlscale_dispatcher_busy_seconds", "Request-seconds in flight so far (rate: mean concurrency)."
        )
        family.add_metric([], self.seconds())
        yield family


@dataclass
class DispatcherMetrics:
    registry: CollectorRegistry
    queue_depth: Gauge
    queue_bytes: Gauge
    in_flight: Gauge
    requests: Counter
    latency: Histogram
    upstreams: Gauge
    report_pending: Gauge
    workers: Gauge
    worker_crashes: Counter

    @classmethod
    def create(cls) -> DispatcherMetrics:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        queue_depth = Gauge(
            "mlscale_dispatcher_queue_depth", "Requests waiting in the queue.", registry=registry
        )
        queue_bytes = Gauge(
            "mlscale_dispatcher_queue_bytes",
            "Bytes of the images waiting in the queue (held in memory; bounded by max_queue_bytes).",
            registry=registry,
        )
        in_flight = Gauge("mlscale_dispatcher_in_flight", "Requests being forwarded now.", registry=registry)
        requests = Counter(
            "mlscale_dispatcher_requests",
            "Requests by outcome: accepted and rejected at /enqueue, then ok, error, timeout, dropped.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("accepted", "rejected", *OUTCOMES):
            requests.labels(outcome)
        latency = Histogram(
            "mlscale_dispatcher_latency_seconds",
            "Per request: queue (enqueue to dequeue), infer (the upstream call), total (enqueue to outcome).",
            ["stage", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        upstreams = Gauge(
            "mlscale_dispatcher_upstreams", "Configured inference upstreams.", registry=registry
        )
        report_pending = Gauge(
            "mlscale_dispatcher_report_pending",
            "Outcomes not yet posted to the result URL.",
            registry=registry,
        )
        workers = Gauge("mlscale_dispatcher_workers", "Forwarders running.", registry=registry)
        worker_crashes = Counter(
            "mlscale_dispatcher_worker_crashes",
            "Jobs that raised inside a forwarder (each ended in an error outcome; the forwarder lived on), "
            "and forwarders that died and were restarted.",
            registry=registry,
        )
        return cls(
            registry,
            queue_depth,
            queue_bytes,
            in_flight,
            requests,
            latency,
            upstreams,
            report_pending,
            workers,
            worker_crashes,
        )

    def observe(self, record: dict[str, Any]) -> None:
        outcome = record["outcome"]
        self.requests.labels(outcome).inc()
        for stage in ("queue", "infer", "total"):
            value = record.get(f"{stage}_ms")
            if value is not None:
                self.latency.labels(stage, outcome).observe(value / 1000)
