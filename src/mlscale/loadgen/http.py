"""A lean HTTP/1.1 keep-alive client for the load generator's one hot call, ``POST /enqueue``.

Why not aiohttp here: measured (``nox -s bench -- loadgen``), aiohttp spent ~400 µs of CPU per
request in this process, and at 2,000 requests/s on two cores that left the schedule stalling
for 5-30 ms (send-lag p99 over the 5 ms goal). This client writes a request with one
``writelines`` and parses the answer with httptools (uvicorn's parser), and nothing else.
Everything else in mlscale still uses aiohttp or httpx.

One request per connection at a time (no pipelining); idle connections are reused, and dropped
once idle long enough that the server may be closing them (its keep-alive timeout).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from urllib.parse import urlsplit

import httptools

IDLE_REUSE_S = 2.0
"""Reuse an idle connection only this long: Uvicorn closes idle ones after 5 s by default."""


class BadResponse(Exception):
    """The server's answer was not HTTP."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.closed = False
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(str(exc)))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError("the server closed the connection") if exc is None else exc)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if not self.parser.should_keep_alive():
            self.close()
        body, self.body = b"".join(self.body), []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class HttpPool:
    """Up to ``limit`` keep-alive connections to one origin; callers beyond that wait their turn."""

    def __init__(self, base_url: str, limit: int = 512) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http:// or https:// URL")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.host_header = parts.netloc.encode("idna")
        self.limit = limit
        self.open = 0
        self.idle: collections.deque[_Connection] = collections.deque()
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def post_json(self, path: str, body: bytes, time_limit: float) -> tuple[int, bytes]:
        """POST ``body`` as JSON; the status and body, or TimeoutError / OSError / BadResponse."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_limit
        async with asyncio.timeout_at(deadline):
            connection = await self._acquire(loop)
        head = (
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (
                (self.prefix + path).encode(),
                self.host_header,
                len(body),
            )
        )
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        connection.waiter = waiter
        timer = loop.call_at(deadline, self._expire, connection, waiter)
        assert connection.transport is not None
        connection.transport.writelines([head, body])
        try:
            return await waiter
        finally:
            timer.cancel()
            connection.waiter = None
            self._release(connection, loop)

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        while True:
            while self.idle:
                connection = self.idle.pop()  # the most recently used: the warmest
                if not connection.closed and loop.time() - connection.idle_since < IDLE_REUSE_S:
                    return connection
                connection.close()
                self.open -= 1
            if self.open < self.limit:
                self.open += 1
                try:
                    _, protocol = await loop.create_connection(
                        _Connection,
                        self.host,
                        self.port,
                        ssl=self.ssl,
                        server_hostname=self.host if self.ssl else None,
                    )
                except BaseException:
                    self.open -= 1
                    self._wake_one()
                    raise
                return protocol
            turn: asyncio.Future[None] = loop.create_future()
            self.waiting.append(turn)
            await turn

    def _release(self, connection: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        if connection.closed:
            self.open -= 1
        else:
            connection.idle_since = loop.time()
            self.idle.append(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return

    @staticmethod
    def _expire(connection: _Connection, waiter: asyncio.Future[tuple[int, bytes]]) -> None:
        # The answer may still come, but the connection's state is unknown: close it.
        if not waiter.done():
            waiter.set_exception(TimeoutError())
        connection.close()

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
