"""Which namespaces each engine judges: opt-in by label, and never what the webhook depends on.

Installing the chart must not lock a cluster: by default nothing is judged until a namespace is
labelled, and the namespaces a fail-closed webhook needs to (re)start are left out even when
labelled. The same selector is rendered for the webhook, the ValidatingAdmissionPolicy binding and
the Kyverno rules, and evaluated here with the API server's label-selector semantics.
"""

from __future__ import annotations

import pytest
from harness.helm import find

from .admission import selector_matches
from .renders import NAMESPACE, render

LABEL = "glm-tts.io/image-policy"
ENGINES = ("webhook", "validatingAdmissionPolicy", "kyverno")
DEPENDENCIES = ("kube-system", "cert-manager", "gpu-operator", "calico-system", "tigera-operator")


def selectors(values: dict) -> list[dict]:
    objects = render(values)
    found = [
        h["namespaceSelector"]
        for vwc in find(objects, "ValidatingWebhookConfiguration")
        for h in vwc["webhooks"]
    ]
    found += [
        b["spec"]["matchResources"]["namespaceSelector"]
        for b in find(objects, "ValidatingAdmissionPolicyBinding")
    ]
    found += [
        match["resources"]["namespaceSelector"]
        for policy in find(objects, "ClusterPolicy")
        for rule in policy["spec"]["rules"]
        for match in rule["match"]["any"]
    ]
    assert found, values
    return found


def judged(values: dict, namespace: str, labels: dict[str, str] | None = None) -> bool:
    namespace_labels = {"kubernetes.io/metadata.name": namespace, **(labels or {})}
    verdicts = {selector_matches(s, namespace_labels) for s in selectors(values)}
    assert len(verdicts) == 1, "every rule of an engine must select the same namespaces"
    return verdicts.pop()


@pytest.mark.parametrize("engine", ENGINES)
def test_nothing_is_judged_until_a_namespace_opts_in(engine):
    values = {"engine": engine}
    assert not judged(values, "default")
    assert not judged(values, "apps", {LABEL: "disabled"})
    assert judged(values, "apps", {LABEL: "enforce"})


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("namespace", DEPENDENCIES)
def test_what_the_cluster_needs_to_start_is_never_judged(engine, namespace):
    for optin in (True, False):
        values = {"engine": engine, "admission": {"optIn": optin}}
        assert not judged(values, namespace, {LABEL: "enforce"})


def test_the_webhook_never_judges_its_own_namespace():
    assert not judged({"engine": "webhook"}, NAMESPACE, {LABEL: "enforce"})


@pytest.mark.parametrize("engine", ENGINES)
def test_opt_out_mode_judges_every_namespace_but_the_disabled(engine):
    values = {"engine": engine, "admission": {"optIn": False}}
    assert judged(values, "default")
    assert not judged(values, "legacy", {LABEL: "disabled"})


def test_every_engine_skips_updates_that_bring_no_new_image():
    """The webhook decides that itself (case table); the CEL engines need the condition rendered."""
    (vap,) = find(render({"engine": "validatingAdmissionPolicy"}), "ValidatingAdmissionPolicy")
    (condition,) = vap["spec"]["matchConditions"]
    (kyverno,) = find(render({"engine": "kyverno"}), "ClusterPolicy")
    (precondition,) = kyverno["spec"]["rules"][0]["celPreconditions"]
    (vwc,) = find(render({"engine": "webhook"}), "ValidatingWebhookConfiguration")
    (webhook_condition,) = vwc["webhooks"][0]["matchConditions"]
    assert condition == precondition == webhook_condition
    assert condition["expression"].startswith("request.operation != 'UPDATE' || ")
