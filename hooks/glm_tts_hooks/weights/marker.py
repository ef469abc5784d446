"""The completion marker of a weights download: what was fetched, so a pod restart can skip it.

`<model-dir>/ckpt/.glm-tts-weights.json`, written last and atomically:
    {"repo_id", "revision" (as asked), "commit" (resolved), "endpoint",
     "files": {path: {"size": int, "checksum": "sha256:<hex>" | "git-sha1:<hex>"}}, "completed_at"}
Checksums are the Hub's: sha256 for LFS files, the git blob id for the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

MARKER_NAME = ".glm-tts-weights.json"
_CHUNK = 1 << 20


def marker_path(ckpt_dir: Path) -> Path:
    return ckpt_dir / MARKER_NAME


def read_marker(ckpt_dir: Path) -> dict[str, Any] | None:
    """The marker, or None when absent or unreadable (then the download simply runs again)."""
    try:
        marker = json.loads(marker_path(ckpt_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        return None
    return marker


def write_marker(ckpt_dir: Path, marker: dict[str, Any]) -> None:
    marker = {**marker, "completed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = marker_path(ckpt_dir)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)  # readers see the old marker or the whole new one


def missing_files(ckpt_dir: Path, files: dict[str, dict[str, Any]]) -> list[str]:
    """Listed files that are absent or have another size (a cheap, offline completeness check)."""
    missing = []
    for name, info in files.items():
        try:
            if (ckpt_dir / name).stat().st_size != info.get("size"):
                missing.append(name)
        except OSError:
            missing.append(name)
    return missing


def checksum_of(path: Path, algorithm: str) -> str:
    """`sha256` of the content, or `git-sha1`: the git blob id ("blob <size>\\0" + content)."""
    if algorithm == "sha256":
        digest = hashlib.sha256()
    elif algorithm == "git-sha1":
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {path.stat().st_size}\0".encode())
    else:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}")
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def mismatched_files(ckpt_dir: Path, files: dict[str, dict[str, Any]]) -> list[str]:
    """Listed files whose content no longer matches the marker's checksum."""
    bad = []
    for name, info in files.items():
        algorithm, _, expected = str(info.get("checksum", "")).partition(":")
        try:
            if checksum_of(ckpt_dir / name, algorithm) != expected:
                bad.append(name)
        except (OSError, ValueError):
            bad.append(name)
    return bad
