"""The glm-tts-canary-release Pipeline's tasks run locally as Tekton would run them.

`run_pipeline_task` takes one task of the Pipeline, resolves its params from the Pipeline's params
(`$(params.X)`, whole-array `$(params.X[*])` entries) and the results given for earlier tasks, fills
in the referenced Task's defaults and runs the Task's real step with `task_steps.run_step`. What the
cluster test exercises is therefore the Pipeline's own wiring, not a copy of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.paths import TEKTON_CATALOG
from task_steps import StepRun, documents, run_step, task

PIPELINE = TEKTON_CATALOG / "pipeline" / "glm-tts-canary-release" / "0.1.0" / "glm-tts-canary-release.yaml"
TASK = "glm-tts-canary"
HELM_HOMES = ("HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
PIPELINE_VAR = re.compile(r"\$\((params\.[A-Za-z0-9_-]+|tasks\.[a-z0-9-]+\.results\.[A-Za-z0-9_-]+)\)")
WHOLE_ARRAY = re.compile(r"\$\(params\.([A-Za-z0-9_-]+)\[\*\]\)")

Value = str | Sequence[str]


def pipeline() -> dict[str, Any]:
    (doc,) = documents(PIPELINE)
    return doc


def pipeline_task(name: str) -> dict[str, Any]:
    spec = pipeline()["spec"]
    (found,) = [t for t in spec["tasks"] + spec.get("finally", []) if t["name"] == name]
    return found


def pipeline_params(given: Mapping[str, Value]) -> dict[str, Value]:
    """The Pipeline's defaults overlaid with `given`; a required param missing is an error."""
    out: dict[str, Value] = {}
    for p in pipeline()["spec"]["params"]:
        if p["name"] in given:
            out[p["name"]] = given[p["name"]]
        elif "default" in p:
            out[p["name"]] = p["default"]
        else:
            raise KeyError(f"the test gives no value for the required Pipeline param {p['name']}")
    unknown = set(given) - set(out)
    assert not unknown, f"not params of the Pipeline: {sorted(unknown)}"
    return out


def resolve(value: Value, params: Mapping[str, Value], results: Mapping[str, str]) -> Value:
    """One pipeline-task param value with the Pipeline's variables substituted."""

    def scalar(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            ref = m.group(1)
            if ref.startswith("params."):
                found = params[ref[len("params.") :]]
                assert isinstance(found, str), f"{ref} is an array, used as a string"
                return found
            if ref not in results:
                raise KeyError(f"no result given for $({ref})")
            return results[ref]

        return PIPELINE_VAR.sub(one, text)

    if isinstance(value, str):
        return scalar(value)
    out: list[str] = []
    for item in value:
        whole = WHOLE_ARRAY.fullmatch(item)
        out.extend(params[whole.group(1)] if whole else [scalar(item)])
    return out


def run_pipeline_task(
    name: str,
    given: Mapping[str, Value],
    *,
    tmp: Path,
    workspaces: Mapping[str, Path | None],
    results: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    path_prepend: Sequence[Path] = (),
    timeout: float = 600,
) -> StepRun:
    """Run pipeline task `name` (its Task's single step) with the Pipeline params `given`."""
    params = pipeline_params(given)
    pt = pipeline_task(name)
    spec = task(pt["taskRef"]["name"])["spec"]
    types = {p["name"]: p.get("type", "string") for p in spec["params"]}
    values: dict[str, Value] = {p["name"]: p["default"] for p in spec["params"] if "default" in p}
    for p in pt.get("params", []):
        assert p["name"] in types, f"{name} passes {p['name']}, which {pt['taskRef']['name']} lacks"
        values[p["name"]] = resolve(p["value"], params, results or {})
    missing = set(types) - set(values)
    assert not missing, f"{name} leaves required params of {pt['taskRef']['name']} unset: {sorted(missing)}"
    strings = {k: v for k, v in values.items() if types[k] != "array"}
    arrays = {k: list(v) for k, v in values.items() if types[k] == "array"}
    declared = {w["name"] for w in spec.get("workspaces", [])}
    bound = {w["name"] for w in pt.get("workspaces", [])}
    (step,) = spec["steps"]
    return run_task_step(
        step,
        params=strings,
        array_params=arrays,
        workspaces={w: (workspaces.get(w) if w in bound else None) for w in declared},
        tmp=tmp / name,
        extra_env=extra_env,
        path_prepend=path_prepend,
        timeout=timeout,
    )


def run_task_step(
    step: dict[str, Any],
    *,
    params: Mapping[str, str],
    workspaces: Mapping[str, Path | None],
    tmp: Path,
    array_params: Mapping[str, Sequence[str]] | None = None,
    extra_env: Mapping[str, str] | None = None,
    path_prepend: Sequence[Path] = (),
    timeout: float = 600,
) -> StepRun:
    """run_step with helm's home directories (an emptyDir in the pod) moved under `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    step = dict(step, env=[e for e in step["env"] if e["name"] not in HELM_HOMES])
    env = {var: str(tmp / var.lower()) for var in HELM_HOMES}
    env.update(extra_env or {})
    results_dir = tmp / "results"
    if results_dir.exists():  # a re-run starts with no results, as a new TaskRun does
        for file in results_dir.iterdir():
            file.unlink()
    return run_step(
        step,
        params=params,
        workspaces=workspaces,
        results_dir=results_dir,
        array_params=array_params,
        extra_env=env,
        path_prepend=path_prepend,
        timeout=timeout,
    )


def canary_step() -> dict[str, Any]:
    (step,) = task(TASK)["spec"]["steps"]
    return step
