"""Settings of the dispatcher, from flags and ``MLSCALE_DISPATCHER_*`` variables (flags win).

Every bad value raises ``ConfigError`` naming the setting; the entry point exits 2 with it.
The result URL is configuration only: a client can never choose where outcomes are posted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

ENV_PREFIX = "MLSCALE_DISPATCHER_"


class ConfigError(ValueError):
    """A setting has a value the dispatcher cannot run with."""


def check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: {url!r} is not an http(s) URL")
    return url.rstrip("/")


BYTE_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def byte_size(text: str) -> int:
    """``536870912``, ``512Mi`` or ``1Gi`` (the suffixes of Kubernetes quantities) as bytes."""
    text = text.strip()
    unit = BYTE_UNITS.get(text[-2:], 1)
    digits = text[:-2] if unit > 1 else text
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(text)
    return int(digits) * unit


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    upstreams: tuple[str, ...] = ()
    """Inference base URLs: one Service URL, or replica URLs (replaceable at run time)."""
    discover: str | None = None
    """``http://name:port``: the upstreams are the name's addresses, re-resolved every
    ``discover_interval`` seconds (a headless Service: one upstream per ready pod)."""
    discover_interval: float = 2.0
    result_url: str | None = None
    """Where outcomes are POSTed in batches (the load tester's /storeLatency)."""
    max_queue: int = 10_000
    max_queue_bytes: int = 2**30
    """Bound on the bytes of the images queued (held in memory): beyond it /enqueue answers 429.
    In a pod, keep it well under the memory limit (the chart: 512 Mi of a 1 Gi limit)."""
    concurrency: int | None = None
    """Forwarders pulling from the queue at once, fixed (the original design had three); None:
    ``per_upstream`` for each configured upstream, so every replica the HPA starts can be busy."""
    per_upstream: int = 2
    """Forwarders per upstream when ``concurrency`` is not fixed: one request running on a replica
    and one waiting there, so it never idles between requests."""
    drain_rate: float | None = None
    """Items/s cap on forwarding (token bucket); None forwards as fast as upstreams answer."""
    max_attempts: int = 3
    """Tries per request over distinct upstreams on 503 or connection errors."""
    request_timeout: float = 30.0
    grace_period: float = 10.0
    """After SIGTERM, how long to keep draining before the rest is recorded as dropped."""
    report_batch: int = 100
    report_interval: float = 0.1
    report_buffer: int = 100_000
    """Outcomes kept for callbacks while the receiver is slow or down."""
    results_kept: int = 100_000
    """Outcomes kept for GET /results."""
    max_image_bytes: int = 10 * 1024 * 1024
    top_k: int = 5
    result_token: str | None = None
    """Sent as ``Authorization: Bearer`` with every outcome post (the load tester checks it)."""
    control_token: str | None = None
    """Enables PUT /upstreams for callers presenting it (the local backend)."""
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port: {self.port} is not a TCP port (1-65535)")
        for url in self.upstreams:
            check_url("upstream", url)
        if self.discover is not None:
            check_url("discover", self.discover)
            if self.upstreams:
                raise ConfigError("discover: give upstreams or a name to discover them from, not both")
        if self.result_url is not None:
            check_url("result_url", self.result_url)
        for name in (
            "max_queue",
            "max_queue_bytes",
            "per_upstream",
            "max_attempts",
            "report_batch",
            "report_buffer",
            "results_kept",
            "max_image_bytes",
            "top_k",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: {getattr(self, name)} must be at least 1")
        if self.max_queue_bytes < self.max_image_bytes:
            raise ConfigError(
                f"max_queue_bytes: {self.max_queue_bytes} must hold at least one image of "
                f"max_image_bytes ({self.max_image_bytes})"
            )
        if self.concurrency is not None and self.concurrency < 1:
            raise ConfigError(f"concurrency: {self.concurrency} must be at least 1")
        if self.drain_rate is not None and not (math.isfinite(self.drain_rate) and self.drain_rate > 0):
            raise ConfigError(f"drain_rate: {self.drain_rate} must be a positive number of items/s")
        for name in ("request_timeout", "report_interval", "discover_interval"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: {getattr(self, name)} must be positive")
        if self.grace_period < 0:
            raise ConfigError(f"grace_period: {self.grace_period} must not be negative")

    @property
    def max_body_bytes(self) -> int:
        return self.max_image_bytes * 4 // 3 + 64 * 1024
