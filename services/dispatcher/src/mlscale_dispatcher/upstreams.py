"""The inference replicas the forwarders spread work over: least outstanding requests first.

A replica that answered 503 or refused a connection sits out a short cool-down, so retries go
elsewhere; if every replica is cooling down, the least recently failed one is still tried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Upstream:
    url: str
    outstanding: int = 0
    cool_until: float = 0.0
    served: int = 0
    failures: int = 0


class UpstreamPool:
    def __init__(self, urls: Iterable[str], cool_down: float = 1.0) -> None:
        self.cool_down = cool_down
        self._upstreams: dict[str, Upstream] = {}
        self.replace(urls)

    def replace(self, urls: Iterable[str]) -> None:
        """Set the replica list; replicas that stay keep their counters."""
        wanted = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self._upstreams = {url: self._upstreams.get(url) or Upstream(url) for url in wanted}

    def __len__(self) -> int:
        return len(self._upstreams)

    def pick(self, now: float, exclude: frozenset[str] = frozenset()) -> Upstream | None:
        candidates = [u for u in self._upstreams.values() if u.url not in exclude]
        if not candidates:
            return None
        warm = [u for u in candidates if u.cool_until <= now]
        if warm:
            return min(warm, key=lambda u: u.outstanding)
        return min(candidates, key=lambda u: u.cool_until)

    def failed(self, upstream: Upstream, now: float) -> None:
        upstream.failures += 1
        upstream.cool_until = now + self.cool_down

    def snapshot(self, now: float) -> list[dict[str, object]]:
        return [
            {
                "url": u.url,
                "outstanding": u.outstanding,
                "served": u.served,
                "failures": u.failures,
                "cooling_down": u.cool_until > now,
            }
            for u in self._upstreams.values()
        ]
