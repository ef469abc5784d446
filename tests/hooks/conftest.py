"""Fixtures for the hooks suites: a kmock cluster and its kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.kmock_cluster import KmockCluster, running_cluster


@pytest.fixture
def cluster() -> Iterator[KmockCluster]:
    with running_cluster() as served:
        yield served


@pytest.fixture
def kubeconfig(cluster: KmockCluster, tmp_path: Path) -> Path:
    return cluster.write_kubeconfig(tmp_path / "kubeconfig")
