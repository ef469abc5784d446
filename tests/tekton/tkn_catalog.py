"""Read the Tekton catalog and run its step scripts the way a Task would.

A step script is the source of truth: tests take the `script` out of the Task YAML, give it the
environment its `env` list declares (with the Tekton variables replaced by local paths and
values), pass the `args` the Task would pass, and run it with a real interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from harness.paths import REPO, TEKTON_CATALOG

TEKTON_KINDS = {"Task", "TaskRun", "Pipeline", "PipelineRun", "StepAction"}
VAR = re.compile(r"\$\((params|workspaces|results|context|tasks|steps)\.([^)]*)\)")


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


def task(name: str, version: str = "0.1") -> dict[str, Any]:
    (doc,) = documents(TEKTON_CATALOG / "task" / name / version / f"{name}.yaml")
    return doc


def steps_with_scripts() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(file, owner description, step) for every step with a script, embedded taskSpecs included."""
    for path, doc in all_documents():
        for owner, steps in _steps_of(doc):
            for step in steps:
                if "script" in step:
                    yield path, f"{doc['kind']}/{doc['metadata'].get('name')}{owner}", step


def all_steps() -> Iterator[tuple[Path, str, dict[str, Any]]]:
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


def interpreter(script: str) -> str:
    first = script.splitlines()[0] if script else ""
    if not first.startswith("#!"):
        raise AssertionError(f"script without a shebang: {first!r}")
    return first


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
    """Run a step's script locally as Tekton would: env from the step's `env`, args expanded."""
    array_params = dict(array_params or {})
    results_dir.mkdir(parents=True, exist_ok=True)

    def substitute(value: str) -> str:
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
                if attr == "path":
                    return str(bound) if bound is not None else ""
            if scope == "results":
                res, _, attr = rest.partition(".")
                assert attr == "path", rest
                return str(results_dir / res)
            raise KeyError(f"cannot substitute $({scope}.{rest}) locally")

        return VAR.sub(one, value)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARAM_", "WORKSPACE_", "RESULT_"))}
    for item in step.get("env", []):
        env[item["name"]] = substitute(item["value"])
    env.update(extra_env or {})
    path_parts = [str(p) for p in path_prepend] + [str(Path(sys.executable).parent), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(path_parts)

    args: list[str] = []
    for arg in step.get("args", []):
        m = re.fullmatch(r"\$\(params\.([A-Za-z0-9_-]+)\[\*\]\)", arg)
        if m:
            args.extend(array_params[m.group(1)])
        else:
            args.append(substitute(arg))

    script = step["script"]
    assert not VAR.search(script), "a script must not contain Tekton variables"
    shebang = interpreter(script)
    # one file per run (parallel runs of the same step must not rewrite each other's script)
    tmp_script = results_dir.parent / f"{results_dir.name}.{step['name']}.script"
    tmp_script.write_text(script)
    argv = [sys.executable, str(tmp_script)] if "python" in shebang else ["/bin/sh", str(tmp_script)]
    proc = subprocess.run(
        [*argv, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=results_dir.parent
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
