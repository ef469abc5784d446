"""Workspace-relative paths: every file a batch verb names must stay inside its workspace."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class UsageError(ValueError):
    """A flag or path is wrong (exit code 2); the message says what to fix."""


def inside(workspace: Path, rel: str, what: str) -> Path:
    """`workspace / rel`, refusing absolute paths and `..` (names come from Task params)."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or ".." in path.parts:
        raise UsageError(f"{what} {rel!r} must be a relative path inside the workspace")
    return workspace / path


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
