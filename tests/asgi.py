"""Requests straight into an ASGI app (httpx.ASGITransport): no socket, no server, no process.

``lifespan=True`` runs the app's startup and shutdown around the requests (ASGITransport alone does
not), as Uvicorn would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette

T = TypeVar("T")


@contextlib.asynccontextmanager
async def client_of(app: Starlette, *, lifespan: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    async with contextlib.AsyncExitStack() as stack:
        if lifespan:
            await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        yield await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))


def run_with(
    app: Starlette, scenario: Callable[[httpx.AsyncClient], Awaitable[T]], *, lifespan: bool = False
) -> T:
    async def main() -> T:
        async with client_of(app, lifespan=lifespan) as client:
            return await scenario(client)

    return asyncio.run(main())


class AppClient:
    """One request at a time into the app, from synchronous test code."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call(client: httpx.AsyncClient) -> httpx.Response:
            return await client.request(method, path, **kwargs)

        return run_with(self.app, call)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)
