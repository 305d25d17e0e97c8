"""``python -m mlscale_dispatcher``: run the dispatcher."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import uvicorn

from mlscale_dispatcher.config import ENV_PREFIX, ConfigError, Settings, byte_size
from mlscale_http import guarded_protocol

# setting -> (type, help); each is a --flag and an MLSCALE_DISPATCHER_<NAME> variable.
OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    "port": (int, "port (default 8000)"),
    "result_url": (str, "where outcomes are POSTed in batches (the load tester's /storeLatency)"),
    "max_queue": (int, "queue bound; beyond it /enqueue answers 429 (default 10000)"),
    "max_queue_bytes": (
        byte_size,
        "bytes of queued images (512Mi); beyond them 429 (default 1Gi)",
    ),
    "concurrency": (int, "forwarders, fixed (the original design: 3; default: --per-upstream per upstream)"),
    "per_upstream": (int, "forwarders per upstream when --concurrency is not set (default 2)"),
    "drain_rate": (float, "items/s cap on forwarding (default: none)"),
    "max_attempts": (int, "tries per request over distinct upstreams (default 3)"),
    "request_timeout": (float, "seconds per request, all attempts (default 30)"),
    "grace_period": (float, "seconds to keep draining after SIGTERM (default 10)"),
    "report_batch": (int, "records per result post (default 100)"),
    "report_interval": (float, "seconds between result posts (default 0.1)"),
    "max_image_bytes": (int, "largest image (default 10485760)"),
    "discover": (str, "http://NAME:PORT: one upstream per address of NAME, re-resolved (a headless Service)"),
    "discover_interval": (float, "seconds between resolutions of --discover (default 2)"),
    "control_token": (str, "token that enables PUT /upstreams"),
    "result_token": (str, "bearer token sent with outcome posts to --result-url"),
}

KINDS: dict[Callable[[str], Any], str] = {
    int: "an integer",
    float: "a number",
    byte_size: "a size in bytes (an integer, or with Ki, Mi or Gi: 512Mi)",
}


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m mlscale_dispatcher",
        description="Queue images and feed them to the inference tier (env: MLSCALE_DISPATCHER_*)",
    )
    parser.add_argument("--host", default=environ.get(ENV_PREFIX + "HOST", "127.0.0.1"))
    parser.add_argument(
        "--upstream",
        action="append",
        default=None,
        help="inference base URL; repeat for several (env: comma-separated UPSTREAMS)",
    )
    parser.add_argument("--log-level", default=environ.get(ENV_PREFIX + "LOG_LEVEL", "info"))
    for name, (_, text) in OPTIONS.items():
        parser.add_argument("--" + name.replace("_", "-"), default=None, help=text)
    args = parser.parse_args(argv)

    values: dict[str, Any] = {"host": args.host, "log_level": args.log_level}
    upstreams = args.upstream or [
        u for u in environ.get(ENV_PREFIX + "UPSTREAMS", "").split(",") if u.strip()
    ]
    values["upstreams"] = tuple(u.strip() for u in upstreams)
    for name, (cast, _) in OPTIONS.items():
        flag = getattr(args, name)
        source, raw = (
            (f"--{name.replace('_', '-')}", flag)
            if flag is not None
            else (ENV_PREFIX + name.upper(), environ.get(ENV_PREFIX + name.upper()) or None)
        )
        if raw is None:
            continue
        try:
            values[name] = cast(raw)
        except ValueError:
            raise ConfigError(f"{source}: {raw!r} is not {KINDS.get(cast, 'valid')}") from None
    return Settings(**values)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        settings = parse_args(argv, os.environ)
    except ConfigError as exc:
        print(f"mlscale-dispatcher: {exc}", file=sys.stderr)
        sys.exit(2)
    from mlscale_dispatcher.app import create_app
    from mlscale_dispatcher.logs import configure_logging
    from mlscale_dispatcher.server import GracefulServer
    from mlscale_dispatcher.state import DispatcherState

    configure_logging(settings.log_level)
    state = DispatcherState(settings)
    config = uvicorn.Config(
        create_app(settings, state),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.grace_period) + 5,
        backlog=4096,
        http=guarded_protocol(),
    )
    GracefulServer(config, state).run()


if __name__ == "__main__":
    main()
