"""Files of a batch: workspace-relative paths that must stay inside it, and atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath


class UsageError(ValueError):
    """A flag or path is wrong (exit code 2); the message says what to fix."""


def inside(workspace: Path, rel: str, what: str) -> Path:
    """`workspace / rel`, refusing absolute paths and `..` (names come from Task params)."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or ".." in path.parts:
        raise UsageError(f"{what} {rel!r} must be a relative path inside the workspace")
    return workspace / path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write via a temporary file in the same directory and rename: readers never see half a file."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
