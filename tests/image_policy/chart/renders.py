"""Cached chart renders shared by this folder's tests (one helm run per distinct input per worker)."""

from __future__ import annotations

import functools
import json
from typing import Any

from harness.helm import render_chart
from harness.paths import CHARTS

CHART = CHARTS / "glm-tts-image-policy"
CI_DIR = CHART / "ci"
PROFILES = ("webhook-certmanager", "webhook-existing-tls", "vap", "kyverno")
RELEASE = "image-policy"
NAMESPACE = "glm-tts-system"


@functools.cache
def _render(
    values_json: str, helm: int, profile: str | None, kube_version: str
) -> tuple[dict[str, Any], ...]:
    values = json.loads(values_json) or None
    files = [CI_DIR / f"{profile}-values.yaml"] if profile else []
    return tuple(
        render_chart(
            CHART,
            values,
            helm=helm,
            kube_version=kube_version,
            release=RELEASE,
            namespace=NAMESPACE,
            values_files=files,
        )
    )


def render(
    values: dict[str, Any] | None = None,
    *,
    helm: int = 4,
    profile: str | None = None,
    kube_version: str = "1.37.0",
) -> list[dict[str, Any]]:
    """Objects `helm template` prints for the chart (deep copies are the caller's business: do not mutate)."""
    return list(_render(json.dumps(values or {}, sort_keys=True), helm, profile, kube_version))
