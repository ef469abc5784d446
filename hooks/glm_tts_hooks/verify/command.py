"""`glm-tts-hooks verify`: argument parsing and the exit code; the checks live in checks.py."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from glm_tts_hooks.argtypes import EmptyIsUnset, positive_int
from glm_tts_hooks.kube_args import positive_seconds
from glm_tts_hooks.report import EXIT_USAGE
from glm_tts_hooks.verb import add_check_verb

DEFAULT_TEXT = "你好，欢迎使用 GLM-TTS speech service。今天天气很好。"
API_KEY_ENV = "GLMTTS_API_KEY"


HELP = "prove an installed release works: rollout, readiness, a real synthesis"
DESCRIPTION = (
    "Wait for the rollout, GET /readyz through the Service, synthesise a sentence and check "
    "the WAV (header, sample rate, duration, not silence). "
    "Exit 0 pass, 1 a check failed, 2 usage or API error."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    add_check_verb(subparsers, "verify", HELP, DESCRIPTION, add_arguments, run, cluster=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", required=True, help="base URL of the service, e.g. http://glm-tts.ns.svc:8080"
    )
    parser.add_argument(
        "--namespace", action=EmptyIsUnset, help="with --deployment: wait for its rollout first"
    )
    parser.add_argument("--deployment", action=EmptyIsUnset, help="Deployment name (needs --namespace)")
    parser.add_argument(
        "--timeout",
        action=EmptyIsUnset,
        parse=positive_seconds,
        default=300.0,
        metavar="SECONDS",
        help="overall time limit (default: 300)",
    )
    parser.add_argument(
        "--text",
        default=DEFAULT_TEXT,
        action=EmptyIsUnset,
        help="sentence to synthesise (default: mixed zh/en)",
    )
    parser.add_argument("--voice", action=EmptyIsUnset, help="voice to use (default: the service's)")
    parser.add_argument(
        "--expect-sample-rate",
        action=EmptyIsUnset,
        parse=positive_int,
        default=24000,
        metavar="HZ",
        help="sample rate the WAV must have (default: 24000)",
    )
    parser.add_argument(
        "--api-key-file",
        action=EmptyIsUnset,
        parse=Path,
        metavar="PATH",
        help=f"file holding the API key sent as a Bearer token (or set ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--api-key-dir",
        action=EmptyIsUnset,
        parse=Path,
        metavar="DIR",
        help="a mounted Secret (e.g. an optional Tekton workspace): the key is DIR/NAME; no such file "
        "(optional Secret absent) = no key, with a note",
    )
    parser.add_argument(
        "--api-key-name",
        action=EmptyIsUnset,
        default="api-key",
        metavar="NAME",
        help="key file name inside --api-key-dir (default: api-key)",
    )
    parser.add_argument(
        "--poll-interval",
        action=EmptyIsUnset,
        parse=positive_seconds,
        default=2.0,
        metavar="SECONDS",
        help="pause between rollout and readiness polls (default: 2)",
    )


def _api_key(args: argparse.Namespace) -> str | None:
    """--api-key-file, else --api-key-dir/NAME when that file exists, else $GLMTTS_API_KEY."""
    if args.api_key_file:
        return args.api_key_file.read_text().strip()
    if args.api_key_dir:
        key = args.api_key_dir / args.api_key_name
        if key.is_file():
            return key.read_text().strip()
        print(f"glm-tts-hooks verify: note: no {key}; no API key from --api-key-dir", file=sys.stderr)
    return os.environ.get(API_KEY_ENV) or None


def run(args: argparse.Namespace) -> int:
    if bool(args.namespace) != bool(args.deployment):
        print("glm-tts-hooks verify: error: --namespace and --deployment go together", file=sys.stderr)
        return EXIT_USAGE
    if not args.url.startswith(("http://", "https://")):
        print(
            f"glm-tts-hooks verify: error: --url {args.url!r} must start with http:// or https://",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        api_key = _api_key(args)
    except OSError as exc:
        print(
            f"glm-tts-hooks verify: error: cannot read --api-key-file / --api-key-dir: {exc}", file=sys.stderr
        )
        return EXIT_USAGE
    # The CLI loads every subcommand to build its parser: httpx, numpy and soundfile wait until now.
    from glm_tts_hooks.verify.checks import verify

    return verify(args, api_key)
