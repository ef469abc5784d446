"""The chart's README parameter table is generated from values.yaml and never stale."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from harness.paths import REPO

from .renders import CHART

GENERATOR = REPO / ".tools" / "node" / "node_modules" / ".bin" / "readme-generator"


def test_readme_parameter_table_is_current(tmp_path):
    if not GENERATOR.exists():
        pytest.skip(f"{GENERATOR} is absent: run `make tools`")
    readme = tmp_path / "README.md"
    shutil.copy(CHART / "README.md", readme)
    # The same command `make docs` runs for this chart, pointed at a copy.
    proc = subprocess.run(
        [str(GENERATOR), "--values", str(CHART / "values.yaml"), "--readme", str(readme)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert readme.read_text() == (CHART / "README.md").read_text(), (
        "README parameters are stale: run `make docs` (or readme-generator on this chart)"
    )


def test_every_value_is_documented():
    values = (CHART / "values.yaml").read_text()
    readme = (CHART / "README.md").read_text()
    params = [line.split()[2] for line in values.splitlines() if line.strip().startswith("## @param ")]
    assert len(params) > 60
    for param in params:
        assert f"`{param}`" in readme, param


def test_values_schema_is_generated_from_values_and_its_sidecar():
    """values.schema.json is scripts/gen_values_schema.py's output, as for the glm-tts chart."""
    script = REPO / "scripts" / "gen_values_schema.py"
    if "values.schema.overrides.yaml" not in script.read_text():
        pytest.skip(
            f"{script} does not take a chart argument yet (the shared generator lands with the charts work)"
        )
    proc = subprocess.run(
        [sys.executable, str(script), str(CHART), "--check"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
