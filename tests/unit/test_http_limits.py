"""mlscale_http's limits on a real Uvicorn on 127.0.0.1: head size, head timeout, connection cap."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from harness.services import free_port
from mlscale_http import HttpLimits, guarded_protocol
from mlscale_http.limits import connection_cap

LIMITS = HttpLimits(max_head_bytes=1024, head_timeout=0.5, body_timeout=0.5, max_connections=8)


class Server:
    """An ASGI app that answers 200 with the body's length; ``/hold`` waits until ``release``."""

    def __init__(self, limits: HttpLimits) -> None:
        self.port = free_port()
        self.release = threading.Event()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error",
                                lifespan="off", interface="asgi3", http=guarded_protocol(limits))  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["path"] == "/hold":
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        client = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return client


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(LIMITS) as running:
        yield running


def response(client: socket.socket) -> bytes:
    """Everything until the server closes (or 5 s pass: the test then fails on what it got)."""
    chunks = []
    try:
        while chunk := client.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


def test_a_request_line_over_the_limit_is_414_before_the_rest_is_read(server: Server) -> None:
    with server.connect() as client:
        client.sendall(b"GET /" + b"a" * 4096)  # no end of line: a server that waits for it would hang
        raw = response(client)
    assert status(raw) == 414, raw
    assert b'"error": "request_line_too_long"' in raw
    assert b"connection: close" in raw


def test_headers_over_the_limit_are_431(server: Server) -> None:
    with server.connect() as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 4096)
        assert status(response(client)) == 431
    with server.connect() as client:  # many small headers count the same
        client.sendall(b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * 1000 + b"\r\n")
        assert status(response(client)) == 431


def test_a_body_past_the_head_limit_is_not_counted_as_head(server: Server) -> None:
    body = b"x" * 200_000
    with server.connect() as client:
        head = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        client.sendall(head + body)
        raw = response(client)
    assert status(raw) == 200, raw[:200]
    assert b"\r\n200000\r\n" in raw  # the whole body reached the app


def test_pipelined_requests_in_one_packet_are_all_answered(server: Server) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with server.connect() as client:
        client.sendall(request * 20 + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = response(client)
    assert raw.count(b"HTTP/1.1 200 OK") == 21


def test_an_idle_connection_is_closed_after_the_head_timeout(server: Server) -> None:
    began = time.monotonic()
    with server.connect() as client:
        assert client.recv(1) == b""  # closed without a response: nothing was asked
    assert time.monotonic() - began >= LIMITS.head_timeout


def test_a_head_sent_too_slowly_is_408(server: Server) -> None:
    began = time.monotonic()
    with server.connect() as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        raw = response(client)
    assert status(raw) == 408
    assert time.monotonic() - began >= LIMITS.head_timeout


def test_a_body_that_stops_coming_is_408_and_one_that_keeps_coming_is_not(server: Server) -> None:
    with server.connect() as client:
        client.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        raw = response(client)  # and no more of the body
    assert status(raw) == 408
    assert b"the body stalled" in raw
    with server.connect() as client:  # slow but steady: a byte every 0.3 timeouts, 2.1 timeouts in all
        client.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\n")
        for _ in range(7):
            time.sleep(LIMITS.body_timeout * 0.3)
            client.sendall(b"x")
        raw = response(client)
    assert status(raw) == 200
    assert b"\r\n7\r\n" in raw


def test_the_timeout_restarts_after_each_response(server: Server) -> None:
    with server.connect() as client:
        for _ in range(7):  # each request well inside the timeout, 2.1 timeouts in all
            time.sleep(LIMITS.head_timeout * 0.3)
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status(client.recv(4096)) == 200


def test_at_the_cap_a_new_connection_closes_the_longest_idle_one(server: Server) -> None:
    cap = LIMITS.max_connections
    assert cap is not None
    idle = [server.connect() for _ in range(cap * 3)]
    try:
        with server.connect() as client:  # the newest still gets its answer
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status(response(client)) == 200
        for oldest in idle[:cap]:  # the first ones made room
            oldest.settimeout(0.2 if oldest is not idle[0] else 5)
            assert oldest.recv(1) == b""
    finally:
        for sock in idle:
            sock.close()


def test_at_the_cap_with_every_connection_busy_a_new_one_is_503(server: Server) -> None:
    cap = LIMITS.max_connections
    assert cap is not None
    busy = [server.connect() for _ in range(cap)]
    try:
        for sock in busy:
            sock.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)  # the requests reach the app (they are held until release)
        with server.connect() as client:
            raw = response(client)
        assert status(raw) == 503
        assert b"too_many_connections" in raw
        server.release.set()
        assert all(status(sock.recv(4096)) == 200 for sock in busy)
    finally:
        for sock in busy:
            sock.close()


def test_the_default_cap_keeps_descriptors_for_the_rest_of_the_process() -> None:
    assert connection_cap(20_000) == 16_384  # 17,500 by descriptors; the memory bound is lower
    assert connection_cap(10_000) == 8_750
    assert connection_cap(1_048_576) == 16_384
    assert connection_cap(1024) == 896
    assert connection_cap(10) == 16
