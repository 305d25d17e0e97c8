"""A no-op server for benchmarks (aiohttp, one process): answers at once.

As an inference upstream: ``/infer``. As a dispatcher for the load generator: ``/enqueue``
(202, like the real one), an empty ``/results`` and ``/stats``.
"""

from __future__ import annotations

import argparse

from aiohttp import web

BODY = b'{"predictions":[],"model":"noop","replica":"noop","timings_ms":{}}'


async def infer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


async def enqueue(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=202, body=b'{"queue_depth":0}', content_type="application/json")


async def results(request: web.Request) -> web.Response:
    return web.Response(body=b'{"records":[],"next":0,"truncated":false}', content_type="application/json")


async def stats(request: web.Request) -> web.Response:
    return web.Response(body=b'{"queue_depth":0}', content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ready"}', content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.add_routes([web.post("/infer", infer), web.post("/enqueue", enqueue), web.get("/readyz", ready)])
    app.add_routes([web.get("/results", results), web.get("/stats", stats)])
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
