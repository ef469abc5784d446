"""Check results shared by preflight, cuda-check and verify: one table or one JSON schema.

JSON schema (stable; the Tekton tasks and the chart's Jobs parse it):
    {"ok": bool, "error": str | null,
     "checks": [{"name": str, "status": "pass|warn|fail|skip", "detail": str, "fix": str}],
     "summary": {"pass": int, "warn": int, "fail": int, "skip": int, ...command-specific figures}}
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

EXIT_PASS, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Status(str, enum.Enum):
    PASS = "pass"  # noqa: S105 - a check verdict, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Report:
    """The ordered results of one command run, plus figures worth keeping (latency, node counts)."""

    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def add(self, name: str, status: Status, detail: str, fix: str = "") -> Check:
        check = Check(name, status, detail, fix)
        self.checks.append(check)
        return check

    def ok(self, fail_on_warning: bool = False) -> bool:
        failing = {Status.FAIL, Status.WARN} if fail_on_warning else {Status.FAIL}
        return self.error is None and not any(c.status in failing for c in self.checks)

    def exit_code(self, fail_on_warning: bool = False) -> int:
        if self.error is not None:
            return EXIT_USAGE
        return EXIT_PASS if self.ok(fail_on_warning) else EXIT_FAILED

    def summary(self) -> dict[str, Any]:
        counts = {status.value: 0 for status in Status}
        for check in self.checks:
            counts[check.status.value] += 1
        return {**counts, **self.figures}

    def to_dict(self, fail_on_warning: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok(fail_on_warning),
            "error": self.error,
            "checks": [{**asdict(c), "status": c.status.value} for c in self.checks],
            "summary": self.summary(),
        }


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", choices=("table", "json"), default="table", help="result format (default: table)"
    )


def emit(
    report: Report, output: str, *, title: str, fail_on_warning: bool = False, stream: TextIO | None = None
) -> int:
    """Print the report in the requested format and return the command's exit code."""
    stream = stream or sys.stdout
    if output == "json":
        stream.write(json.dumps(report.to_dict(fail_on_warning), indent=2, ensure_ascii=False) + "\n")
    else:
        _print_table(report, title, fail_on_warning, stream)
    return report.exit_code(fail_on_warning)


def _print_table(report: Report, title: str, fail_on_warning: bool, stream: TextIO) -> None:
    # A generous width keeps fix commands on one line in CI logs, which have no terminal.
    console = Console(file=stream, width=200 if not stream.isatty() else None, soft_wrap=False)
    table = Table(title=title, show_lines=False, expand=False)
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        # Text() keeps brackets in details (label selectors, lists) from being read as rich markup.
        table.add_row(
            Text(check.name),
            Text(check.status.value, style=_STYLE[check.status]),
            Text(check.detail),
            Text(check.fix),
        )
    console.print(table)
    if report.error is not None:
        console.print(Text("error: ", style="bold red") + Text(report.error))
    counts = report.summary()
    verdict = "[green]OK[/]" if report.ok(fail_on_warning) else "[bold red]NOT OK[/]"
    console.print(
        f"{verdict}: {counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed, "
        f"{counts['skip']} skipped"
    )
