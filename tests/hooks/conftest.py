"""Fixtures for the hooks suites: a kmock cluster and a way to run one subcommand in-process."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from harness.kmock_cluster import KmockCluster, running_cluster


@pytest.fixture
def cluster() -> Iterator[KmockCluster]:
    with running_cluster() as served:
        yield served


@pytest.fixture
def kubeconfig(cluster: KmockCluster, tmp_path: Path) -> Path:
    return cluster.write_kubeconfig(tmp_path / "kubeconfig")


def run_command(module: ModuleType, argv: list[str]) -> tuple[int, dict[str, Any]]:
    """Parse argv with the command module's own parser (as `glm-tts-hooks` would) and run it with
    --output json; return the exit code and the parsed report."""
    parser = argparse.ArgumentParser(prog="glm-tts-hooks")
    module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv, "--output", "json"])
    out = io.StringIO()
    with redirect_stdout(out):
        rc = args.func(args)
    return rc, json.loads(out.getvalue())


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The named check's row; fails the test with the whole report when it is missing."""
    for row in report["checks"]:
        if row["name"] == name:
            return row
    raise AssertionError(f"no check {name!r} in {json.dumps(report, indent=2)}")
