"""Check results shared by preflight, cuda-check and verify: one table or one JSON schema.

JSON schema (stable; the Tekton tasks and the chart's Jobs parse it):
    {"ok": bool, "error": str | null,
     "checks": [{"name": str, "status": "pass|warn|fail|skip", "detail": str, "fix": str}],
     "summary": {"pass": int, "warn": int, "fail": int, "skip": int, ...command-specific figures}}

`--summary-file PATH` also writes a short form, at most SUMMARY_MAX_BYTES, for a Tekton Task result:
    {"ok": bool, "exit": int, "error": str | null, "failed": [names], "warnings": [names],
     "counts": {"pass": int, "warn": int, "fail": int, "skip": int}, "truncated": true (only if cut)}
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from glm_tts_hooks.argtypes import EmptyIsUnset

EXIT_PASS, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Status(str, enum.Enum):
    PASS = "pass"  # noqa: S105 - a check verdict, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


SUMMARY_MAX_BYTES = 1024  # well inside Tekton's 4 KiB of results per Task
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


def _output_format(text: str) -> str:
    if text not in ("table", "json"):
        raise argparse.ArgumentTypeError(f"{text!r}: choose table or json")
    return text


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        default="table",
        action=EmptyIsUnset,
        parse=_output_format,
        metavar="{table,json}",
        help="result format on stdout (default: table)",
    )
    parser.add_argument(
        "--summary-file",
        metavar="PATH",
        action=EmptyIsUnset,
        parse=Path,
        help=f"also write a JSON summary of at most {SUMMARY_MAX_BYTES} bytes here (a Tekton result path)",
    )


def short_summary(report: Report, exit_code: int, fail_on_warning: bool = False) -> dict[str, Any]:
    counts = {status.value: 0 for status in Status}
    for check in report.checks:
        counts[check.status.value] += 1
    summary: dict[str, Any] = {
        "ok": report.ok(fail_on_warning),
        "exit": exit_code,
        "error": report.error[:300] if report.error else None,
        "failed": [c.name for c in report.checks if c.status is Status.FAIL],
        "warnings": [c.name for c in report.checks if c.status is Status.WARN],
        "counts": counts,
    }
    for key in ("warnings", "failed"):  # shorten the name lists, never exceed the budget
        while len(_compact(summary)) > SUMMARY_MAX_BYTES and summary[key]:
            summary[key] = summary[key][:-1]
            summary["truncated"] = True
    return summary


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def emit_args(report: Report, args: argparse.Namespace, *, title: str) -> int:
    """emit() with the command's --output, --summary-file and --fail-on-warning."""
    fail_on_warning = bool(getattr(args, "fail_on_warning", False))
    code = emit(report, args.output, title=title, fail_on_warning=fail_on_warning)
    if getattr(args, "summary_file", None):
        try:
            args.summary_file.write_bytes(_compact(short_summary(report, code, fail_on_warning)))
        except OSError as exc:
            print(f"glm-tts-hooks: error: cannot write --summary-file: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return code


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
    from rich.console import Console  # only tables need rich; JSON runs skip its import
    from rich.table import Table
    from rich.text import Text

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
