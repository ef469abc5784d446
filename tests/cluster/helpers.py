"""Helpers for the tests on the real control plane: polling, helm as cluster admin, pod queries."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from harness.control_plane import ControlPlane
from harness.helm import helm_binary
from harness.paths import CHARTS

GLM_TTS = CHARTS / "glm-tts"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Helm:
    """One helm major version driving the control plane as cluster admin, with its own state dirs."""

    def __init__(self, major: int, plane: ControlPlane) -> None:
        self.major = major
        self.plane = plane
        self.binary = helm_binary(major)
        home = plane.workdir / f"helm{major}"
        self.env = plane.env()
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            self.env[var] = str(home / var.lower())

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"helm{self.major} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}"
            )
        return proc

    def template(self, chart: Path, *args: str) -> list[dict[str, Any]]:
        out = self("template", "glm-tts", str(chart), *args).stdout
        return [d for d in yaml.safe_load_all(out) if d]

    def history(self, release: str, namespace: str) -> list[dict[str, Any]]:
        return json.loads(self("history", release, "-n", namespace, "-o", "json").stdout)


def pods(plane: ControlPlane, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    args = ["pods", "-n", namespace] + (["-l", selector] if selector else [])
    return plane.get(*args)["items"]


def node_allocatable(plane: ControlPlane) -> dict[str, dict[str, str]]:
    return {n["metadata"]["name"]: n["status"]["allocatable"] for n in plane.get("nodes")["items"]}
