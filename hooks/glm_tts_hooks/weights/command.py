"""`glm-tts-hooks fetch-weights`: argument parsing; the download lives in fetch.py.

Runs as the model-download init container (the hooks image, `glm-tts-hooks[weights]`) on every
pod start: when the completion marker matches it exits at once without touching the network.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from glm_tts_hooks.argtypes import BoolFlag, EmptyIsUnset, positive_int
from glm_tts_hooks.verb import add_check_verb

DEFAULT_REPO = "zai-org/GLM-TTS"
MODEL_DIR_ENV = "GLMTTS_MODEL_DIR"


HELP = "download the GLM-TTS checkpoints into the model volume (skips when complete)"
DESCRIPTION = (
    "Download the checkpoints of a Hugging Face model repo into MODEL_DIR/ckpt/ (where "
    "the glmtts backend reads them), fetching only the files not yet complete, check every file "
    "against the Hub's "
    "checksums and write a completion marker. With a matching marker it exits 0 at once, offline. "
    "An empty flag value means the flag was not given. "
    "Exit 0 complete, 1 a check failed (checksum, missing checkpoint), 2 usage, network or auth error."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    add_check_verb(subparsers, "fetch-weights", HELP, DESCRIPTION, add_arguments, run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-dir",
        action=EmptyIsUnset,
        parse=Path,
        default=Path(os.environ[MODEL_DIR_ENV]) if os.environ.get(MODEL_DIR_ENV) else None,
        metavar="DIR",
        help=f"model volume; checkpoints go to DIR/ckpt/ (default: ${MODEL_DIR_ENV})",
    )
    parser.add_argument(
        "--repo-id", action=EmptyIsUnset, default=DEFAULT_REPO, help=f"model repo (default: {DEFAULT_REPO})"
    )
    parser.add_argument(
        "--revision",
        action=EmptyIsUnset,
        default="main",
        help="branch, tag or commit; pin a commit for reproducible pods (default: main)",
    )
    parser.add_argument(
        "--endpoint",
        action=EmptyIsUnset,
        metavar="URL",
        help="a server speaking the Hugging Face Hub API: a mirror or proxy (default: $HF_ENDPOINT, "
        "else https://huggingface.co)",
    )
    parser.add_argument(
        "--cache-dir",
        action=EmptyIsUnset,
        parse=Path,
        metavar="DIR",
        help="writable Hugging Face home (token, transfer caches) (default: MODEL_DIR/.cache/huggingface)",
    )
    parser.add_argument(
        "--token-file",
        action=EmptyIsUnset,
        parse=Path,
        metavar="PATH",
        help="file holding a Hugging Face token (default: $HF_TOKEN, if set)",
    )
    parser.add_argument(
        "--max-workers",
        action=EmptyIsUnset,
        parse=positive_int,
        default=4,
        metavar="N",
        help="files downloaded in parallel (default: 4)",
    )
    parser.add_argument(
        "--verify-checksums",
        action=BoolFlag,
        help="even when the marker says complete, hash every file again against it (offline; slow)",
    )


def run(args: argparse.Namespace) -> int:
    import sys

    from glm_tts_hooks.report import EXIT_USAGE

    if args.model_dir is None:
        print(
            f"glm-tts-hooks fetch-weights: error: --model-dir is required (or set ${MODEL_DIR_ENV})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from glm_tts_hooks.weights.fetch import fetch_weights

    return fetch_weights(args)
