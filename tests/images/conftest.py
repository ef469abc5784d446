"""Build the images once per test session (buildah's layer cache makes a rebuild quick)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from . import buildah
from .images import CONTAINERFILES, Container, container


@pytest.fixture(scope="session")
def built_images() -> dict[str, buildah.Build]:
    buildah.require_buildah()
    return {reference: buildah.build(path, reference) for reference, path in CONTAINERFILES.items()}


@pytest.fixture(scope="session")
def boxes(built_images) -> Iterator[dict[str, Container]]:
    """One working container per image for the session (vfs copies the whole root filesystem for
    each one, so tests share them; none of them writes to it)."""
    with ExitStack() as stack:
        yield {reference: stack.enter_context(container(reference)) for reference in built_images}
