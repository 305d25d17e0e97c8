"""The custom and external metrics of the local backend, read the way an adapter would.

Kubernetes serves a Pods metric through ``custom.metrics.k8s.io`` and an External one through
``external.metrics.k8s.io``, from an adapter (prometheus-adapter, KEDA's) in front of Prometheus.
The local backend has no Prometheus: it reads the same samples straight from the processes'
``/metrics``. A Pods metric is the named sample on each replica (e.g.
``mlscale_inference_in_flight``), an External or Object metric the named sample on the dispatcher
(e.g. ``mlscale_dispatcher_queue_depth``), each series whose labels include the selector's.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from mlscale.autoscaling.config import HPAConfig

Samples = dict[str, list[tuple[dict[str, str], int]]]
"""Sample name -> (labels, value in milli-units) for each series."""


def wanted(config: HPAConfig) -> tuple[set[str], set[str]]:
    """(metric names read per replica, metric names read from the dispatcher)."""
    per_replica = {m.name for m in config.metrics if m.type == "Pods"}
    dispatcher = {m.name for m in config.metrics if m.type in ("External", "Object")}
    return per_replica, dispatcher


def scrape_all(text: str, names: set[str]) -> Samples:
    """The named samples of one /metrics page with their labels, milli-units."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                found.setdefault(sample.name, []).append((dict(sample.labels), round(sample.value * 1000)))
    return found


def matching(samples: list[tuple[dict[str, str], int]], labels: Mapping[str, str]) -> list[int]:
    return [value for got, value in samples if all(got.get(k) == v for k, v in labels.items())]
