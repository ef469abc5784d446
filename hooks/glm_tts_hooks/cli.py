"""`glm-tts-hooks`: one CLI, one module per subcommand.

Each command module exposes `register(subparsers)`, which adds its parser and sets
`func(args) -> int`; it imports only argparse-level code, so building the parser stays cheap and
loads nothing a verb does not use (cuda-check runs in the server image, without the cluster
extras). Exit codes (glm_tts_hooks.report): 0 pass, 1 a check failed, 2 usage or API error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from glm_tts_hooks import __version__

COMMAND_MODULES = (
    "glm_tts_hooks.preflight.command",
    "glm_tts_hooks.cuda_check.command",
    "glm_tts_hooks.weights.command",
    "glm_tts_hooks.verify.command",
    "glm_tts_hooks.image_policy.command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glm-tts-hooks",
        description="Check a cluster before installing GLM-TTS, check the GPU in the pod, "
        "verify the running service, and enforce the image policy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
