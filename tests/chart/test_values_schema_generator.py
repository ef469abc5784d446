"""scripts/gen_values_schema.py: one generator for both charts' schemas, driven by a sidecar file."""

from __future__ import annotations

import importlib.util
import json

import pytest
from harness.paths import REPO

spec = importlib.util.spec_from_file_location("gen_values_schema", REPO / "scripts" / "gen_values_schema.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def make_chart(tmp_path, values: str, sidecar: str | None):
    chart = tmp_path / "demo"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(values)
    if sidecar is not None:
        (chart / gen.OVERRIDES_FILE).write_text(sidecar)
    return chart


def test_types_from_defaults_objects_closed_and_sidecar_applied(tmp_path):
    chart = make_chart(
        tmp_path,
        "image: {registry: r, digest: ''}\nlabels: {}\nmode: a\ncount: 1\n",
        "freeForm: [labels]\noverrides:\n  mode: {enum: [a, b]}\n"
        "  image.digest: {type: string, pattern: '^x$'}\nroot: {required: [mode]}\n",
    )
    schema = json.loads(gen.generate(chart))
    assert schema["title"] == "demo chart values" and schema["required"] == ["mode"]
    assert schema["additionalProperties"] is False
    image = schema["properties"]["image"]
    assert image["additionalProperties"] is False and image["properties"]["registry"] == {"type": "string"}
    assert image["properties"]["digest"] == {"type": "string", "pattern": "^x$"}
    assert schema["properties"]["labels"] == {"type": "object"}
    assert schema["properties"]["mode"] == {"type": "string", "enum": ["a", "b"]}
    assert schema["properties"]["count"] == {"type": "integer"}


def test_a_sidecar_path_that_names_no_value_is_an_error(tmp_path):
    chart = make_chart(tmp_path, "mode: a\n", "overrides:\n  mdoe: {enum: [a]}\n")
    with pytest.raises(ValueError, match="mdoe"):
        gen.generate(chart)
    assert gen.main([str(chart)]) == 2


def test_check_reports_a_stale_schema_and_write_fixes_it(tmp_path, capsys):
    chart = make_chart(tmp_path, "mode: a\n", "")
    assert gen.main([str(chart), "--check"]) == 1
    assert gen.main([str(chart)]) == 0
    assert gen.main([str(chart), "--check"]) == 0
    (chart / "values.yaml").write_text("mode: a\nextra: 1\n")
    assert gen.main([str(chart), "--check"]) == 1
    assert "make docs" in capsys.readouterr().err


def test_every_chart_with_a_sidecar_is_generated_by_default():
    charts = gen.all_charts()
    assert REPO / "charts" / "glm-tts" in charts
    assert all((c / gen.OVERRIDES_FILE).is_file() for c in charts)


def test_descriptions_come_from_the_param_comments(tmp_path):
    chart = make_chart(
        tmp_path,
        "## @param mode How it runs\nmode: a\n"
        "res:\n  ## @param res.limits [object] Container limits\n  limits: {}\n",
        "freeForm: [res.limits]\n",
    )
    schema = json.loads(gen.generate(chart))
    assert schema["properties"]["mode"]["description"] == "How it runs"
    assert schema["properties"]["res"]["properties"]["limits"] == {
        "description": "Container limits",
        "type": "object",
    }
