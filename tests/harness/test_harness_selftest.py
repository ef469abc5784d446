"""Self-tests: each harness piece accepts a good input and rejects a known-bad one."""

from __future__ import annotations

import copy

import pytest

from harness.helm import HELM_MAJORS, HelmError, find, render_chart, render_raw
from harness.kube_schema import KUBE_VERSIONS, KubeSchemaError, validate_all, validate_object
from harness.paths import REPO
from harness.tekton_schema import TektonSchemaError, validate_tekton

TINY = REPO / "tests" / "harness" / "fixtures" / "tiny-chart"


@pytest.mark.parametrize("major", HELM_MAJORS)
def test_render_chart_uses_real_helm(major):
    objects = render_chart(TINY, {"replicas": 3}, helm=major, release="demo")
    (deployment,) = find(objects, "Deployment", "demo")
    assert deployment["spec"]["replicas"] == 3
    assert validate_all(objects) == 1


@pytest.mark.parametrize("major", HELM_MAJORS)
def test_render_chart_reports_template_errors(major):
    with pytest.raises(HelmError, match="replicas"):
        render_raw(TINY, helm=major, extra_args=["--set", "replicas={{"])  # not an int: bad YAML


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_kube_schema_rejects_misspelt_field(version):
    (deployment,) = render_chart(TINY, {"extraField": True})
    with pytest.raises(KubeSchemaError, match="imagePullPolicyy"):
        validate_object(deployment, version)


def test_kube_schema_rejects_wrong_type_and_unknown_kind():
    (deployment,) = render_chart(TINY)
    bad = copy.deepcopy(deployment)
    bad["spec"]["replicas"] = "three"
    with pytest.raises(KubeSchemaError, match=r"spec\.replicas"):
        validate_object(bad, "1.37.0")
    with pytest.raises(KubeSchemaError, match="Couldn't find schema"):
        widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        validate_object(widget, "1.37.0")


GOOD_TASK = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Task",
    "metadata": {"name": "hello"},
    "spec": {
        "params": [{"name": "WHO", "type": "string", "default": "world"}],
        "steps": [
            {
                "name": "say",
                "image": "registry.example.com/busybox:1.36",
                "env": [{"name": "WHO", "value": "$(params.WHO)"}],
                "script": 'echo "hello $WHO"',
            }
        ],
    },
}


def test_tekton_schema_accepts_a_valid_task():
    validate_tekton(GOOD_TASK)


def test_tekton_schema_rejects_bad_objects():
    misspelt = copy.deepcopy(GOOD_TASK)
    misspelt["spec"]["steps"][0]["scirpt"] = "echo"
    with pytest.raises(TektonSchemaError, match="scirpt"):
        validate_tekton(misspelt)
    wrong_type = copy.deepcopy(GOOD_TASK)
    wrong_type["spec"]["steps"] = {"name": "not-a-list"}
    with pytest.raises(TektonSchemaError, match="steps"):
        validate_tekton(wrong_type)
    beta = dict(GOOD_TASK, apiVersion="tekton.dev/v1beta1")
    with pytest.raises(TektonSchemaError, match=r"tekton\.dev/v1"):
        validate_tekton(beta)
