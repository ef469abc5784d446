#!/usr/bin/env python3
"""Extract every step script of the Tekton catalog and lint it: shellcheck for shell, ruff for Python.

Used by scripts/lint.sh (`python tests/tekton/step_scripts.py`) and by the pytest suite. Each script
is written to a temporary file with a shebang the linter understands (busybox's `#!/busybox/sh`
becomes `#!/bin/sh`: the Kaniko debug image's shell is POSIX sh).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `harness`, as under pytest
sys.path.insert(0, str(HERE))

from harness.paths import REPO  # noqa: E402
from tkn_catalog import repo_relative, steps_with_scripts  # noqa: E402

SHELL_SHEBANG = re.compile(r"^#!\s*(/busybox/sh|/bin/sh|/usr/bin/env sh|/bin/bash|/usr/bin/env bash)\b")
PY_SHEBANG = re.compile(r"^#!\s*(/usr/bin/env python3|/usr/bin/python3)\b")


def tool(name: str) -> str:
    venv = Path(sys.executable).parent / name
    found = str(venv) if venv.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: run `make venv`")
    return found


def extracted(tmp: Path) -> list[tuple[str, str, Path]]:
    """[(language, label, file)] for every step script."""
    out = []
    for index, (path, owner, step) in enumerate(steps_with_scripts()):
        script: str = step["script"]
        first, _, rest = script.partition("\n")
        label = f"{repo_relative(path)} {owner} step {step['name']}"
        if SHELL_SHEBANG.match(first):
            lang = "bash" if "bash" in first else "sh"
            file = tmp / f"step{index:02d}.sh"
            file.write_text(f"#!/bin/{lang}\n{rest}")
            out.append(("shell", label, file))
        elif PY_SHEBANG.match(first):
            file = tmp / f"step{index:02d}.py"
            file.write_text(script)
            out.append(("python", label, file))
        else:
            raise AssertionError(f"{label}: unsupported shebang {first!r}")
    return out


def lint(tmp: Path) -> list[str]:
    problems = []
    for lang, label, file in extracted(tmp):
        if lang == "shell":
            cmd = [tool("shellcheck"), "--severity=style", str(file)]
        else:
            cmd = [tool("ruff"), "check", "--no-cache", "--config", str(REPO / "pyproject.toml"),
                   "--extend-ignore", "INP001", str(file)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            problems.append(f"{label}:\n{proc.stdout}{proc.stderr}")
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        files = extracted(Path(tmp))
        problems = lint(Path(tmp))
    for problem in problems:
        print(problem)
    print(f"step scripts: {len(files)} checked, {len(problems)} with findings")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
