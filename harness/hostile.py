"""Hostile clients on raw sockets, for the hardening tests: huge request heads and idle floods.

``python -m harness.hostile idle PORT COUNT SECONDS`` opens COUNT connections to 127.0.0.1:PORT
that never send a byte, says ``open`` on stdout, then waits up to SECONDS for the server to close
them and prints one JSON line: how many opened, how many the server closed and when the last went.
(One process holds at most its open-file limit of sockets: a test floods from several.)
"""

from __future__ import annotations

import json
import resource
import select
import socket
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    status: int
    """The status the server answered with (0: it closed without one)."""
    sent: int
    """Bytes the client got out before the server closed the connection."""
    seconds: float


def huge_head(port: int, size: int, headers: bool) -> Refusal:
    """Send a request line (or, with ``headers``, one header) of ``size`` bytes, 1 MB at a time."""
    began = time.monotonic()
    chunk = b"a" * (1 << 20)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        try:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " if headers else b"GET /")
            while sent < size:
                client.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while sending: what the limit is for
        try:
            answer = client.recv(4096)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return Refusal(status, sent, time.monotonic() - began)


def idle(port: int, count: int, seconds: float) -> dict[str, float]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # as the servers do: the flood may use all the descriptors it is allowed
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets: list[socket.socket] = []
    failed = 0
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            failed += 1
    began = time.monotonic()
    print("open", flush=True)
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in sockets}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    closed, last = 0, 0.0
    while by_fd and time.monotonic() - began < seconds:
        for fd, _ in poller.poll(200):
            sock = by_fd.pop(fd, None)
            if sock is None:
                continue
            poller.unregister(fd)
            try:
                data = sock.recv(1)
            except OSError:
                data = b""
            if not data:  # EOF or reset: the server closed it
                closed += 1
                last = time.monotonic() - began
            sock.close()
    return {"opened": len(sockets), "failed": failed, "closed": closed, "last_close_s": round(last, 2)}


if __name__ == "__main__":
    _, mode, port, count, seconds = sys.argv
    assert mode == "idle", mode
    print(json.dumps(idle(int(port), int(count), float(seconds))), flush=True)
