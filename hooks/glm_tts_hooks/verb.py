"""How a check verb joins the CLI: its own flags, the shared connection and output flags, and
`run(args) -> exit code`. Only argparse-level code is imported, so building the parser stays cheap."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from glm_tts_hooks.kube_args import add_connection_arguments
from glm_tts_hooks.report import add_output_arguments


def add_check_verb(
    subparsers: argparse._SubParsersAction,
    name: str,
    help_text: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    *,
    cluster: bool = False,
) -> argparse.ArgumentParser:
    """Add verb `name`: its flags, then (with `cluster`) --kubeconfig/--context/--request-timeout,
    then --output/--summary-file, in that order in --help."""
    parser = subparsers.add_parser(name, help=help_text, description=description)
    add_arguments(parser)
    if cluster:
        add_connection_arguments(parser)
    add_output_arguments(parser)
    parser.set_defaults(func=run)
    return parser
