"""The local backend's custom and external metrics, read from the services' real /metrics pages
(their own Prometheus registries, rendered in-process) as the HPA's listed metrics ask."""

from __future__ import annotations

import yaml
from prometheus_client import generate_latest

from mlscale.autoscaling.config import parse_hpa_config
from mlscale.backends.local.scrape import matching, scrape_all, wanted
from mlscale_dispatcher.metrics import DispatcherMetrics
from mlscale_inference.metrics import InferenceMetrics

CONFIG = parse_hpa_config(
    yaml.safe_load(
        """
metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
  - type: Pods
    pods: {metric: {name: mlscale_inference_in_flight}, target: {type: AverageValue, averageValue: "2"}}
  - type: External
    external: {metric: {name: mlscale_dispatcher_queue_depth}, target: {type: AverageValue, averageValue: 5}}
  - type: External
    external:
      metric: {name: mlscale_dispatcher_requests_total, selector: {matchLabels: {outcome: ok}}}
      target: {type: Value, value: "100"}
"""
    )
)


def test_each_listed_metric_is_read_where_an_adapter_would_find_it() -> None:
    per_replica, dispatcher = wanted(CONFIG)
    assert per_replica == {"mlscale_inference_in_flight"}
    assert dispatcher == {"mlscale_dispatcher_queue_depth", "mlscale_dispatcher_requests_total"}
    assert wanted(parse_hpa_config({})) == (set(), set())  # CPU alone: nothing to scrape


def test_a_replicas_in_flight_and_the_dispatchers_queue_in_milli_units() -> None:
    replica = InferenceMetrics.create()
    replica.in_flight.set(3)
    found = scrape_all(generate_latest(replica.registry).decode(), {"mlscale_inference_in_flight"})
    assert found == {"mlscale_inference_in_flight": [({}, 3000)]}

    dispatcher = DispatcherMetrics.create()
    dispatcher.queue_depth.set(12)
    dispatcher.requests.labels("ok").inc(7)
    dispatcher.requests.labels("error").inc(2)
    page = generate_latest(dispatcher.registry).decode()
    samples = scrape_all(page, {"mlscale_dispatcher_queue_depth", "mlscale_dispatcher_requests_total"})
    assert samples["mlscale_dispatcher_queue_depth"] == [({}, 12000)]
    # The selector keeps the series whose labels include its own: outcome=ok only.
    assert matching(samples["mlscale_dispatcher_requests_total"], {"outcome": "ok"}) == [7000]
    assert (
        sum(matching(samples["mlscale_dispatcher_requests_total"], {})) == 9000
    )  # no selector: every series
