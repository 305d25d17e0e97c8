"""A request's body, bounded as it arrives: what every mlscale endpoint that takes one reads it with."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request


class BodyRefused(Exception):
    """Why a body was not read: the status, the JSON ``error`` and its ``detail``."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes; 413 past ``limit`` (declared or as it arrives, so a client that lies
    about its length is cut off at the limit); a client gone mid-body is a 400 nobody reads, not
    an unhandled ``ClientDisconnect`` logged with its traceback."""
    declared = request.headers.get("content-length", "")
    # isdigit alone admits '²' or '٣', which int() refuses or reads
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, "body_too_large", f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, "body_too_large", f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise BodyRefused(
            400, "client_disconnected", "the client closed the connection before the body ended"
        ) from exc
    return b"".join(chunks)
