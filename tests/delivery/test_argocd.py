"""Argo CD Applications and ApplicationSet: valid against Argo CD's CRDs, waves in the right order,
the webhook's injected caBundle ignored, and both charts rendered exactly as Argo CD would:
deterministic, with every Helm hook also carrying its Argo CD hook annotation.
"""

from __future__ import annotations

import re

import jsonschema
import pytest
import yaml
from harness.paths import CHARTS

from .argocd import by_kind_and_name, crd_schema, load_objects, render_as_argocd

APPLICATIONS = {"glm-tts-image-policy": "-1", "glm-tts": "0"}
HELM_TO_ARGO_HOOK = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
}


@pytest.mark.parametrize("obj", load_objects(), ids=lambda o: f"{o['kind']}-{o['metadata']['name']}")
def test_object_is_valid_against_argocd_crd(obj):
    assert obj["apiVersion"] == "argoproj.io/v1alpha1"
    assert obj["metadata"]["namespace"] == "argocd"
    errors = sorted(jsonschema.Draft7Validator(crd_schema(obj["kind"])).iter_errors(obj), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_image_policy_syncs_before_the_service():
    waves = {
        name: by_kind_and_name("Application", name)["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        for name in APPLICATIONS
    }
    assert waves == APPLICATIONS
    assert int(waves["glm-tts-image-policy"]) < int(waves["glm-tts"])


def test_applications_follow_the_released_chart_versions():
    for name in APPLICATIONS:
        source = by_kind_and_name("Application", name)["spec"]["source"]
        chart = yaml.safe_load((CHARTS / source["chart"] / "Chart.yaml").read_text())
        assert source["targetRevision"] == chart["version"], f"{name}: bump targetRevision with the chart"
        assert not source["repoURL"].startswith("oci://"), (
            "Argo CD takes OCI Helm repositories without oci://"
        )


def test_injected_ca_bundle_is_ignored_and_respected_on_sync(tmp_path):
    app = by_kind_and_name("Application", "glm-tts-image-policy")
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
    ignored = app["spec"]["ignoreDifferences"]
    assert {
        "group": "admissionregistration.k8s.io",
        "kind": "ValidatingWebhookConfiguration",
        "jqPathExpressions": [".webhooks[]?.clientConfig.caBundle"],
    } in ignored
    # The path names what the chart renders: a webhook configuration whose caBundle cert-manager injects.
    text = render_as_argocd(app["spec"]["source"], "glm-tts-image-policy", tmp_path)
    rendered = list(yaml.safe_load_all(text))
    configs = [o for o in rendered if o and o["kind"] == "ValidatingWebhookConfiguration"]
    assert configs
    for config in configs:
        assert "cert-manager.io/inject-ca-from" in config["metadata"]["annotations"]
        assert all("clientConfig" in webhook for webhook in config["webhooks"])


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_render_is_deterministic_and_hooks_carry_argocd_annotations(name, tmp_path):
    app = by_kind_and_name("Application", name)
    namespace = app["spec"]["destination"]["namespace"]
    first = render_as_argocd(app["spec"]["source"], namespace, tmp_path)
    second = render_as_argocd(app["spec"]["source"], namespace, tmp_path)
    assert first == second, "two renders differ: Argo CD would show the app OutOfSync forever"
    objects = [o for o in yaml.safe_load_all(first) if o]
    assert objects
    for obj in objects:
        annotations = obj["metadata"].get("annotations") or {}
        helm_hooks = [h.strip() for h in annotations.get("helm.sh/hook", "").split(",") if h.strip()]
        if not helm_hooks:
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        argo = annotations.get("argocd.argoproj.io/hook")
        assert argo, f"{where}: Helm hook {helm_hooks} without argocd.argoproj.io/hook"
        if helm_hooks == ["test"]:
            assert argo == "Skip", f"{where}: helm test pods must not run on every sync"
            continue
        expected = {HELM_TO_ARGO_HOOK[h] for h in helm_hooks if h in HELM_TO_ARGO_HOOK}
        assert set(argo.split(",")) == expected, f"{where}: Argo CD hook {argo}, Helm hook {helm_hooks}"
        assert re.fullmatch(r"-?\d+", annotations.get("argocd.argoproj.io/sync-wave", "0"))


def _expand(template: str, element: dict) -> str:
    return re.sub(r"\{\{ \.(\w+) \}\}", lambda m: str(element[m[1]]), template)


def test_applicationset_environments_render(tmp_path):
    appset = by_kind_and_name("ApplicationSet", "glm-tts")
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert {e["env"] for e in elements} == {"dev", "prod"}
    assert len({e["namespace"] for e in elements}) == len(elements), "one namespace per environment"
    template = yaml.safe_dump(appset["spec"]["template"])
    for element in elements:
        app = yaml.safe_load(_expand(template, element))
        assert app["metadata"]["name"] == f"glm-tts-{element['env']}"
        source = app["spec"]["source"]
        files = source["helm"]["valueFiles"]
        missing = [f for f in files if not (CHARTS / source["chart"] / f).is_file()]
        if missing:
            pytest.skip(f"environment values {missing} are not in this checkout yet")
        objects = [
            o
            for o in yaml.safe_load_all(
                render_as_argocd(source, app["spec"]["destination"]["namespace"], tmp_path)
            )
            if o
        ]
        assert any(o["kind"] == "Deployment" for o in objects)


def test_crd_validation_catches_a_misspelt_field():
    app = by_kind_and_name("Application", "glm-tts")
    app["spec"]["syncPolicy"]["syncOption"] = ["CreateNamespace=true"]
    errors = list(jsonschema.Draft7Validator(crd_schema("Application")).iter_errors(app))
    assert any("syncOption" in error.message for error in errors)
