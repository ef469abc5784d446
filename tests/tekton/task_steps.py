"""Read the Tekton catalog and run a Task's step locally the way Tekton would.

A step is either a call into one of our CLIs (`command` + `args`, no shell) or, on third-party
images (Kaniko, helm), a short shell `script`. `run_step` substitutes the Tekton variables
(`$(params.X)`, `$(params.X[*])`, `$(workspaces.W.path|bound)`, `$(results.R.path)`) with local
values and runs the step's real argv: the CLI from this virtualenv, or the script with /bin/sh.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

if __name__ == "__main__":  # run as a script by scripts/lint.sh: find `harness` as pytest does
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.paths import REPO, TEKTON_CATALOG

TEKTON_KINDS = {"Task", "TaskRun", "Pipeline", "PipelineRun", "StepAction"}
VAR = re.compile(r"\$\((params|workspaces|results|context|tasks|steps)\.([^)]*)\)")
ARRAY_ARG = re.compile(r"\$\(params\.([A-Za-z0-9_-]+)\[\*\]\)")
VERSION = "0.1.0"
SHELL_SHEBANG = re.compile(r"^#!\s*(/busybox/sh|/bin/sh|/usr/bin/env sh|/bin/bash|/usr/bin/env bash)\b")


def yaml_files() -> list[Path]:
    return sorted(p for p in TEKTON_CATALOG.rglob("*.yaml") if ".tektonlintrc" not in p.name)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in yaml_files():
        for doc in documents(path):
            yield path, doc


def catalog_resources(kind_dir: str) -> list[tuple[str, str, Path]]:
    """(name, version, main yaml) for every tekton-catalog/<kind_dir>/<name>/<version>/."""
    out = []
    for version_dir in sorted((TEKTON_CATALOG / kind_dir).glob("*/*")):
        if version_dir.is_dir():
            name = version_dir.parent.name
            out.append((name, version_dir.name, version_dir / f"{name}.yaml"))
    return out


def task(name: str, version: str = VERSION) -> dict[str, Any]:
    (doc,) = documents(TEKTON_CATALOG / "task" / name / version / f"{name}.yaml")
    return doc


def all_steps() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(file, owner description, step) for every step, embedded taskSpecs included."""
    for path, doc in all_documents():
        for owner, steps in _steps_of(doc):
            for step in steps:
                yield path, f"{doc['kind']}/{doc['metadata'].get('name')}{owner}", step


def _steps_of(doc: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    spec = doc.get("spec") or {}
    kind = doc.get("kind")
    if kind == "Task":
        yield "", spec.get("steps", [])
    elif kind == "TaskRun" and "taskSpec" in spec:
        yield " taskSpec", spec["taskSpec"].get("steps", [])
    elif kind in ("Pipeline", "PipelineRun"):
        pipeline = spec.get("pipelineSpec", spec) if kind == "PipelineRun" else spec
        for section in ("tasks", "finally"):
            for pt in pipeline.get(section, []) or []:
                if "taskSpec" in pt:
                    yield f" {section}/{pt['name']}", pt["taskSpec"].get("steps", [])


def shell_scripts() -> Iterator[tuple[str, str]]:
    """(label, script) for every step script; each must be shell (logic lives in the CLIs)."""
    for path, owner, step in all_steps():
        if "script" in step:
            yield f"{repo_relative(path)} {owner} step {step['name']}", step["script"]


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    results: dict[str, Any]


def run_step(
    step: dict[str, Any],
    *,
    params: Mapping[str, str],
    workspaces: Mapping[str, Path | None],
    results_dir: Path,
    array_params: Mapping[str, Sequence[str]] | None = None,
    extra_env: Mapping[str, str] | None = None,
    path_prepend: Sequence[Path] = (),
    timeout: float = 300,
) -> StepRun:
    """Run a step locally as Tekton would: env from the step's `env`, variables and args expanded."""
    array_params = dict(array_params or {})
    results_dir.mkdir(parents=True, exist_ok=True)

    def one(match: re.Match[str]) -> str:
        scope, rest = match.group(1), match.group(2)
        if scope == "params":
            if rest not in params:
                raise KeyError(f"test gave no value for param {rest}")
            return str(params[rest])
        if scope == "workspaces":
            ws, _, attr = rest.partition(".")
            bound = workspaces.get(ws)
            if attr == "bound":
                return "true" if bound is not None else "false"
            if attr == "path":  # Tekton: "" for an optional workspace that is not bound
                return str(bound) if bound is not None else ""
        if scope == "results":
            res, _, attr = rest.partition(".")
            assert attr == "path", rest
            return str(results_dir / res)
        raise KeyError(f"cannot substitute $({scope}.{rest}) locally")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARAM_", "WORKSPACE_", "RESULT_"))}
    for item in step.get("env", []):
        env[item["name"]] = VAR.sub(one, item["value"])
    env.update(extra_env or {})
    env["PATH"] = os.pathsep.join(
        [*map(str, path_prepend), str(Path(sys.executable).parent), env.get("PATH", "")]
    )

    args: list[str] = []
    for arg in step.get("args", []):
        whole = ARRAY_ARG.fullmatch(arg)
        args.extend(array_params[whole.group(1)] if whole else [VAR.sub(one, arg)])

    if "script" in step:
        script = step["script"]
        assert not VAR.search(script), "a script must not contain Tekton variables"
        assert SHELL_SHEBANG.match(script), f"step {step['name']}: scripts are shell only"
        # one file per run (parallel runs of the same step must not rewrite each other's script)
        tmp_script = results_dir.parent / f"{results_dir.name}.{step['name']}.script"
        tmp_script.write_text(script)
        argv = ["/bin/sh", str(tmp_script), *args]
    else:
        argv = [*step["command"], *args]
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=results_dir.parent
    )
    results = {}
    for file in results_dir.iterdir():
        text = file.read_text()
        try:
            results[file.name] = json.loads(text) if text.startswith(("[", "{")) else text
        except json.JSONDecodeError:
            results[file.name] = text
    return StepRun(proc.returncode, proc.stdout, proc.stderr, results)


def repo_relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def tool(name: str) -> str:
    venv = Path(sys.executable).parent / name
    found = str(venv) if venv.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: run `make venv`")
    return found


def shellcheck_scripts() -> list[str]:
    """shellcheck every step script (busybox's `#!/busybox/sh` is POSIX sh); returns the findings."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, script) in enumerate(shell_scripts()):
            first, _, rest = script.partition("\n")
            if not SHELL_SHEBANG.match(first):
                problems.append(f"{label}: not a shell script ({first!r}); logic belongs in a CLI")
                continue
            file = Path(tmp) / f"step{index:02d}.sh"
            file.write_text(f"#!/bin/{'bash' if 'bash' in first else 'sh'}\n{rest}")
            proc = subprocess.run(
                [tool("shellcheck"), "--severity=style", str(file)], capture_output=True, text=True
            )
            if proc.returncode != 0:
                problems.append(f"{label}:\n{proc.stdout}{proc.stderr}")
    return problems


def main() -> int:
    """`python tests/tekton/task_steps.py`: shellcheck the step scripts (scripts/lint.sh runs this)."""
    problems = shellcheck_scripts()
    print("\n".join(problems))
    print(f"step scripts: {len(list(shell_scripts()))} checked, {len(problems)} with findings")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
