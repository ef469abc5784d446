"""charts/glm-tts-image-policy installed, upgraded and removed on the real API server for the
engines that need no running process (ValidatingAdmissionPolicy, Kyverno's ClusterPolicy objects):
the API server compiles and type-checks the CEL itself, and the Kyverno CRD's schema validates the
ClusterPolicy. The webhook engine's admission behaviour is tested with the real webhook process
(tests of the image-policy chart use `control_plane.route_service`)."""

from __future__ import annotations

import pytest
from harness.control_plane import ControlPlane
from harness.paths import CHARTS

from .helpers import Helm, wait_for

CHART = CHARTS / "glm-tts-image-policy"
ENGINES = ("vap", "kyverno")


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_installs_upgrades_and_uninstalls_cleanly(
    control_plane: ControlPlane, helm4: Helm, namespace: str, engine: str
) -> None:
    values = CHART / "ci" / f"{engine}-values.yaml"
    if not values.exists():
        pytest.skip(f"{values.relative_to(CHARTS.parent)} is gone")
    if engine == "kyverno":
        control_plane.require_crds()
    release = f"ip-{engine}"
    helm4("install", release, str(CHART), "-n", namespace, "-f", str(values), "--wait", "--timeout", "3m")
    selector = f"app.kubernetes.io/instance={release}"
    if engine == "vap":
        policies = control_plane.get("validatingadmissionpolicies", "-l", selector)["items"]
        assert policies, "the vap engine rendered no ValidatingAdmissionPolicy"

        def type_checked() -> list | None:
            fresh = control_plane.get("validatingadmissionpolicies", "-l", selector)["items"]
            done = all("typeChecking" in (p.get("status") or {}) for p in fresh)
            return fresh if done else None

        for policy in wait_for(type_checked, "the API server to type-check the policies", timeout=60):
            warnings = policy["status"]["typeChecking"].get("expressionWarnings") or []
            assert not warnings, f"{policy['metadata']['name']}: CEL type-check warnings {warnings}"
        assert control_plane.get("validatingadmissionpolicybindings", "-l", selector)["items"]
    else:
        assert control_plane.get("clusterpolicies.kyverno.io", "-l", selector)["items"]

    helm4("upgrade", release, str(CHART), "-n", namespace, "-f", str(values), "--wait", "--timeout", "3m")
    helm4("uninstall", release, "-n", namespace, "--wait", "--timeout", "3m")
    kinds = "validatingadmissionpolicies,validatingadmissionpolicybindings,validatingwebhookconfigurations"
    if control_plane.crds_installed:
        kinds += ",clusterpolicies.kyverno.io"
    assert not control_plane.get(kinds, "-l", selector)["items"], (
        "cluster-scoped objects left after uninstall"
    )
