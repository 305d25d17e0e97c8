"""What the local supervisor tells Prometheus: the HPA as kube-state-metrics describes one, and
where to scrape (HTTP service discovery)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from mlscale.backends.base import SystemStatus


def autoscaler_metrics(status: SystemStatus) -> bytes:
    """What kube-state-metrics says of an HPA, for the local controller (Prometheus text format)."""
    registry = CollectorRegistry()
    gauges = {
        "mlscale_autoscaler_replicas": ("Ready inference replicas.", status.ready_replicas),
        "mlscale_autoscaler_desired_replicas": ("Replicas the HPA wants.", status.desired_replicas),
        "mlscale_autoscaler_min_replicas": ("The HPA's minimum.", status.min_replicas),
        "mlscale_autoscaler_max_replicas": ("The HPA's maximum.", status.max_replicas),
        "mlscale_autoscaler_target_cpu_utilization_percent": (
            "The HPA's CPU target, percent of the request.", status.target_cpu_utilization,
        ),
    }  # fmt: skip
    for name, (help_text, value) in gauges.items():
        Gauge(name, help_text, registry=registry).set(value)
    mean = status.mean_cpu_utilization
    if mean is not None:
        Gauge("mlscale_autoscaler_cpu_utilization_percent", "Mean CPU utilization the HPA sees.",
              registry=registry).set(mean)  # fmt: skip
    return generate_latest(registry)


def scrape_targets(status: SystemStatus, control: str) -> list[dict[str, Any]]:
    """Prometheus HTTP service discovery: the dispatcher, each live replica, this supervisor."""
    replicas = [r.url.removeprefix("http://") for r in status.replicas if not r.terminating]
    return [
        {"targets": [status.dispatcher_url.removeprefix("http://")], "labels": {"job": "mlscale-dispatcher"}},
        {"targets": replicas, "labels": {"job": "mlscale-inference"}},
        {"targets": [control], "labels": {"job": "mlscale-autoscaler"}},
    ]
