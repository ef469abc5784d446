"""`glm-tts-hooks cuda-check`: argument parsing; the checks live in checks.py. Runs in the GPU pod
(init container or Job)."""

from __future__ import annotations

import argparse

from glm_tts_hooks.argtypes import BoolFlag, EmptyIsUnset, non_negative_float, positive_int
from glm_tts_hooks.verb import add_check_verb


def _capability(text: str) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in text.split("."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MAJOR.MINOR, e.g. 8.0") from None
    return major, minor


HELP = "in the GPU pod: torch sees the GPUs, which compute correctly and at speed"
DESCRIPTION = (
    "Check the GPUs this pod was given: count, compute capability, free memory, driver and "
    "CUDA runtime, cuDNN, an fp32 and a half-precision matrix product against a float64 reference, and "
    "the speed against the GPU model's floor. Exit 0 pass, 1 a check failed, 2 usage error."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    add_check_verb(subparsers, "cuda-check", HELP, DESCRIPTION, add_arguments, run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expect-gpus",
        action=EmptyIsUnset,
        parse=positive_int,
        default=1,
        metavar="N",
        help="GPUs the pod should see (default: 1)",
    )
    parser.add_argument(
        "--min-free-memory-gib",
        action=EmptyIsUnset,
        parse=non_negative_float,
        default=10.0,
        metavar="F",
        help="free memory one model instance needs, GiB (default: 10)",
    )
    parser.add_argument(
        "--instances-per-gpu",
        action=EmptyIsUnset,
        parse=positive_int,
        default=1,
        metavar="N",
        help="model instances sharing each GPU: each GPU needs N x --min-free-memory-gib free (default: 1)",
    )
    parser.add_argument(
        "--min-capability",
        action=EmptyIsUnset,
        parse=_capability,
        default=(7, 0),
        metavar="X.Y",
        help="minimum CUDA compute capability (default: 7.0)",
    )
    parser.add_argument(
        "--matmul-size",
        action=EmptyIsUnset,
        parse=positive_int,
        default=4096,
        metavar="N",
        help="side of the square matrices (default: 4096)",
    )
    parser.add_argument("--skip-perf", action=BoolFlag, help="check correctness only, not speed")


def run(args: argparse.Namespace) -> int:
    # The CLI loads every subcommand to build its parser: numpy (and torch) wait until now.
    from glm_tts_hooks.cuda_check.checks import cuda_check

    return cuda_check(args)
