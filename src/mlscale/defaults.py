"""The addresses mlscale's parts agree on when nobody says otherwise, named once."""

from __future__ import annotations

DISPATCHER_PORT = 8000
DISPATCHER_URL = f"http://127.0.0.1:{DISPATCHER_PORT}"
LISTEN_HOST = "127.0.0.1"
LISTEN_PORT = 3003
"""The load tester's /storeLatency listener."""
RESULT_PATH = "/storeLatency"
RESULT_URL = f"http://{LISTEN_HOST}:{LISTEN_PORT}{RESULT_PATH}"
"""Where a local dispatcher posts outcomes (the chart's default is the host as Minikube's pods see it)."""
CLUSTER_LISTEN_HOST = "0.0.0.0"
"""On kubernetes, pods post outcomes to the host: the listener must not be loopback-only."""
COMPARE_SLO_MS = 500.0
"""``compare``'s latency SLO (p95 per second of arrival): about 15x a litert replica's p95 under
light load (33 ms here) and 3x its p95 under the spike with enough replicas (101-151 ms), so only
a backlog breaks it; one replica holding a load it cannot serve breaks it within seconds."""
