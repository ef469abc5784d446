"""Fixtures for the tests that run on the real control plane (tests/harness/control_plane.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.control_plane import ControlPlane

from .helpers import Helm


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=[3, 4], ids=["helm3", "helm4"])
def helm(request: pytest.FixtureRequest, control_plane: ControlPlane) -> Helm:
    try:
        return Helm(request.param, control_plane)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def helm4(control_plane: ControlPlane) -> Helm:
    try:
        return Helm(4, control_plane)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.create_namespace(name)
    yield name
    control_plane.delete_namespace(name, wait=False)
