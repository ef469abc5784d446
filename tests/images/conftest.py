"""Build the images once per test session (buildah's layer cache makes a rebuild quick)."""

from __future__ import annotations

import pytest

from . import buildah
from .images import CONTAINERFILES


@pytest.fixture(scope="session")
def built_images() -> dict[str, buildah.Build]:
    buildah.require_buildah()
    return {reference: buildah.build(path, reference) for reference, path in CONTAINERFILES.items()}
