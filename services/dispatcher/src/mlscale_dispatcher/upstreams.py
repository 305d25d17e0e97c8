"""The inference replicas the forwarders spread work over: power of two random choices.

Each pick draws two replicas at random and takes the one with fewer outstanding requests (ties:
the first drawn, so at random), as Envoy's least-request balancer does. Taking the global
minimum with ties broken by list order sent 99.6 % of a 30 requests/s run to the first of two
replicas (issue 13): at light load every replica has 0 outstanding, and the first always won.

A replica that answered 503 sits out a short cool-down, so retries go elsewhere. One whose
connection was refused or reset is likely gone (killed, not yet out of the list): it sits out
longer, and while any other replica is in the list it is not tried, even if the others are all
cooling down after a 503 (issue 31: two retries of a killed replica's requests went back to it
and ended ``ClientConnectorError``). If every replica is cooling down, the least recently failed
of the reachable ones is tried.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Upstream:
    url: str
    outstanding: int = 0
    cool_until: float = 0.0
    unreachable: bool = False
    """Its last failure was at the connection (refused, reset): until ``cool_until``, presumed gone."""
    served: int = 0
    failures: int = 0


class UpstreamPool:
    def __init__(
        self,
        urls: Iterable[str],
        cool_down: float = 1.0,
        rng: random.Random | None = None,
        unreachable_cool_down: float = 5.0,
    ) -> None:
        self.cool_down = cool_down
        self.unreachable_cool_down = unreachable_cool_down
        self._rng = rng or random.Random()
        self._upstreams: dict[str, Upstream] = {}
        self.changed = asyncio.Event()
        """Set on every replace: forwarders waiting for an upstream wake up."""
        self.replace(urls)

    def replace(self, urls: Iterable[str]) -> None:
        """Set the replica list (possibly empty); replicas that stay keep their counters."""
        wanted = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self._upstreams = {url: self._upstreams.get(url) or Upstream(url) for url in wanted}
        self.changed.set()
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._upstreams)

    def pick(self, now: float, exclude: frozenset[str] = frozenset()) -> Upstream | None:
        candidates = [u for u in self._upstreams.values() if u.url not in exclude]
        if not candidates:
            return None
        warm = [u for u in candidates if u.cool_until <= now]
        if not warm:  # all cooling: a busy replica (503) before one that may be dead
            return min(candidates, key=lambda u: (u.unreachable, u.cool_until))
        if len(warm) == 1:
            return warm[0]
        first, second = self._rng.sample(warm, 2)
        return second if second.outstanding < first.outstanding else first

    def failed(self, upstream: Upstream, now: float, unreachable: bool = False) -> None:
        """``unreachable``: the connection failed (no HTTP status), not the replica's answer."""
        upstream.failures += 1
        upstream.unreachable = unreachable
        upstream.cool_until = now + (self.unreachable_cool_down if unreachable else self.cool_down)

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
