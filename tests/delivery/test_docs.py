"""The first-hour guide: the troubleshooting table names real check names, the YAML in it parses,
the files it points at exist, namespaces stay consistent, and it never points at developer material."""

from __future__ import annotations

import re

import pytest
import yaml
from harness.paths import REPO

GUIDE = REPO / "docs" / "first-hour.md"
HOOKS = REPO / "hooks" / "glm_tts_hooks"
VERB_MODULES = {
    "preflight": "preflight",
    "cuda-check": "cuda_check",
    "verify": "verify",
    "fetch-weights": "weights",
}
NAMESPACES = {"glm-tts", "glm-tts-image-policy", "glm-tts-ci", "argocd", "gpu-operator"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.S)


def _troubleshooting_rows() -> list[tuple[list[str], str]]:
    table = GUIDE.read_text().split("## Troubleshooting", 1)[1]
    rows = []
    for line in table.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def test_troubleshooting_names_are_the_checks_the_hooks_report():
    rows = _troubleshooting_rows()
    assert {verb for _names, verb in rows} == set(VERB_MODULES)
    checked = 0
    for names, verb in rows:
        module = HOOKS / VERB_MODULES[verb]
        if not module.is_dir():
            continue  # that verb is not in this checkout yet
        source = "\n".join(p.read_text() for p in module.rglob("*.py"))
        for name in names:
            if name.startswith("gpu<N>-"):  # per-device checks are named f"{tag}-<what>"
                stem = name.removeprefix("gpu<N>-").rstrip("*").rstrip("-")
                assert f"{{tag}}-{stem}" in source, f"{verb}: no per-GPU check '{stem}'"
            else:
                assert f'"{name}"' in source, f"{verb} reports no check named {name!r}"
            checked += 1
    if not checked:
        pytest.skip("no hooks verbs in this checkout")


def test_yaml_snippets_parse():
    for block in _blocks("yaml"):
        assert yaml.safe_load(block) is not None
    for block in _blocks("console"):
        for manifest in re.findall(r"<<'EOF'\n(.*?)\nEOF", block, re.S):
            docs = [d for d in yaml.safe_load_all(manifest) if d]
            assert all("kind" in d and "apiVersion" in d for d in docs)


def test_referenced_repository_files_exist():
    text = GUIDE.read_text()
    pattern = (
        r"(?<![\w/.-])((?:charts|deploy|inference|hooks)/[\w./-]+\.(?:yaml|md)"
        r"|(?:inference|hooks)/Containerfile(?:\.cpu)?)"
    )
    paths = set(re.findall(pattern, text))
    assert paths
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"the guide points at files that do not exist: {missing}"


def test_namespaces_are_consistent():
    text = "\n".join(_blocks("console"))
    used = set(re.findall(r"--namespace[ =]([\w-]+)", text))
    used |= set(re.findall(r"\b(?:create|label) namespace ([\w-]+)", text))
    assert used <= NAMESPACES, f"unexpected namespaces: {used - NAMESPACES}"


def test_user_docs_never_point_at_developer_material():
    for path in (REPO / "docs").rglob("*.md"):
        assert "../shared" not in path.read_text(), f"{path.name} points at ../shared"
