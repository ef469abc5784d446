"""Render charts with the real helm binaries (3.17 and 4.3) and parse what they print.

`make tools` unpacks both into .tools/bin (helm3, helm4). A helm on PATH is used instead when it is
the wanted major version, as DESIGN.md allows.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .paths import CHARTS, TOOLS_BIN

HELM_MAJORS = (3, 4)
DEFAULT_KUBE_VERSION = "1.37.0"


class HelmError(RuntimeError):
    """helm exited non-zero; the message carries its stderr."""


@functools.cache
def helm_binary(major: int) -> str:
    if major not in HELM_MAJORS:
        raise ValueError(f"helm major version must be one of {HELM_MAJORS}, got {major}")
    bundled = TOOLS_BIN / f"helm{major}"
    if bundled.is_file():
        return str(bundled)
    on_path = shutil.which("helm")
    if on_path:
        out = subprocess.run([on_path, "version", "--short"], capture_output=True, text=True).stdout
        if re.match(rf"v{major}\.", out.strip()):
            return on_path
    raise FileNotFoundError(f"helm {major} not found: run `make tools` (expected {bundled})")


def run_helm(major: int, args: list[str], *, timeout: int = 120) -> str:
    proc = subprocess.run([helm_binary(major), *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise HelmError(f"helm{major} {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout


def chart_path(chart: str | Path) -> Path:
    path = Path(chart)
    return path if path.is_absolute() or path.exists() else CHARTS / path


def _set_args(values: Mapping[str, Any] | None, tmp_values_file: Path | None) -> list[str]:
    if not values:
        return []
    assert tmp_values_file is not None
    tmp_values_file.write_text(yaml.safe_dump(dict(values), sort_keys=False))
    return ["--values", str(tmp_values_file)]


def render_raw(
    chart: str | Path,
    values: Mapping[str, Any] | None = None,
    *,
    helm: int = 4,
    kube_version: str = DEFAULT_KUBE_VERSION,
    release: str = "glm-tts",
    namespace: str = "glm-tts",
    values_files: Iterable[str | Path] = (),
    api_versions: Iterable[str] = (),
    extra_args: Iterable[str] = (),
    show_only: str | None = None,
) -> str:
    """`helm template` the chart and return the manifest text exactly as helm printed it."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "template",
            release,
            str(chart_path(chart)),
            "--namespace",
            namespace,
            "--kube-version",
            kube_version,
        ]
        for vf in values_files:
            args += ["--values", str(vf)]
        args += _set_args(values, Path(tmp) / "values.yaml")
        for api in api_versions:
            args += ["--api-versions", api]
        if show_only:
            args += ["--show-only", show_only]
        args += list(extra_args)
        return run_helm(helm, args)


def render_chart(
    chart: str | Path,
    values: Mapping[str, Any] | None = None,
    helm: int = 4,
    kube_version: str = DEFAULT_KUBE_VERSION,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Render with real `helm template` and return the parsed objects (empty documents dropped)."""
    text = render_raw(chart, values, helm=helm, kube_version=kube_version, **kwargs)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(objects: Iterable[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """Objects of a kind (and name, when given) from a render."""
    return [
        o
        for o in objects
        if o.get("kind") == kind and (name is None or o.get("metadata", {}).get("name") == name)
    ]


def lint(
    chart: str | Path,
    *,
    helm: int = 4,
    values_files: Iterable[str | Path] = (),
    kube_version: str = DEFAULT_KUBE_VERSION,
) -> str:
    """`helm lint --strict`; raises HelmError on any error or warning."""
    args = ["lint", "--strict", str(chart_path(chart)), "--kube-version", kube_version]
    for vf in values_files:
        args += ["--values", str(vf)]
    return run_helm(helm, args)
