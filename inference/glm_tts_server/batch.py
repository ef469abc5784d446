"""Batch synthesis over upstream GLM-TTS JSONL: `{"uttid","prompt_text","prompt_speech","syn_text"}`.

`parse_jsonl` checks every line up front and reports each bad one with its line number and
what to fix; `run_batch` synthesises the good ones into `<uttid>.wav` and writes
`manifest.json`. One bad line fails that line, never the batch. With `workers > 1` each worker
is a process with its own backend (eSpeak NG and CUDA contexts are per process).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glm_tts_server.audio import InvalidAudio, check_reference, encode, read_reference
from glm_tts_server.backends.base import SynthesisOptions, Voice
from glm_tts_server.synthesis import Synthesizer

UTTID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MANIFEST = "manifest.json"

SynthesizerFactory = Callable[[], Synthesizer]


@dataclass(frozen=True)
class BatchItem:
    line: int
    uttid: str
    syn_text: str
    prompt_text: str | None = None
    prompt_speech: Path | None = None


@dataclass(frozen=True)
class LineError:
    line: int
    message: str
    uttid: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _resolve_prompt(value: Any, data_dir: Path, vetted: dict[Path, str | None]) -> Path:
    """Resolve and vet a prompt path; `vetted` remembers each file's verdict (batches reuse prompts)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("prompt_speech must be a path (string) to a WAV/FLAC file under the data directory")
    root = data_dir.resolve()
    # resolve() follows symlinks and folds "..", so the check sees where the file really is.
    path = (root / value).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"prompt_speech {value!r} resolves outside the data directory {root}: "
                         "copy the file under it and use a relative path")
    if path not in vetted:
        vetted[path] = _vet_audio(path)
    if vetted[path] is not None:
        raise ValueError(f"prompt_speech {value!r}: {vetted[path]}")
    return path


def _vet_audio(path: Path) -> str | None:
    """None if the file is a usable prompt, else why not."""
    try:
        check_reference(read_reference(path.read_bytes()))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except InvalidAudio as exc:
        return str(exc)
    return None


def _parse_line(number: int, raw: str, data_dir: Path, seen: dict[str, int],
                vetted: dict[Path, str | None]) -> BatchItem:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno}): write one JSON object per line") \
            from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with uttid and syn_text")
    uttid = obj.get("uttid")
    if isinstance(uttid, int) and not isinstance(uttid, bool):
        uttid = str(uttid)
    if not isinstance(uttid, str) or not uttid:
        raise ValueError("missing uttid: give every line a unique id (it names the output WAV)")
    if not UTTID_RE.fullmatch(uttid):
        raise ValueError(f"uttid {uttid!r} is not a safe file name: use letters, digits, '.', '_' or '-'")
    if uttid in seen:
        raise ValueError(f"duplicate uttid {uttid!r} (first used on line {seen[uttid]}): make it unique")
    seen[uttid] = number
    syn_text = obj.get("syn_text")
    if not isinstance(syn_text, str) or not syn_text.strip():
        raise ValueError("missing syn_text: give the text to synthesise")
    prompt_text = obj.get("prompt_text")
    prompt_speech = None
    if obj.get("prompt_speech") not in (None, ""):
        if not isinstance(prompt_text, str) or not prompt_text.strip():
            raise ValueError("prompt_speech needs prompt_text: the exact transcript of the prompt audio")
        prompt_speech = _resolve_prompt(obj["prompt_speech"], data_dir, vetted)
    return BatchItem(number, uttid, syn_text, prompt_text if prompt_speech else None, prompt_speech)


