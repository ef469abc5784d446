"""Run one glm-tts-hooks subcommand in-process, as the CLI would, and read its JSON report."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from types import ModuleType
from typing import Any


def run_command(module: ModuleType, argv: list[str]) -> tuple[int, dict[str, Any]]:
    """Parse argv with the command module's own parser (as `glm-tts-hooks` would) and run it with
    --output json; return the exit code and the parsed report."""
    parser = argparse.ArgumentParser(prog="glm-tts-hooks")
    module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv, "--output", "json"])
    out = io.StringIO()
    with redirect_stdout(out):
        rc = args.func(args)
    return rc, json.loads(out.getvalue())


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The named check's row; fails the test with the whole report when it is missing."""
    for row in report["checks"]:
        if row["name"] == name:
            return row
    raise AssertionError(f"no check {name!r} in {json.dumps(report, indent=2)}")
