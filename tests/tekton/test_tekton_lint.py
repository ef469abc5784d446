"""Linters over the catalog: @ibm/tekton-lint (no errors, only allow-listed warnings), shellcheck over
every step script (all shell: the logic lives in the CLIs) and over the catalog test hooks."""

from __future__ import annotations

import json
import re
import subprocess
from fnmatch import fnmatch

import pytest
import yaml
from harness.paths import REPO, TEKTON_CATALOG
from task_steps import shell_scripts, shellcheck_scripts, tool

TEKTON_LINT = REPO / ".tools" / "node" / "node_modules" / ".bin" / "tekton-lint"

# Every warning tekton-lint may still print, and why it is wrong about it. Anything else fails.
ALLOWED_WARNINGS = [
    (
        "no-missing-resource",
        "pipeline/glm-tts-cicd/0.1.0/glm-tts-cicd.yaml",
        r"references task 'undefined'",
        "fetch-source uses the tektoncd-catalog git-clone Task through the git resolver (pinned "
        "revision); tekton-lint only knows taskRef.name, so a resolver reference looks missing",
    ),
    (
        "no-missing-resource",
        "pipeline/glm-tts-canary-release/0.1.0/glm-tts-canary-release.yaml",
        r"references task 'undefined'",
        "fetch-source is the same pinned git-clone through the git resolver, as in glm-tts-cicd",
    ),
    (
        "no-undefined-result",
        "*",
        r"'SHARDS\[(\*|\d+)\]' is not a result in Task 'plan'",
        "SHARDS is an array result; $(tasks.plan.results.SHARDS[*]) / [i] is Tekton's syntax for the "
        "whole array / one element, which tekton-lint reads as a result literally named 'SHARDS[*]'",
    ),
    (
        "no-missing-param",
        "pipeline/glm-tts-batch/0.1.0/glm-tts-batch.yaml",
        r"parameter 'SHARD' is not supplied",
        "SHARD is supplied by matrix.params (one TaskRun per shard); tekton-lint ignores matrix",
    ),
]


def json_start(stdout: str) -> int:
    """Where the JSON report starts (tekton-lint's logger can print bracketed timestamps first)."""
    m = re.search(r'\[(\{"message"|\s*\])', stdout)
    return m.start() if m else -1


def run_tekton_lint(*extra: str) -> list[dict]:
    if not TEKTON_LINT.exists():
        pytest.skip(f"{TEKTON_LINT} absent: run `make tools`")
    proc = subprocess.run(
        [str(TEKTON_LINT), "--config", ".", "--format", "json", *extra],
        cwd=TEKTON_CATALOG,
        capture_output=True,
        text=True,
        timeout=120,
    )
    start = json_start(proc.stdout)
    assert start >= 0, f"tekton-lint printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    problems, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
    return problems


def test_tekton_lint_has_no_errors_and_only_justified_warnings():
    problems = run_tekton_lint()
    errors = [p for p in problems if p["level"] == "error"]
    assert not errors, json.dumps(errors, indent=2)
    unexplained = []
    used = set()
    for p in problems:
        for i, (rule, path, pattern, _reason) in enumerate(ALLOWED_WARNINGS):
            if p["rule"] == rule and fnmatch(p.get("path", ""), path) and re.search(pattern, p["message"]):
                used.add(i)
                break
        else:
            unexplained.append(p)
    assert not unexplained, "tekton-lint warnings without a justification:\n" + json.dumps(
        unexplained, indent=2
    )
    stale = [ALLOWED_WARNINGS[i][:3] for i in range(len(ALLOWED_WARNINGS)) if i not in used]
    assert not stale, f"allow-list entries that no longer match anything (remove them): {stale}"


def test_tekton_lint_config_lints_every_catalog_file():
    """Every YAML with Tekton or Triggers objects is matched by a glob of .tektonlintrc.yaml."""
    cfg = yaml.safe_load((TEKTON_CATALOG / ".tektonlintrc.yaml").read_text())
    linted = {p for pattern in cfg["globs"] for p in TEKTON_CATALOG.glob(pattern)}
    for path in TEKTON_CATALOG.rglob("*.yaml"):
        kinds = {d.get("kind") for d in yaml.safe_load_all(path.read_text()) if d}
        if kinds & {
            "Task",
            "Pipeline",
            "TaskRun",
            "PipelineRun",
            "EventListener",
            "TriggerTemplate",
            "TriggerBinding",
        }:
            assert path in linted, f"{path.relative_to(TEKTON_CATALOG)} is not linted by tekton-lint"


def test_tekton_lint_catches_a_real_mistake(tmp_path):
    """Guard against a config that silences everything: a broken Pipeline must be reported."""
    if not TEKTON_LINT.exists():
        pytest.skip(f"{TEKTON_LINT} absent: run `make tools`")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: broken\nspec:\n  tasks:\n"
        "    - name: verify\n      taskRef:\n        name: glm-tts-verify\n      params:\n"
        "        - name: NOT_A_PARAM\n          value: x\n"
    )
    task = TEKTON_CATALOG / "task/glm-tts-verify/0.1.0/glm-tts-verify.yaml"
    proc = subprocess.run(
        [str(TEKTON_LINT), "--config", str(TEKTON_CATALOG), "--format", "json", str(broken), str(task)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems, _ = json.JSONDecoder().raw_decode(proc.stdout[json_start(proc.stdout) :])
    errors = " ".join(p["message"] for p in problems if p["level"] == "error")
    assert "NOT_A_PARAM" in errors, problems
    # no-missing-param is a warning in our config; the allow-list above must not excuse this one
    (missing,) = [p for p in problems if p["rule"] == "no-missing-param"]
    assert "'URL' is not supplied" in missing["message"]
    assert not any(
        rule == missing["rule"] and re.search(pattern, missing["message"])
        for rule, _, pattern, _ in ALLOWED_WARNINGS
    )


def test_step_scripts_pass_shellcheck():
    assert len(list(shell_scripts())) >= 10
    problems = shellcheck_scripts()
    assert not problems, "\n".join(problems)


def test_shellcheck_really_runs_on_step_scripts(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\nfor f in $(ls *.txt); do echo $f; done\n")
    proc = subprocess.run([tool("shellcheck"), str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "SC2045" in proc.stdout


def test_catalog_hook_scripts_pass_shellcheck():
    hooks = sorted(TEKTON_CATALOG.glob("*/*/*/tests/*.sh"))
    assert hooks
    proc = subprocess.run([tool("shellcheck"), *map(str, hooks)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
