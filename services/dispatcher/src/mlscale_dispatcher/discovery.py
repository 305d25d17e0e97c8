"""Upstreams from DNS: one upstream per address a name resolves to, re-resolved every few seconds.

On Kubernetes the inference pods sit behind a Service, and kube-proxy balances per TCP connection:
keep-alive connections opened while one pod existed stay on that pod, and pods added by a
scale-out get little or nothing. A headless Service's name resolves to the addresses of the
ready pods instead, so the dispatcher sees every replica and balances requests over them itself
(power of two choices, as with the local backend's replica list), the way client-side load
balancers and meshes do.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

log = logging.getLogger("mlscale_dispatcher.discovery")

NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
"""Answers that mean "no ready pod now" (a headless Service without ready endpoints has no
records); anything else (a timeout, a resolver down) keeps the last known upstreams."""


async def resolve(url: str) -> list[str]:
    """``http://name:port`` -> ``http://address:port`` for every IPv4 address of the name, sorted."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(parts.hostname, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in NO_SUCH_NAME:
            return []
        raise
    return sorted({f"{parts.scheme}://{info[4][0]}:{port}" for info in infos})


async def discover_forever(
    url: str,
    interval: float,
    apply: Callable[[list[str]], None],
    resolver: Callable[[str], Awaitable[list[str]]] = resolve,
) -> None:
    """Resolve ``url`` now and every ``interval`` seconds; call ``apply`` when the set changes."""
    current: list[str] | None = None
    while True:
        try:
            found = await resolver(url)
            if found != current:
                log.info("upstreams discovered", extra={"discover": url, "upstreams": found})
                apply(found)
                current = found
        except Exception as exc:  # whatever went wrong, the loop must outlive it: it is the only one
            log.warning("upstream discovery failed; keeping the last upstreams", extra={"error": repr(exc)})
        await asyncio.sleep(interval)
