"""NOTES.txt tells the operator what is enforced and what is not (helm 4 renders it without a cluster)."""

from __future__ import annotations

import pytest
from harness.helm import run_helm

from .renders import CHART, CI_DIR, NAMESPACE, RELEASE


def notes(*args: str) -> str:
    out = run_helm(4, ["install", "--dry-run=client", RELEASE, str(CHART), "-n", NAMESPACE, *args])
    assert "NOTES:" in out
    return out.split("NOTES:", 1)[1]


@pytest.mark.parametrize(
    ("profile", "present", "absent"),
    [
        (
            "vap",
            ["does NOT verify cosign signatures", "validatingAdmissionPolicy engine"],
            ["WARNING"],
        ),
        ("kyverno", ["Kyverno >= 1.11", "kubectl get clusterpolicy"], ["WARNING", "does NOT"]),
        (
            "webhook-certmanager",
            ["rollout status deployment/", "wait --for=condition=Ready certificate/"],
            ["WARNING", "Audit mode"],
        ),
        (
            "webhook-existing-tls",
            ["WARNING: policy.signatures.required is false", "Audit mode"],
            ["certificate/"],
        ),
    ],
)
def test_notes_per_profile(profile, present, absent):
    text = notes("-f", str(CI_DIR / f"{profile}-values.yaml"))
    for needle in present:
        assert needle in text, needle
    for needle in absent:
        assert needle not in text, needle


def test_notes_list_every_skipped_namespace_and_how_to_opt_in():
    text = notes()
    assert f"Never judged: calico-system, cert-manager, {NAMESPACE}, gpu-operator, kube-flannel," in text
    assert "kubectl label namespace <namespace> glm-tts.io/image-policy=enforce" in text
    text = notes("--set", "admission.optIn=false")
    assert "all but those labelled glm-tts.io/image-policy=disabled" in text
