"""Repository-wide pytest setup: make the harness importable as `harness`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The real control plane (etcd, kube-apiserver, controllers, scheduler, kwok) as a session fixture,
# with its hooks: tests using it share one xdist worker, and failures carry the components' logs.
from harness.control_plane import (
    control_plane,  # noqa: F401
    pytest_collection_modifyitems,  # noqa: F401
    pytest_runtest_makereport,  # noqa: F401
)
