"""checkov on the rendered manifests of every profile: no failed check except the ones justified here."""

from __future__ import annotations

import json
import subprocess

import pytest
from harness.helm import render_raw
from harness.paths import CHARTS, REPO

CHART = CHARTS / "glm-tts"
CHECKOV = REPO / ".tools" / "checkov-venv" / "bin" / "checkov"
PROFILES = ["default", *sorted(p.stem for p in (CHART / "ci").glob("*-values.yaml"))]

# Each skip is a decision about this chart, with its reason; a skip no profile needs fails the test.
JUSTIFIED_SKIPS = {
    "CKV_K8S_11": "no CPU limits: CFS throttling adds latency to synthesis; CPU requests are set",
    "CKV_K8S_43": "the digest is supplied at deploy time (image.digest, set by the Tekton deploy task) and "
    "enforced by the glm-tts-image-policy chart; chart defaults cannot know it",
    "CKV_K8S_15": "IfNotPresent: images are pinned (digest in production) and the GPU image is several GB",
    "CKV_K8S_38": "the preflight and verify hook Jobs read the API (nodes, a Deployment) and need a token; "
    "the server's ServiceAccount has none",
    "CKV_K8S_8": "run-to-completion hook Jobs and the helm test Pod have no liveness probe by nature",
    "CKV_K8S_9": "run-to-completion hook Jobs and the helm test Pod have no readiness probe by nature",
    "CKV_K8S_35": "oauth2-proxy and the server read their credentials from env (secretKeyRef), "
    "which is how both programs are configured",
}


@pytest.fixture(scope="module")
def failed_checks(tmp_path_factory):
    if not CHECKOV.is_file():
        pytest.skip(f"{CHECKOV} missing: `make tools` installs checkov")
    folder = tmp_path_factory.mktemp("rendered")
    for profile in PROFILES:
        files = [] if profile == "default" else [CHART / "ci" / f"{profile}.yaml"]
        (folder / f"{profile}.yaml").write_text(render_raw(CHART, values_files=files, namespace="glm-tts"))
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "--quiet", "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    assert sum(r["summary"]["passed"] for r in reports) > 100, "checkov ran no checks"
    return [f for r in reports for f in r["results"]["failed_checks"]]


def test_no_unjustified_checkov_failure(failed_checks):
    unjustified = sorted(
        {
            f"{f['check_id']} {f['check_name']} ({f['resource']})"
            for f in failed_checks
            if f["check_id"] not in JUSTIFIED_SKIPS
        }
    )
    assert not unjustified, "\n".join(unjustified)


def test_every_justified_skip_is_still_needed(failed_checks):
    assert set(JUSTIFIED_SKIPS) == {f["check_id"] for f in failed_checks}
