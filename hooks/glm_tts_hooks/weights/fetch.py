"""The weights download: Hugging Face Hub client, checksums, required layout, completion marker.

The checkpoints of `zai-org/GLM-TTS` are the repo's files (llm/, flow/, hift/, ...): they land in
MODEL_DIR/ckpt/, where the glmtts backend reads them. huggingface_hub does the transfer: parallel,
a broken transfer resumed within the run, complete files kept across runs (its metadata under
ckpt/.cache/huggingface/), mirrors via the endpoint. Every file is then checked against the Hub's
sha256 / git blob id before the marker is written.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from glm_tts_hooks.report import Report, Status, emit_args
from glm_tts_hooks.weights.marker import (
    MARKER_NAME,
    mismatched_files,
    missing_files,
    read_marker,
    write_marker,
)

# What the glmtts backend loads from ckpt/ (inference/glm_tts_server/backends/glmtts.py): a
# download without these cannot serve, whatever the repo holds.
REQUIRED = (
    "llm/config.json",
    "flow/flow.pt",
    "flow/config.yaml",
    "speech_tokenizer/",
    "vq32k-phoneme-tokenizer/",
)
VOCODERS = ("hift/hift.pt", "vocos2d/generator_jit.ckpt")  # 24 kHz, 32 kHz: one is enough


def fetch_weights(args: argparse.Namespace) -> int:
    title = f"GLM-TTS fetch-weights: {args.repo_id}@{args.revision} -> {args.model_dir}/ckpt"
    report = Report()
    ckpt = args.model_dir / "ckpt"
    if _already_complete(report, args, ckpt):
        return emit_args(report, args, title=title)
    try:
        token = args.token_file.read_text().strip() if args.token_file else None
        ckpt.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        report.error = f"cannot prepare {ckpt} or read --token-file: {exc}"
        return emit_args(report, args, title=title)
    _configure_hub_environment(args)
    try:
        _download(report, args, ckpt, token or None)
    except ImportError as exc:
        report.error = (
            f"the Hugging Face client is not installed ({exc}): pip install 'glm-tts-hooks[weights]'"
        )
    except Exception as exc:  # every Hub, network and disk error becomes one line, exit 2
        report.error = _explain(exc, args)
    return emit_args(report, args, title=title)


def _already_complete(report: Report, args: argparse.Namespace, ckpt: Path) -> bool:
    marker = read_marker(ckpt)
    if marker is None:
        report.add("marker", Status.SKIP, f"no completion marker in {ckpt}: downloading")
        return False
    if (marker.get("repo_id"), marker.get("revision")) != (args.repo_id, args.revision):
        report.add(
            "marker",
            Status.SKIP,
            f"the marker is for {marker.get('repo_id')}@{marker.get('revision')}: downloading "
            f"{args.repo_id}@{args.revision}",
        )
        return False
    files = marker["files"]
    missing = missing_files(ckpt, files)
    if missing:
        report.add(
            "marker",
            Status.SKIP,
            f"{len(missing)} of {len(files)} files missing or resized: downloading again",
        )
        return False
    total = sum(int(info.get("size", 0)) for info in files.values())
    detail = (
        f"complete: {len(files)} files, {total / 1e9:.2f} GB of "
        f"{args.repo_id}@{str(marker.get('commit'))[:12]} "
        f"(since {marker.get('completed_at')}); nothing downloaded"
    )
    if args.verify_checksums:
        bad = mismatched_files(ckpt, files)
        if bad:
            for name in bad:  # the next run downloads exactly these again
                (ckpt / name).unlink(missing_ok=True)
            report.add(
                "checksums",
                Status.FAIL,
                f"{len(bad)} files no longer match their checksum: {', '.join(bad[:5])}",
                "they were removed; run fetch-weights again (the pod restarts do) to download them",
            )
            return True
        report.add("checksums", Status.PASS, f"{len(files)} files match the marker's checksums")
    report.add("marker", Status.PASS, detail)
    report.figures.update(files=len(files), bytes=total, downloaded=False)
    return True


def _configure_hub_environment(args: argparse.Namespace) -> None:
    """Before huggingface_hub is imported (it reads these once): a writable home, even with HOME=/
    read-only, no telemetry, and no progress bars in pod logs."""
    cache = args.cache_dir or args.model_dir / ".cache" / "huggingface"
    os.environ["HF_HOME"] = str(cache)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _download(report: Report, args: argparse.Namespace, ckpt: Path, token: str | None) -> None:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.hf_api import RepoFile

    api = HfApi(endpoint=args.endpoint, token=token)
    started = time.monotonic()
    commit = api.repo_info(args.repo_id, revision=args.revision).sha
    snapshot_download(
        args.repo_id,
        revision=commit,  # a commit: every file comes from the same snapshot
        local_dir=ckpt,
        endpoint=args.endpoint,
        token=token,
        max_workers=args.max_workers,
    )
    tree = {
        f.path: f
        for f in api.list_repo_tree(args.repo_id, recursive=True, revision=commit)
        if isinstance(f, RepoFile)
    }
    total = sum(f.size for f in tree.values())
    report.add(
        "download",
        Status.PASS,
        f"{len(tree)} files, {total / 1e9:.2f} GB of {args.repo_id}@{commit[:12]} in "
        f"{time.monotonic() - started:.1f} s",
    )
    verification = api.verify_repo_checksums(args.repo_id, revision=commit, local_dir=ckpt, token=token)
    bad = [m["path"] for m in verification.mismatches] + list(verification.missing_paths)
    if bad:
        for name in bad:
            (ckpt / name).unlink(missing_ok=True)
        report.add(
            "checksums",
            Status.FAIL,
            f"{len(bad)} of {len(tree)} files do not match the Hub's checksums: {', '.join(bad[:5])}",
            "they were removed; run fetch-weights again. If it repeats, the mirror (--endpoint) serves "
            "other content than it lists",
        )
        return
    report.add(
        "checksums", Status.PASS, f"{verification.checked_count} files match the Hub's sha256 / git ids"
    )
    if not _layout_ok(report, args, ckpt):
        return
    write_marker(
        ckpt,
        {
            "repo_id": args.repo_id,
            "revision": args.revision,
            "commit": commit,
            "endpoint": api.endpoint,
            "files": {path: _file_entry(f) for path, f in sorted(tree.items())},
        },
    )
    report.add("marker", Status.PASS, f"wrote {ckpt / MARKER_NAME}: later runs skip the download")
    report.figures.update(files=len(tree), bytes=total, downloaded=True, commit=commit)


def _file_entry(f: Any) -> dict[str, Any]:
    if f.lfs is not None:
        return {"size": f.size, "checksum": f"sha256:{f.lfs.sha256}"}
    return {"size": f.size, "checksum": f"git-sha1:{f.blob_id}"}


def _layout_ok(report: Report, args: argparse.Namespace, ckpt: Path) -> bool:
    missing = [rel for rel in REQUIRED if not (ckpt / rel.rstrip("/")).exists()]
    if not any((ckpt / rel).is_file() for rel in VOCODERS):
        missing.append(" or ".join(VOCODERS))
    if missing:
        report.add(
            "layout",
            Status.FAIL,
            f"{args.repo_id}@{args.revision} lacks what the glmtts backend loads: {', '.join(missing)}",
            "point --repo-id/--revision at the GLM-TTS checkpoints (zai-org/GLM-TTS), or at a mirror "
            "holding the same files",
        )
        return False
    report.add("layout", Status.PASS, "llm, flow, vocoder and both tokenizers are in place")
    return True


def _explain(exc: Exception, args: argparse.Namespace) -> str:
    """One line that says what to fix, for the errors a download meets."""
    from huggingface_hub import errors

    where = f"{args.repo_id}@{args.revision} at {args.endpoint or 'the Hugging Face Hub'}"
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"revision {args.revision!r} not found in {args.repo_id}: check --revision"
    if isinstance(exc, errors.GatedRepoError):
        return f"{where} is gated: accept its terms on the Hub and pass a token (HF_TOKEN or --token-file)"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return (
            f"{where}: repository not found, or private and the token is missing or wrong "
            "(HF_TOKEN, --token-file)"
        )
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        if status == 401:
            return f"{where}: the token was refused (401); set a valid HF_TOKEN or --token-file"
        return f"{where}: the server answered {status}: {str(exc).splitlines()[0]}"
    if isinstance(exc, OSError) and not type(exc).__module__.startswith(("httpx", "huggingface_hub")):
        return (
            f"cannot write the weights under {args.model_dir}: {exc} "
            "(is the volume writable and large enough?)"
        )
    return (
        f"cannot download {where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
        "(check the network path, a proxy (HTTPS_PROXY), or --endpoint)"
    )
