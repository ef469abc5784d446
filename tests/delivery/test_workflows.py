"""GitHub workflows: actionlint clean, every action pinned by commit SHA, and the release paths
each triggered by their own tag."""

from __future__ import annotations

import os
import re
import subprocess

import yaml
from harness.paths import REPO
from harness.tools import require_tool

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yaml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _uses(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses":
                yield value
            else:
                yield from _uses(value)
    elif isinstance(node, list):
        for value in node:
            yield from _uses(value)


def test_actionlint_passes():
    actionlint = require_tool("actionlint")
    # shellcheck (from the venv) checks every run: script
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run([str(actionlint)], cwd=REPO, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_by_commit_with_its_version_noted():
    assert WORKFLOWS
    for path in WORKFLOWS:
        text = path.read_text()
        for uses in _uses(yaml.safe_load(text)):
            assert PINNED.match(uses), f"{path.name}: {uses} is not pinned by a full commit SHA"
            noted = re.search(rf"{re.escape(uses)}\s+# v\d", text)
            assert noted, f"{path.name}: {uses} needs a # vX.Y.Z note"


def test_each_artefact_is_released_by_its_own_tag():
    triggers = {}
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
        triggers[path.stem] = (on.get("push") or {}).get("tags", [])
    assert triggers["release-images"] == ["v*.*.*"]
    assert triggers["release-charts"] == ["charts/*/v*"]
    assert triggers["release-tekton"] == ["tekton/*/v*"]
