#!/usr/bin/env python3
"""Generate a chart's values.schema.json from its values.yaml: every object closed, every leaf typed.

Types come from the defaults and each key's description from its `## @param <path> [modifier] text`
comment (the one the README table is generated from). What defaults cannot say (enums, patterns,
open maps, typed list items, cross-key rules) lives beside the chart in `values.schema.overrides.yaml`:

    freeForm: [dotted.path, ...]          # objects whose keys the user chooses (labels, resources...)
    overrides:                            # JSON-schema fragment per dotted path; a fragment with
      dotted.path: {enum: [a, b]}         #   `type` replaces the generated node, else it is merged
    root: {allOf: [...]}                  # keys merged into the root schema

`--check` fails when the committed schema differs from a fresh generation. Without a chart argument
every chart under charts/ that has the sidecar file is processed (what `make docs` and the staleness
tests run); a chart without one keeps a hand-written schema.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES_FILE = "values.schema.overrides.yaml"
SIDECAR_KEYS = {"freeForm", "overrides", "root"}
PARAM = re.compile(r"^\s*## @param (?P<path>[\w.\[\]-]+)(?: \[[^\]]*\])? ?(?P<text>.*)$")


def param_descriptions(values_text: str) -> dict[str, str]:
    """`## @param path [modifier] text` comments of values.yaml, by dotted path."""
    found = {}
    for line in values_text.splitlines():
        match = PARAM.match(line)
        if match and match["text"].strip():
            found[match["path"]] = match["text"].strip()
    return found


class SchemaSpec:
    """The sidecar of one chart: open maps, per-path fragments and root additions."""

    def __init__(self, chart: Path, descriptions: dict[str, str] | None = None) -> None:
        self.descriptions = descriptions or {}
        path = chart / OVERRIDES_FILE
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
        data = data or {}
        unknown = set(data) - SIDECAR_KEYS
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)} (allowed: {sorted(SIDECAR_KEYS)})")
        self.free_form: set[str] = set(data.get("freeForm") or [])
        self.overrides: dict[str, dict[str, Any]] = data.get("overrides") or {}
        self.root: dict[str, Any] = data.get("root") or {}

    def unused(self, seen: set[str]) -> list[str]:
        """Sidecar paths that name no key of values.yaml: a typo there would silently do nothing."""
        return sorted((self.free_form | set(self.overrides)) - seen)


def schema_for(value: Any, path: str, spec: SchemaSpec, seen: set[str]) -> dict[str, Any]:
    seen.add(path)
    override = spec.overrides.get(path, {})
    described = {"description": spec.descriptions[path]} if path in spec.descriptions else {}
    if "type" in override:
        return {**described, **override}
    if path in spec.free_form:
        node: dict[str, Any] = {"type": "object"}
    elif isinstance(value, dict):
        node = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                k: schema_for(v, f"{path}.{k}" if path else k, spec, seen) for k, v in value.items()
            },
        }
    elif isinstance(value, list):
        item_types = {type(v) for v in value}
        items: dict[str, Any] = {"type": "string"} if item_types <= {str} and value else {"type": "object"}
        node = {"type": "array", "items": items}
    elif isinstance(value, bool):
        node = {"type": "boolean"}
    elif isinstance(value, int):
        node = {"type": "integer"}
    elif isinstance(value, float):
        node = {"type": "number"}
    else:
        node = {"type": "string"}
    node.update(override)
    return {**described, **node}


def generate(chart: Path) -> str:
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text) or {}
    name = yaml.safe_load((chart / "Chart.yaml").read_text())["name"]
    spec = SchemaSpec(chart, param_descriptions(text))
    seen: set[str] = set()
    body = schema_for(values, "", spec, seen)
    unused = spec.unused(seen)
    if unused:
        raise ValueError(f"{chart / OVERRIDES_FILE}: no such key in values.yaml: {', '.join(unused)}")
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": f"{name} chart values", **body}
    schema.update(spec.root)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def all_charts() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "charts").glob(f"*/{OVERRIDES_FILE}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "charts", nargs="*", type=Path, help="chart folders (default: every chart under charts/)"
    )
    parser.add_argument("--check", action="store_true", help="fail when a committed schema is stale")
    args = parser.parse_args(argv)
    charts = args.charts or all_charts()
    stale = 0
    for chart in charts:
        if not (chart / "values.yaml").is_file() or not (chart / "Chart.yaml").is_file():
            print(f"gen-values-schema: {chart} is not a chart (no Chart.yaml/values.yaml)", file=sys.stderr)
            return 2
        try:
            fresh = generate(chart)
        except (ValueError, yaml.YAMLError) as exc:
            print(f"gen-values-schema: {exc}", file=sys.stderr)
            return 2
        target = chart / "values.schema.json"
        if args.check:
            if not target.is_file() or target.read_text() != fresh:
                print(f"{target} is stale: run `make docs`", file=sys.stderr)
                stale += 1
            continue
        target.write_text(fresh)
        print(f"wrote {target}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
