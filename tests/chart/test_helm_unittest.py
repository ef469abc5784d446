"""Run each chart's helm-unittest suites (charts/*/tests/*_test.yaml) as a helm plugin on helm 3 and 4.

`make tools` builds helm-unittest and lays it out as an offline plugin folder (upstream's plugin.yaml
beside the binary) under .tools/helm-plugins; helm finds it through HELM_PLUGINS. Per-template
assertions live in those suites, where chart maintainers look for them; cross-template rules and
schema checks stay in the pytest files beside this one.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml
from harness.helm import HELM_MAJORS, helm_binary
from harness.paths import CHARTS, TOOLS_BIN
from harness.tools import require_tool

CHARTS_WITH_SUITES = sorted({p.parent.parent for p in CHARTS.glob("*/tests/*_test.yaml")})


def plugin_dir():
    require_tool("helm-unittest")
    candidates = [
        TOOLS_BIN.parent / "helm-plugins",
        require_tool("helm-unittest").resolve().parent.parent / "helm-plugins",
    ]
    for folder in candidates:
        if (folder / "helm-unittest" / "plugin.yaml").is_file():
            return folder
    message = (
        f"helm-unittest plugin folder missing (looked in {', '.join(map(str, candidates))}): run `make tools`"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def plugins_for(major: int, tmp_path):
    """The plugin folder helm `major` can load. Helm 3.17 rejects upstream's plugin.yaml because of its
    `platformHooks` (install/update scripts, which an offline plugin never runs), so helm 3 gets a copy
    of plugin.yaml without that key, beside the same binary."""
    upstream = plugin_dir()
    if major >= 4:
        return upstream
    folder = tmp_path / "helm3-plugins" / "helm-unittest"
    folder.mkdir(parents=True)
    spec = yaml.safe_load((upstream / "helm-unittest" / "plugin.yaml").read_text())
    spec.pop("platformHooks", None)
    (folder / "plugin.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for binary in (upstream / "helm-unittest").iterdir():
        if binary.name != "plugin.yaml":
            (folder / binary.name).symlink_to(binary.resolve())
    return folder.parent


def run_unittest(major: int, chart, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HELM_PLUGINS": str(plugins_for(major, tmp_path)),
        # A private cache/config so a user's helm setup never changes the result.
        "HELM_CACHE_HOME": str(tmp_path / "cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "config"),
        "HELM_DATA_HOME": str(tmp_path / "data"),
    }
    return subprocess.run(
        [helm_binary(major), "unittest", *extra, str(chart)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_the_chart_carries_suites():
    assert CHARTS / "glm-tts" in CHARTS_WITH_SUITES


@pytest.mark.parametrize("chart", CHARTS_WITH_SUITES, ids=lambda p: p.name)
@pytest.mark.parametrize("major", HELM_MAJORS)
def test_helm_unittest_suites_pass(major, chart, tmp_path):
    proc = run_unittest(major, chart, tmp_path)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "Tests:" in proc.stdout, proc.stdout


def test_a_broken_expectation_fails_the_suite(tmp_path):
    """The runner really evaluates: a suite asserting the wrong strategy must fail."""
    chart = tmp_path / "glm-tts"
    shutil.copytree(CHARTS / "glm-tts", chart)
    for suite in (chart / "tests").glob("*_test.yaml"):
        suite.unlink()
    (chart / "tests" / "wrong_test.yaml").write_text(
        "suite: wrong\ntemplates: [templates/deployment.yaml, templates/configmap.yaml]\ntests:\n"
        "  - it: expects a strategy the chart does not render\n    template: templates/deployment.yaml\n"
        "    asserts:\n      - equal: {path: spec.strategy.type, value: RollingUpdate}\n"
    )
    proc = run_unittest(4, chart, tmp_path)
    assert proc.returncode != 0, proc.stdout
    assert "Recreate" in proc.stdout and "Tests:       1 failed" in proc.stdout, proc.stdout
