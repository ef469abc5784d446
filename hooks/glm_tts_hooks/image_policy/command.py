"""`glm-tts-hooks image-policy serve`: run the image-policy admission webhook over HTTPS."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

EXIT_PASS, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("glm_tts_hooks.image_policy")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image-policy",
        help="image-policy admission webhook (AdmissionReview v1 and ImageReview v1alpha1)",
        description="Admit only images from allowed registries, pinned by digest and signed with cosign.",
    )
    actions = parser.add_subparsers(dest="image_policy_command", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve", help="serve /validate, /imagereview, /healthz and /metrics over HTTPS"
    )
    serve.add_argument("--cert", required=True, help="TLS certificate chain (PEM); reloaded when it changes")
    serve.add_argument("--key", required=True, help="TLS private key (PEM); reloaded when it changes")
    serve.add_argument("--policy", required=True, help="image-policy YAML file; reloaded when it changes")
    serve.add_argument("--port", type=int, default=8443, help="port to listen on (default 8443)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    serve.add_argument(
        "--registry-auth",
        metavar="FILE",
        help="registry credentials as a dockerconfigjson file (the .dockerconfigjson key of a Secret)",
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Imported here so `glm-tts-hooks --help` stays fast and other subcommands never load the server.
    try:
        from glm_tts_hooks.image_policy.server import ImagePolicyServer, ServerConfig, StartupError
    except ImportError as exc:
        print(
            f"error: the image-policy server needs its extra ({exc.name} is missing): "
            "pip install 'glm-tts-hooks[image-policy]'",
            file=sys.stderr,
        )
        return EXIT_USAGE

    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is out of range 0-65535", file=sys.stderr)
        return EXIT_USAGE
    config = ServerConfig(
        host=args.host,
        port=args.port,
        cert_file=args.cert,
        key_file=args.key,
        policy_file=args.policy,
        registry_auth_file=args.registry_auth,
    )
    try:
        server = ImagePolicyServer(config)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    # uvicorn shuts down gracefully on these, then re-raises the signal with the handler it found:
    # this one, so a drained shutdown exits 0 instead of dying by the signal.
    def stopped(signum: int, _frame: object) -> None:
        log.info("received %s, stopped after answering the reviews in progress", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGINT, stopped)
    log.info("serving on https://%s:%d", *server.address)
    server.serve()
    return EXIT_PASS
