"""Synthesise parsed batch lines in this process (`glm-tts-server batch run`).

`run_batch` synthesises the lines `batch.jsonl.parse_jsonl` accepted into `<uttid>.wav` and
writes `manifest.json`. One bad line fails that line, never the batch. With `workers > 1` each worker
is a process with its own backend (eSpeak NG and CUDA contexts are per process).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from glm_tts_server.audio import encode
from glm_tts_server.backends.base import SynthesisOptions, Voice
from glm_tts_server.batch.jsonl import BatchItem, LineError
from glm_tts_server.batch.paths import write_atomic
from glm_tts_server.synthesis import Synthesizer

MANIFEST = "manifest.json"

SynthesizerFactory = Callable[[], Synthesizer]


def synthesize_item(synthesizer: Synthesizer, item: BatchItem, out_dir: Path) -> dict[str, Any]:
    """One line to `<uttid>.wav`; any failure is returned as that line's error, not raised."""
    result: dict[str, Any] = {"line": item.line, "uttid": item.uttid}
    try:
        voice = None
        if item.prompt_speech is not None:
            voice = Voice(name=item.uttid, audio_path=item.prompt_speech, transcript=item.prompt_text or "")
        audio = synthesizer.synthesize(item.syn_text, SynthesisOptions(voice=voice))
        path = out_dir / f"{item.uttid}.wav"
        write_atomic(path, encode(audio, "wav"))
        result.update(
            status="ok",
            file=path.name,
            duration_s=round(audio.duration_s, 3),
            synthesis_s=round(audio.metadata.get("synthesis_s", 0.0), 4),
            rtf=round(audio.metadata.get("rtf", 0.0), 4),
        )
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

    progress = Progress(
        TextColumn("[bold]synthesising"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
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
            synth = (
                synthesizer_or_factory
                if isinstance(synthesizer_or_factory, Synthesizer)
                else synthesizer_or_factory()
            )
            for item in items:
                results.append(synthesize_item(synth, item, out))
                bar.advance(task)
        else:
            with ProcessPoolExecutor(
                max_workers=min(workers, len(items)),
                mp_context=_worker_context(),
                initializer=_init_worker,
                initargs=(synthesizer_or_factory,),
            ) as pool:
                futures = {pool.submit(_worker_item, item, out): item for item in items}
                for future in as_completed(futures):
                    try:
                        results.append(future.result())
                    except BrokenProcessPool as exc:
                        # A worker died (crash, OOM kill, backend failed to load): the lines it
                        # and its pool still held fail; the manifest is still written.
                        item = futures[future]
                        results.append(
                            {
                                "line": item.line,
                                "uttid": item.uttid,
                                "status": "failed",
                                "error": f"worker process died before finishing this line: {exc}",
                            }
                        )
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
    write_atomic(out / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    return manifest


__all__ = ["run_batch", "synthesize_item"]
