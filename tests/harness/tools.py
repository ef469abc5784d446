"""Find the ecosystem tools that `make tools` builds (cosign, ct, kyverno, tkn, the control plane...).

`make tools` links every tool into .tools/bin; the Go-built ones are cached per version under
$GLM_TTS_TOOLS_CACHE (default ~/.cache/glm-tts/tools) so a fresh clone on the same machine reuses them.
A test that needs a missing tool skips with the command that provides it; under CI (CI=true) the tool
must exist, so a broken `make tools` fails the run instead of silently skipping the engines.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .paths import TOOLS_BIN


def tool_path(name: str) -> Path | None:
    """The tool from .tools/bin, else from PATH; None when neither has it."""
    bundled = TOOLS_BIN / name
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    found = shutil.which(name)
    return Path(found) if found else None


def require_tool(name: str) -> Path:
    """The tool's path, or skip (fail under CI) saying how to get it."""
    path = tool_path(name)
    if path is not None:
        return path
    message = f"{name} is not built: run `make tools` (expected {TOOLS_BIN / name})"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; CI must have every tool")
    pytest.skip(message)
