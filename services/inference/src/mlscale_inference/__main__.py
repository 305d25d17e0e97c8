"""``python -m mlscale_inference``: run one inference replica."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import uvicorn

from mlscale_http import guarded_protocol
from mlscale_inference.config import ConfigError, Settings, env_defaults, parse_cpu
from mlscale_inference.startup import Launch


def parse_args(argv: Sequence[str] | None, environ: dict[str, str]) -> Settings:
    env = env_defaults(environ)
    parser = argparse.ArgumentParser(
        prog="python -m mlscale_inference",
        description="Serve Keras MobileNetV2 over HTTP. Every flag has an MLSCALE_INFERENCE_<NAME> variable.",
    )
    parser.add_argument("--host", default=env.get("host", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None, help="default 8001")
    parser.add_argument(
        "--weights",
        default=env.get("weights", "imagenet"),
        help="imagenet, none (random, same CPU cost) or a weights file",
    )
    parser.add_argument(
        "--engine", default=env.get("engine", "keras"), help="keras, litert or onnx (default keras)"
    )
    parser.add_argument(
        "--model-file", default=env.get("model_file"), help="the exported model of a litert or onnx engine"
    )
    parser.add_argument("--replica-id", default=env.get("replica_id"))
    parser.add_argument(
        "--cpu", default=env.get("cpu", "1"), help="CPU budget, e.g. 500m or 2 (sets threads)"
    )
    parser.add_argument("--threads", type=int, default=None, help="model threads (default: from --cpu)")
    parser.add_argument(
        "--max-pending", type=int, default=None, help="admitted requests before 503 (default 16)"
    )
    parser.add_argument("--max-image-bytes", type=int, default=None, help="default 10485760")
    parser.add_argument(
        "--loop-max-pixels", type=int, default=None,
        help="images up to this many pixels decode on the event loop, larger on a thread (default 1000000)",
    )  # fmt: skip
    parser.add_argument(
        "--decode-budget", type=int, default=None,
        help="most pixels one decode may make (JPEG after draft scaling); more is 413 (default 4194304)",
    )  # fmt: skip
    parser.add_argument(
        "--drain-timeout", type=float, default=None, help="seconds to drain on SIGTERM (default 30)"
    )
    parser.add_argument("--log-level", default=env.get("log_level", "info"))
    args = parser.parse_args(argv)

    def pick(name: str, flag: object, cast: type) -> dict[str, object]:
        if flag is not None:
            return {name: flag}
        if name in env:
            try:
                return {name: cast(env[name])}
            except ValueError:
                raise ConfigError(
                    f"MLSCALE_INFERENCE_{name.upper()}: {env[name]!r} is not a {cast.__name__}"
                ) from None
        return {}

    options: dict[str, object] = {
        "host": args.host,
        "weights": args.weights,
        "engine": args.engine,
        "model_file": args.model_file,
        "cpu": parse_cpu(args.cpu),
        "log_level": args.log_level,
        **pick("port", args.port, int),
        **pick("threads", args.threads, int),
        **pick("max_pending", args.max_pending, int),
        **pick("max_image_bytes", args.max_image_bytes, int),
        **pick("loop_max_pixels", args.loop_max_pixels, int),
        **pick("decode_budget", args.decode_budget, int),
        **pick("drain_timeout", args.drain_timeout, float),
    }
    if args.replica_id:
        options["replica_id"] = args.replica_id
    return Settings(**options)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> None:
    launch = Launch.at_main()
    try:
        settings = parse_args(argv, dict(os.environ))
    except ConfigError as exc:
        print(f"mlscale-inference: {exc}", file=sys.stderr)
        sys.exit(2)
    # Quiet TensorFlow's C++ start-up chatter; it is not JSON and says nothing actionable.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mlscale_inference.app import ReplicaState, create_app
    from mlscale_inference.logs import configure_logging
    from mlscale_inference.server import DrainingServer

    configure_logging(settings.replica_id, settings.log_level)
    launch.imported()
    state = ReplicaState(settings, launch=launch)
    app = create_app(settings, state=state)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_timeout) + 5,
        lifespan="on",
        http=guarded_protocol(),
    )
    DrainingServer(config, state).run()


if __name__ == "__main__":
    main()
