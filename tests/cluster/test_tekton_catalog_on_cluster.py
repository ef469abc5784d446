"""Every object in tekton-catalog/ is accepted by a real API server with Tekton's CRDs installed:
Tasks, Pipelines, their samples and tests (TaskRuns, PipelineRuns), the RBAC they ship and the
trigger objects, server-side applied with strict field validation (unknown fields are errors).

Tekton's own controller and webhook do not run here (see the module's report): objects are checked
against the CRDs' openAPIV3Schema and by admission, not by Tekton's Go validation; Triggers' CRDs
carry no schema at all, so for them only apiVersion/kind/metadata are checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.control_plane import ControlPlane
from harness.paths import TEKTON_CATALOG

CATALOG_FILES = sorted(p for p in TEKTON_CATALOG.rglob("*.yaml") if not p.name.startswith("."))


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_the_catalog_has_tasks_pipelines_and_triggers() -> None:
    kinds = {d["kind"] for p in CATALOG_FILES for d in _docs(p)}
    assert {"Task", "Pipeline"} <= kinds


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: str(p.relative_to(TEKTON_CATALOG)))
def test_catalog_file_is_accepted_by_the_api_server(
    control_plane: ControlPlane, namespace: str, path: Path
) -> None:
    control_plane.require_crds()
    docs = _docs(path)
    for doc in docs:
        ns = doc.get("metadata", {}).get("namespace")
        if ns and ns != namespace:  # objects that pin their namespace get it created
            control_plane.create_namespace(ns, pod_security="baseline")
    refused = []
    for doc in docs:
        # `kubectl apply` cannot use generateName (runs usually do): those are created instead
        verb = (
            ["create"]
            if doc["metadata"].get("generateName")
            else ["apply", "--server-side", "--field-manager=tests"]
        )
        result = control_plane.kubectl(
            *verb, "--validate=strict", "-n", doc["metadata"].get("namespace", namespace), "-f", "-",
            input=yaml.safe_dump(doc), check=False,
        )  # fmt: skip
        if result.returncode != 0:
            label = doc["metadata"].get("name") or doc["metadata"].get("generateName")
            refused.append(f"{doc['kind']} {label}: {result.stderr.strip()}")
            continue
        if doc["metadata"].get("name"):  # read it back at the version the file wrote
            group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
            resource = f"{doc['kind'].lower()}.{group}" if group else doc["kind"]
            control_plane.get(
                resource, doc["metadata"]["name"], "-n", doc["metadata"].get("namespace", namespace)
            )
    assert not refused, f"{path.relative_to(TEKTON_CATALOG)}:\n" + "\n".join(refused)
