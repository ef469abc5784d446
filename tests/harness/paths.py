"""Where things are: the repository, its fetched tools, and the optional ../shared folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
TEKTON_CATALOG = REPO / "tekton-catalog"
TOOLS_BIN = REPO / ".tools" / "bin"
# ../shared beside the checkout: design, Tekton CRD schemas, chart-testing configs. Not part of the
# product (a user's clone has none), so tests that need it skip when it is absent.
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Return a path under ../shared, or skip the calling test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared (design, schemas, ct configs) is not beside this clone")
    return path
