"""The load generator's lean HTTP client against small asyncio servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from mlscale.loadgen import http
from mlscale.loadgen.http import BadResponse, HttpPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request's body, or None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


class Server:
    """Answers each request with 202 and the request body (echo); counts connections and concurrency."""

    def __init__(self, delay: float = 0.0, close_after_each: bool = False) -> None:
        self.delay = delay
        self.close_after_each = close_after_each
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while (body := await read_request(reader)) is not None:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(self.delay)
            self.in_flight -= 1
            close = b"Connection: close\r\n" if self.close_after_each else b""
            writer.write(
                b"HTTP/1.1 202 Accepted\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), close, body)
            )
            await writer.drain()
            if self.close_after_each:
                break
        writer.close()


def with_server(handler: Handler, work: Callable[[HttpPool], Awaitable[None]], limit: int = 512) -> None:
    """Serve ``handler`` on a free port, run ``work`` with a pool to it, then close everything."""

    async def main() -> None:
        handlers: list[asyncio.Task[None]] = []

        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handlers.append(asyncio.current_task())  # type: ignore[arg-type]
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        pool = HttpPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", limit=limit)
        try:
            await work(pool)
        finally:
            pool.close()  # the handlers see end of stream and return
            await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_answers_come_back_and_one_connection_is_reused() -> None:
    server = Server()

    async def work(pool: HttpPool) -> None:
        for i in range(30):
            status, body = await pool.post_json("/enqueue", b'{"n":%d}' % i, 5)
            assert (status, body) == (202, b'{"n":%d}' % i)
        assert server.connections == 1

    with_server(server.handle, work)


def test_concurrency_never_exceeds_the_limit_and_everyone_gets_an_answer() -> None:
    server = Server(delay=0.02)

    async def work(pool: HttpPool) -> None:
        answers = await asyncio.gather(*(pool.post_json("/x", b"%d" % i, 5) for i in range(20)))
        assert [body for _, body in answers] == [b"%d" % i for i in range(20)]
        assert server.max_in_flight == 3
        assert pool.open <= 3

    with_server(server.handle, work, limit=3)


def test_servers_that_close_each_connection_still_work() -> None:
    server = Server(close_after_each=True)

    async def work(pool: HttpPool) -> None:
        for _ in range(5):
            assert (await pool.post_json("/x", b"{}", 5))[0] == 202
        assert server.connections == 5
        assert pool.open == 0  # each closed connection was given back, not leaked

    with_server(server.handle, work)


def test_idle_connections_past_the_reuse_window_are_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "IDLE_REUSE_S", 0.0)
    server = Server()

    async def work(pool: HttpPool) -> None:
        for _ in range(3):
            assert (await pool.post_json("/x", b"{}", 5))[0] == 202
        assert server.connections == 3
        assert pool.open == 1

    with_server(server.handle, work)


def test_a_slow_answer_times_out_and_frees_its_connection() -> None:
    server = Server(delay=2.0)

    async def work(pool: HttpPool) -> None:
        with pytest.raises(TimeoutError):
            await pool.post_json("/x", b"{}", 0.1)
        assert pool.open == 0
        server.delay = 0.0
        assert (await pool.post_json("/x", b"{}", 5))[0] == 202  # the slot was given back

    with_server(server.handle, work, limit=1)


def test_not_http_and_refused_connections_raise() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    async def work(pool: HttpPool) -> None:
        with pytest.raises(BadResponse):
            await pool.post_json("/x", b"{}", 5)
        assert pool.open == 0

    with_server(garbage, work)

    async def refused() -> None:
        server = await asyncio.start_server(Server().handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        pool = HttpPool(f"http://127.0.0.1:{port}")
        with pytest.raises(ConnectionRefusedError):
            await pool.post_json("/x", b"{}", 5)
        assert pool.open == 0

    asyncio.run(refused())


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpPool("ftp://example.org")
