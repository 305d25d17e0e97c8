"""The limits Uvicorn's httptools protocol does not set, set the way production servers set them.

Uvicorn reads a request line or header to its end however long it is (llhttp has no size limit,
and the pieces are joined with ``+=``: four 64 MB request lines held the event loop for seconds),
keeps a connection that never sends a byte open for ever, and accepts connections until the
process runs out of file descriptors. ``guarded_protocol`` makes a protocol class that, as nginx
and Node do:

- counts the request head (line and headers) as its bytes arrive and refuses it past
  ``max_head_bytes``, before parsing more of it: 414 while the request line is unfinished, 431
  after (nginx's ``large_client_header_buffers``, Node's ``maxHeaderSize``);
- wants a complete head ``head_timeout`` seconds after the connection opened or the previous
  response ended: a connection that sent nothing is closed, one that sent part of a head gets 408
  (nginx's ``client_header_timeout``, Go's ``ReadHeaderTimeout``, Node's ``headersTimeout``);
- wants a request's body to keep coming: ``body_timeout`` seconds without a byte of it and the
  request gets 408 and its connection is closed (nginx's ``client_body_timeout``), so a client
  that stops mid-body does not hold its connection for ever;
- at ``max_connections``, makes room for a new connection by closing the one that has waited
  longest for a request, as nginx reclaims idle keep-alive connections when it runs out (so a
  flood of idle sockets cannot shut out a health probe); if every connection has a request in
  progress, the new one gets 503 and is closed.

Uvicorn's own ``timeout_keep_alive`` still closes a connection idle after a response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

logger = logging.getLogger("mlscale.http")


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 8 * 1024
    """Request line plus headers; nginx's default buffers are 8 KB, Node's 16 KB."""
    head_timeout: float = 10.0
    """Seconds from a connection's start, or the end of its last response, to a complete head."""
    body_timeout: float = 30.0
    """Seconds a request's body may go without a byte (nginx's default is 60 s)."""
    max_connections: int | None = None
    """Open connections at most; None: the open-file limit less a reserve, at most 16,384
    (``connection_cap``)."""


def open_file_limit() -> int:
    """This process's open-file limit, its soft limit first raised to the hard one (as Go's
    runtime does at start): a server's connections are its file descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # a sandbox that refuses: the soft limit stands
    return soft


MEMORY_CAP = 16_384
"""Connections at most whatever the open-file limit: an idle one costs about 6.6 KB here (17,500
took the dispatcher from 43 to 159 MB), and a container's limit is often 1,048,576 files."""


def connection_cap(open_files: int) -> int:
    """Connections to allow: an eighth of the descriptors (at least 64) are kept for everything
    else the process opens (its logs, its own client connections, the model file), and never more
    than ``MEMORY_CAP``."""
    return min(MEMORY_CAP, max(16, open_files - max(64, open_files // 8)))


def guarded_protocol(limits: HttpLimits | None = None) -> type[asyncio.Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)``; one per server (it counts its connections)."""
    limits = limits or HttpLimits()
    cap = limits.max_connections or connection_cap(open_file_limit())
    namespace = {"limits": limits, "cap": cap, "waiting": {}}
    return type("GuardedHttpToolsProtocol", (GuardedProtocol,), namespace)


class GuardedProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits]
    cap: ClassVar[int]
    waiting: ClassVar[dict[GuardedProtocol, None]]
    """This server's connections waiting for a request's head, the longest-waiting first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_head = True
        self.head_bytes = 0
        self.line_done = False
        self.head_deadline: asyncio.TimerHandle | None = None
        self.body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.cap and not self._close_longest_waiting():
            logger.warning(
                "%d connections, each with a request in progress: refused one", len(self.connections)
            )
            self._refuse(503, "too_many_connections", f"the server holds {self.cap} connections, all busy")
            return
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        self._cancel_deadline()
        self._await_body(False)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.in_head:
            if self.body_deadline is not None:  # the body is still coming: its clock starts again
                self._await_body(True)
            super().data_received(data)
            return
        room = self.limits.max_head_bytes - self.head_bytes
        head, rest = (data, b"") if len(data) <= room else (data[:room], data[room:])
        self.head_bytes += len(head)
        self.line_done = self.line_done or b"\n" in head
        super().data_received(head)
        if not rest or self.transport.is_closing():
            return
        if self._head_unfinished():  # the limit reached: parse no more of it
            self._refuse_head()
        else:  # the head ended inside the limit: what follows is a body or the next request
            self.data_received(rest)

    def _head_unfinished(self) -> bool:
        return self.in_head  # (a method: the parser's callbacks change it behind mypy's narrowing)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.waiting.pop(self, None)
        self._cancel_deadline()
        self._await_body(True)  # until on_message_complete, at once for a request without a body
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.in_head, self.head_bytes, self.line_done = True, 0, False
        self._await_body(False)
        super().on_message_complete()

    def _await_body(self, waiting: bool) -> None:
        if self.body_deadline is not None:
            self.body_deadline.cancel()
        self.body_deadline = (
            self.loop.call_later(self.limits.body_timeout, self._body_timed_out) if waiting else None
        )

    def _body_timed_out(self) -> None:
        self.body_deadline = None
        if self.transport.is_closing():
            return
        logger.warning("a request's body stalled for %g s: 408", self.limits.body_timeout)
        if self.cycle is not None and self.cycle.response_started:  # too late for a status
            self.transport.close()
            return
        self._refuse(
            408, "request_timeout", f"the body stalled: no byte of it for {self.limits.body_timeout:g} s"
        )

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:  # no pipelined request left
            self._wait_for_head()

    def _wait_for_head(self) -> None:
        self.waiting.pop(self, None)
        self.waiting[self] = None
        self._cancel_deadline()
        self.head_deadline = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _cancel_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        if self.transport.is_closing():
            return
        if self.head_bytes == 0:  # idle: nothing to answer
            self.transport.close()
            return
        logger.warning("a request's head was not complete after %g s: 408", self.limits.head_timeout)
        self._refuse(
            408, "request_timeout", f"the request line and headers took over {self.limits.head_timeout:g} s"
        )

    def _refuse_head(self) -> None:
        limit = self.limits.max_head_bytes
        if self.line_done:
            logger.warning("request headers over %d bytes: 431", limit)
            self._refuse(431, "headers_too_large", f"the request's headers are over {limit} bytes")
        else:
            logger.warning("a request line over %d bytes: 414", limit)
            self._refuse(414, "request_line_too_long", f"the request line is over {limit} bytes")

    def _close_longest_waiting(self) -> bool:
        for other in self.waiting:
            if other is not self:
                del self.waiting[other]
                other.transport.close()
                return True
        return False

    def _refuse(self, status: int, error: str, detail: str) -> None:
        body = json.dumps({"error": error, "detail": detail}).encode()
        head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(
            body
        )
        self.transport.write(STATUS_LINE[status] + head + body)
        self.transport.close()
