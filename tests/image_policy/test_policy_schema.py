"""The chart's `policy` values and the webhook's policy file are one document with one model.

The webhook parses the file with `Policy` (pydantic); the chart validates the same keys with its
values.schema.json. Both must accept the same keys, refuse unknown ones, and agree on types,
enums and numeric bounds, or a value the chart accepts would crash-loop the webhook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from glm_tts_hooks.image_policy.policy import Policy, PolicyError, parse_policy

CHART = Path(__file__).resolve().parents[2] / "charts" / "glm-tts-image-policy"
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return defs[ref.rsplit("/", 1)[1]] if ref else node


def _pairs(model: dict[str, Any], chart: dict[str, Any], defs: dict[str, Any], where: str):
    """Yield (where, model node, chart node) for every node of the model's schema."""
    model = _resolve(model, defs)
    yield where, model, chart
    if model.get("type") == "object":
        for key, sub in model.get("properties", {}).items():
            yield from _pairs(sub, chart.get("properties", {}).get(key, {}), defs, f"{where}.{key}")
    if model.get("type") == "array":
        yield from _pairs(model["items"], chart.get("items", {}), defs, f"{where}[]")


def _model_schema() -> dict[str, Any]:
    return Policy.model_json_schema(by_alias=True)


def _chart_policy_schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())["properties"]["policy"]


def _nodes():
    model = _model_schema()
    return list(_pairs(model, _chart_policy_schema(), model.get("$defs", {}), "policy"))


@pytest.mark.parametrize(("where", "model", "chart"), _nodes(), ids=[n[0] for n in _nodes()])
def test_chart_schema_matches_the_policy_model(where, model, chart):
    assert chart, f"{where}: in the policy model but not in the chart's values.schema.json"
    assert chart.get("type") == model.get("type"), f"{where}: type differs"
    assert chart.get("enum") == model.get("enum"), f"{where}: enum differs"
    assert {b: chart[b] for b in BOUNDS if b in chart} == {b: model[b] for b in BOUNDS if b in model}, (
        f"{where}: numeric bounds differ"
    )
    if model.get("type") == "object":
        assert chart.get("additionalProperties") is False, f"{where}: the chart must refuse unknown keys"
        assert set(chart.get("properties", {})) == set(model.get("properties", {})), f"{where}: keys differ"


def test_chart_default_policy_is_a_valid_policy_file():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    policy = parse_policy(values["policy"])
    assert policy.mode == "enforce" and not policy.signatures.required


@pytest.mark.parametrize(
    "change",
    [
        {"mode": "block"},
        {"requireDigest": "yes"},
        {"deniedTags": "latest"},
        {"extra": 1},
        {"signatures": {"required": False, "timeoutSeconds": 0.05}},
        {"signatures": {"required": False, "timeoutSeconds": 31}},
        {"signatures": {"required": False, "cacheTTLSeconds": -1}},
        {"signatures": {"required": False, "unknown": True}},
    ],
    ids=lambda c: json.dumps(c),
)
def test_values_the_model_refuses_are_refused_by_the_chart_schema(change):
    """The same bad value fails both parsers (a jsonschema check of the chart's schema)."""
    jsonschema = pytest.importorskip("jsonschema")
    values = yaml.safe_load((CHART / "values.yaml").read_text())["policy"]
    bad = {**values, **change}
    if "signatures" in change:
        bad["signatures"] = {**values["signatures"], **change["signatures"]}
    with pytest.raises(PolicyError):
        parse_policy(bad)
    errors = list(jsonschema.Draft7Validator(_chart_policy_schema()).iter_errors(bad))
    assert errors, f"the chart schema accepts {change}, which the webhook refuses"
