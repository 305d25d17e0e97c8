"""Prometheus metrics of one replica, in a registry of its own (several apps may share a process in tests)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = ("ok", "bad_request", "overloaded", "not_ready", "error")


@dataclass
class InferenceMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    in_flight: Gauge
    ready: Gauge
    model: Info
    cpu_request: Gauge
    startup: Gauge

    @classmethod
    def create(cls) -> InferenceMetrics:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, memory, fds
        requests = Counter(
            "mlscale_inference_requests",
            "Inference requests by outcome.",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:  # export zeros so rate() works from the first scrape
            requests.labels(outcome)
        latency = Histogram(
            "mlscale_inference_latency_seconds",
            "Time spent per request, by stage: decode (image -> tensor), infer (model), total.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        for stage in ("decode", "infer", "total"):
            latency.labels(stage)
        in_flight = Gauge(
            "mlscale_inference_in_flight",
            "Admitted /infer requests, running or waiting for the inference thread.",
            registry=registry,
        )
        ready = Gauge("mlscale_inference_ready", "1 when the model is loaded and warm.", registry=registry)
        model = Info("mlscale_inference_model", "The model this replica serves.", registry=registry)
        # The dashboard's CPU utilization: rate(process_cpu_seconds_total) / this, as the HPA computes it.
        cpu_request = Gauge(
            "mlscale_inference_cpu_request_cores",
            "The replica's CPU budget (its pod's CPU request), in cores.",
            registry=registry,
        )
        startup = Gauge(
            "mlscale_inference_startup_seconds",
            "Seconds of each start-up phase: interpreter, import, load, warmup; ready is process start "
            "to ready. Set once the model is warm.",
            ["phase"],
            registry=registry,
        )
        return cls(registry, requests, latency, in_flight, ready, model, cpu_request, startup)
