"""Validate custom resources against the official CRDs' openAPIV3Schema, as the API server would.

The CRDs come from ../shared/crds (see its README for versions). Each served version's
`openAPIV3Schema` is translated into JSON Schema (draft 7) with the API server's structural rules:

- an object schema with `properties` rejects unknown fields (the server's strict field validation,
  what `kubectl apply` uses), unless it carries `x-kubernetes-preserve-unknown-fields: true`;
- `additionalProperties` keeps its meaning (maps with user-chosen keys);
- `x-kubernetes-int-or-string` accepts an integer or a string; `nullable` accepts null;
- an `x-kubernetes-embedded-resource` also accepts apiVersion/kind/metadata.

Not evaluated: `x-kubernetes-validations` (CEL rules) and string `format`s; the real apiserver
tests of the cluster suite cover those where it matters.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

OBJECT_META_KEYS = {"apiVersion", "kind", "metadata"}
# The CRDs are large (Kyverno's alone is megabytes): libyaml's loader when present.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CrdSchemaError(AssertionError):
    """A custom resource does not match its CRD, or no CRD defines its kind."""


def _translate(node: Any) -> Any:
    if isinstance(node, list):
        return [_translate(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: _translate(sub) for name, sub in value.items()}
        elif key.startswith("x-kubernetes-") or key in ("nullable", "format", "example"):
            continue
        else:
            out[key] = _translate(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out = {"anyOf": [{"type": "integer"}, {"type": "string"}], **out}
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        for meta_key in OBJECT_META_KEYS:
            props.setdefault(meta_key, {"type": "object"} if meta_key == "metadata" else {"type": "string"})
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not preserve
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class CrdCatalog:
    """Every (apiVersion, kind) the CRD files under a folder serve, with its translated schema."""

    def __init__(self, crd_dir: Path) -> None:
        self.crd_dir = crd_dir
        self._schemas: dict[tuple[str, str], dict[str, Any]] = {}
        self._sources: dict[tuple[str, str], Path] = {}
        for path in sorted(crd_dir.rglob("*.yaml")):
            for doc in yaml.load_all(path.read_text(), Loader=LOADER):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    if not version.get("served", True):
                        continue
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema is None:
                        continue
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    self._schemas[key] = schema
                    self._sources[key] = path

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._schemas

    def kinds(self) -> set[tuple[str, str]]:
        return set(self._schemas)

    @functools.cache  # noqa: B019 - one catalog per test session; the cache lives as long as it does
    def validator(self, api_version: str, kind: str) -> jsonschema.Draft7Validator:
        raw = self._schemas[(api_version, kind)]
        schema = _translate(raw)
        # The root's metadata is the API server's ObjectMeta, not the CRD's to describe.
        schema.setdefault("properties", {})["metadata"] = {"type": "object"}
        return jsonschema.Draft7Validator(schema)

    def source(self, api_version: str, kind: str) -> Path:
        return self._sources[(api_version, kind)]

    def validate(self, obj: dict[str, Any]) -> None:
        """Raise CrdSchemaError naming the object, the path and the CRD file when it does not match."""
        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        name = (obj.get("metadata") or {}).get("name", "?")
        if key not in self:
            raise CrdSchemaError(f"{key[1]}/{name}: no CRD under {self.crd_dir} serves {key[0]} {key[1]}")
        if not name or name == "?":
            raise CrdSchemaError(f"{key[1]}: metadata.name is required")
        errors = sorted(self.validator(*key).iter_errors(obj), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [
                f"  at {'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
                for e in errors
            ]
            raise CrdSchemaError(
                f"{key[1]}/{name} ({key[0]}) does not match {self.source(*key).name}:\n" + "\n".join(lines)
            )

    def validate_all(self, objects: Iterable[dict[str, Any]]) -> int:
        count = 0
        for obj in objects:
            self.validate(obj)
            count += 1
        return count
