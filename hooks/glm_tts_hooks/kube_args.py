"""The cluster-connection flags, kept apart from the client so building the CLI's parser loads no
Kubernetes code (and cuda-check, in the server image, needs none installed)."""

from __future__ import annotations

import argparse

DEFAULT_REQUEST_TIMEOUT = 10.0


def positive_seconds(text: str) -> float:
    """argparse type for timeouts and intervals."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    from glm_tts_hooks.argtypes import EmptyIsUnset

    group = parser.add_argument_group("cluster connection (in-cluster config when run in a pod)")
    group.add_argument(
        "--kubeconfig",
        metavar="PATH",
        action=EmptyIsUnset,
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)",
    )
    group.add_argument(
        "--context",
        metavar="NAME",
        action=EmptyIsUnset,
        help="kubeconfig context (default: the current context)",
    )
    group.add_argument(
        "--request-timeout",
        metavar="SECONDS",
        action=EmptyIsUnset,
        parse=positive_seconds,
        default=DEFAULT_REQUEST_TIMEOUT,
        help=f"timeout of each API request (default: {DEFAULT_REQUEST_TIMEOUT:g})",
    )