def parse_jsonl(text_or_lines: str | Iterable[str], data_dir: str | os.PathLike[str]) -> \
        tuple[list[BatchItem], list[LineError]]:
    """Parse upstream-format JSONL; blank lines are skipped. Returns (good items, errors)."""
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    items: list[BatchItem] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    vetted: dict[Path, str | None] = {}
    data_dir = Path(data_dir)
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            items.append(_parse_line(number, raw, data_dir, seen, vetted))
        except ValueError as exc:
            uttid = None
            with contextlib.suppress(ValueError, AttributeError):
                uttid = json.loads(raw).get("uttid")
            errors.append(LineError(number, str(exc), str(uttid) if uttid is not None else None))
    return items, errors


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def synthesize_item(synthesizer: Synthesizer, item: BatchItem, out_dir: Path) -> dict[str, Any]:
    """One line to `<uttid>.wav`; any failure is returned as that line's error, not raised."""
    result: dict[str, Any] = {"line": item.line, "uttid": item.uttid}
    try:
        voice = None
        if item.prompt_speech is not None:
            voice = Voice(name=item.uttid, audio_path=item.prompt_speech, transcript=item.prompt_text or "")
        audio = synthesizer.synthesize(item.syn_text, SynthesisOptions(voice=voice))
        path = out_dir / f"{item.uttid}.wav"
        _atomic_write(path, encode(audio, "wav"))
        result.update(status="ok", file=path.name, duration_s=round(audio.duration_s, 3),
                      synthesis_s=round(audio.metadata.get("synthesis_s", 0.0), 4),
                      rtf=round(audio.metadata.get("rtf", 0.0), 4))
    except Exception as exc:
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    return result


# Worker-process state: each process builds its own synthesizer once.
_WORKER: dict[str, Synthesizer] = {}


def _init_worker(factory: SynthesizerFactory) -> None:
    _WORKER["synth"] = factory()


def _worker_item(item: BatchItem, out_dir: Path) -> dict[str, Any]:
    return synthesize_item(_WORKER["synth"], item, out_dir)


def _worker_context() -> multiprocessing.context.BaseContext:
    """forkserver: never fork a parent that runs threads (progress bar, server) or holds a backend.

    The server process preloads our modules, so each worker starts in milliseconds, not seconds.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["glm_tts_server.synthesis", "glm_tts_server.backends.espeak"])
    return ctx


def _progress(enabled: bool, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("[bold]synthesising"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), disable=not enabled, transient=False)
    return progress, progress.add_task("batch", total=total)


def run_batch(
    items: list[BatchItem],
    synthesizer_or_factory: Synthesizer | SynthesizerFactory,
    out_dir: str | os.PathLike[str],
    workers: int = 1,
    progress: bool = True,
    errors: Iterable[LineError] = (),
) -> dict[str, Any]:
    """Synthesise `items` into `out_dir`; write and return the manifest.

    `workers > 1` needs a picklable factory (e.g. `functools.partial(build_synthesizer, settings)`):
    each worker process calls it once. A ready Synthesizer runs the items in this process.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[dict[str, Any]] = [
        {"line": e.line, "uttid": e.uttid, "status": "invalid", "error": e.message} for e in errors
    ]
    bar, task = _progress(progress, len(items))
    with bar:
        if isinstance(synthesizer_or_factory, Synthesizer) or workers == 1 or len(items) <= 1:
            synth = (synthesizer_or_factory if isinstance(synthesizer_or_factory, Synthesizer)
                     else synthesizer_or_factory())
            for item in items:
                results.append(synthesize_item(synth, item, out))
                bar.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=_worker_context(),
                                     initializer=_init_worker, initargs=(synthesizer_or_factory,)) as pool:
                futures = {pool.submit(_worker_item, item, out): item for item in items}
                for future in as_completed(futures):
                    try:
                        results.append(future.result())
                    except BrokenProcessPool as exc:
                        # A worker died (crash, OOM kill, backend failed to load): the lines it
                        # and its pool still held fail; the manifest is still written.
                        item = futures[future]
                        results.append({"line": item.line, "uttid": item.uttid, "status": "failed",
                                        "error": f"worker process died before finishing this line: {exc}"})
                    bar.advance(task)
    results.sort(key=lambda r: r["line"])
    ok = sum(r["status"] == "ok" for r in results)
    manifest = {
        "total": len(results),
        "succeeded": ok,
        "failed": len(results) - ok,
        "workers": workers,
        "wall_s": round(time.perf_counter() - started, 3),
        "items": results,
    }
    _atomic_write(out / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    return manifest


__all__ = ["BatchItem", "LineError", "parse_jsonl", "run_batch", "synthesize_item"]
