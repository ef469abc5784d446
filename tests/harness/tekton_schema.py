"""Validate Tekton objects against the v1 openAPIV3Schema of the Tekton Pipelines v1.15.0 CRDs.

The CRD files live in ../shared/schemas/tekton-pipeline-v1.15.0/ (not part of the product); tests
that use them skip when ../shared is absent. Like the API server, we validate against the
structural schema and also reject fields the schema does not declare (pruning would drop them
silently in a cluster; a test should fail instead).
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import yaml

from .paths import shared_path

SCHEMA_DIR = ("schemas", "tekton-pipeline-v1.15.0")
CRD_FILES = {
    "Task": "300-task.yaml",
    "TaskRun": "300-taskrun.yaml",
    "Pipeline": "300-pipeline.yaml",
    "PipelineRun": "300-pipelinerun.yaml",
    "StepAction": "300-stepaction.yaml",
}


class TektonSchemaError(AssertionError):
    """A Tekton object does not match the v1 CRD schema."""


def _strict(schema: Any) -> Any:
    """Forbid undeclared properties wherever the CRD lists properties and does not preserve unknowns."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def v1_schema(kind: str) -> dict[str, Any]:
    if kind not in CRD_FILES:
        raise TektonSchemaError(f"no Tekton CRD schema for kind {kind!r} (known: {sorted(CRD_FILES)})")
    crd = yaml.safe_load(shared_path(*SCHEMA_DIR, CRD_FILES[kind]).read_text())
    for version in crd["spec"]["versions"]:
        if version["name"] == "v1":
            schema = _strict(version["schema"]["openAPIV3Schema"])
            # metadata is validated by the API server itself, not by the CRD schema.
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            return schema
    raise TektonSchemaError(f"{CRD_FILES[kind]} has no v1 version")


def validate_tekton(obj: dict[str, Any]) -> None:
    """Raise TektonSchemaError naming the object and the failing path when it is invalid."""
    if obj.get("apiVersion") != "tekton.dev/v1":
        raise TektonSchemaError(
            f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: apiVersion must be tekton.dev/v1, "
            f"got {obj.get('apiVersion')!r}"
        )
    schema = v1_schema(obj.get("kind", ""))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        name = f"{obj['kind']}/{obj.get('metadata', {}).get('name')}"
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors[:5]
        )
        raise TektonSchemaError(f"{name}: {details}")
