#!/usr/bin/env python3
"""Generate charts/glm-tts/values.schema.json from values.yaml: every object closed, every leaf typed.

Types come from the defaults; the few things defaults cannot say (enums, patterns, free-form maps)
are listed below. `--check` fails when the committed schema differs from a fresh generation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "glm-tts"

# Maps whose keys the user chooses (labels, selectors, Kubernetes resource blocks).
FREE_FORM = {
    "commonLabels", "commonAnnotations", "nodeSelector", "affinity", "podAnnotations", "podLabels",
    "resources", "ingress.annotations", "networkPolicy.metricsNamespaceSelector",
    "oauth2Proxy.resources", "hooks.resources",
}
OVERRIDES: dict[str, dict[str, Any]] = {
    "server.backend": {"enum": ["glmtts", "espeak"]},
    "server.logLevel": {"enum": ["debug", "info", "warning", "error"]},
    "server.sampleRate": {"type": "integer", "enum": [16000, 22050, 24000, 32000, 44100, 48000]},
    "gpu.count": {"type": "integer", "minimum": 0},
    "gpu.resourceName": {"type": "string", "pattern": "^nvidia\\.com/(gpu|mig-[0-9]+g\\.[0-9]+gb)$"},
    "gpu.cudaVersion": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$"},
    "image.digest": {"type": "string", "pattern": "^(sha256:[0-9a-f]{64})?$"},
    "hooks.image.digest": {"type": "string", "pattern": "^(sha256:[0-9a-f]{64})?$"},
    "oauth2Proxy.image.digest": {"type": "string", "pattern": "^(sha256:[0-9a-f]{64})?$"},
    "image.pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    "service.type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
    "autoscaling.mode": {"enum": ["none", "hpa", "keda"]},
    "autoscaling.metric": {"enum": ["queue", "cpu"]},
    "replicaCount": {"type": "integer", "minimum": 1},
    "startupProbe.maxSeconds": {"type": "integer", "minimum": 10},
    "metrics.prometheusRule.failureRatio": {"type": "number", "minimum": 0, "maximum": 1},
    "metrics.prometheusRule.gpuMemoryRatio": {"type": "number", "minimum": 0, "maximum": 1},
    "cudaCheck.minFreeMemoryGiB": {"type": "number", "minimum": 0},
    "persistence.accessModes": {"type": "array", "items": {
        "enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]}},
    "imagePullSecrets": {"type": "array", "items": {"type": "string"}},
    "oauth2Proxy.allowedGroups": {"type": "array", "items": {"type": "string"}},
    "oauth2Proxy.extraArgs": {"type": "array", "items": {"type": "string"}},
    "httpRoute.hostnames": {"type": "array", "items": {"type": "string"}},
    # Each entry is one JSONL line: {"<word>": "<phoneme tokens>"} or {"word": ..., "pinyin": ...}.
    "g2p.entries": {"type": "array", "items": {"type": "object", "minProperties": 1,
                                               "additionalProperties": {"type": "string"}}},
}


def schema_for(value: Any, path: str) -> dict[str, Any]:
    if path in OVERRIDES and "type" in OVERRIDES[path]:
        return dict(OVERRIDES[path])
    if path in FREE_FORM:
        node: dict[str, Any] = {"type": "object"}
    elif isinstance(value, dict):
        node = {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: schema_for(v, f"{path}.{k}" if path else k) for k, v in value.items()},
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
    node.update(OVERRIDES.get(path, {}))
    return node


def generate() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "glm-tts chart values",
              **schema_for(values, "")}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed schema is stale")
    args = parser.parse_args(argv)
    target = CHART / "values.schema.json"
    fresh = generate()
    if args.check:
        if not target.is_file() or target.read_text() != fresh:
            print(f"{target} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    target.write_text(fresh)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
