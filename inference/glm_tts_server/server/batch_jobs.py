"""Batch jobs of the HTTP API (`/v1/batch`), run in the background through the shared work queue.

Each job synthesises its lines one at a time, waiting for a worker instead of being refused.
Bounds, so batches never starve interactive requests or fill the data volume:
- at most `batch_max_active` jobs queued or running; one more is refused with 429 + Retry-After;
- a job holds at most one queue slot, and batch lines are only admitted while `interactive_reserve`
  slots stay free for interactive requests;
- at most `batch_max_lines` lines per job;
- a finished job's directory is deleted `batch_retention_hours` after it finished.
Outputs and a `status.json` live under `<data_dir>/batches/<id>/`; status.json is written when
the job is accepted and when it ends, so after SIGTERM (or a crash) every job reads as done or
interrupted, never as running forever.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glm_tts_server.batch.jsonl import BatchItem, parse_jsonl
from glm_tts_server.batch.local import synthesize_item
from glm_tts_server.batch.paths import write_atomic
from glm_tts_server.constants import BATCH_PATH
from glm_tts_server.server.service import Service

log = logging.getLogger(__name__)

JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
STATUS_FILE = "status.json"
FINAL_STATES = ("done", "interrupted")


class InvalidBatch(ValueError):
    """No line can be synthesised; the message lists what is wrong with each."""


class BatchesBusy(RuntimeError):
    """Too many batch jobs are active; retry after `retry_after_s`."""

    def __init__(self, active: int, retry_after_s: int):
        super().__init__(
            f"{active} batch jobs are already queued or running (the server's limit): "
            f"retry in {retry_after_s} s, or raise GLMTTS_BATCH_MAX_ACTIVE"
        )
        self.retry_after_s = retry_after_s


def interactive_reserve(capacity: int) -> int:
    """Queue slots batch lines never take: half the capacity, always leaving batches one slot."""
    return min(capacity - 1, max(1, capacity // 2))


@dataclass
class BatchJob:
    id: str
    out_dir: Path
    items: list[BatchItem]
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    status: str = "queued"
    saved: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, Any]:
        rows = [
            self.results.get(item.line) or {"line": item.line, "uttid": item.uttid, "status": "pending"}
            for item in self.items
        ]
        rows += [r for r in self.results.values() if r["status"] == "invalid"]
        rows.sort(key=lambda r: r["line"])
        keep = ("line", "uttid", "status", "error", "duration_s")
        items = []
        for row in rows:
            item = {k: row[k] for k in keep if row.get(k) is not None}
            if row["status"] == "ok":
                item["audio_url"] = f"{BATCH_PATH}/{self.id}/audio/{row['uttid']}"
            items.append(item)
        ok = sum(r["status"] == "ok" for r in items)
        failed = sum(r["status"] in ("failed", "invalid") for r in items)
        return {
            "id": self.id,
            "status": self.status,
            "total": len(items),
            "succeeded": ok,
            "failed": failed,
            "items": items,
        }


class BatchJobs:
    def __init__(self, service: Service):
        self.service = service
        settings = service.settings
        self.root = Path(settings.data_dir) / "batches"
        self.max_active = settings.batch_max_active
        self.max_lines = settings.batch_max_lines
        self.retention_s = settings.batch_retention_hours * 3600
        self.reserve = interactive_reserve(service.queue.capacity)
        self._jobs: dict[str, BatchJob] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.purge_expired()

    def submit(self, text: str, account: Callable[[str, list[BatchItem]], None] | None = None) -> BatchJob:
        """Accept a batch; `account(job_id, items)` runs before any line does (the audit of cloned
        voices) and, when it raises, the batch is refused with nothing left behind."""
        items, errors = parse_jsonl(text, self.service.settings.data_dir)
        if not items:
            if not errors:
                raise InvalidBatch(
                    "the batch is empty: send one JSON object per line, each with uttid and syn_text"
                )
            raise InvalidBatch("no line can be synthesised: " + "; ".join(str(e) for e in errors[:20]))
        if len(items) + len(errors) > self.max_lines:
            raise InvalidBatch(
                f"the batch has {len(items) + len(errors)} lines, over this server's limit of "
                f"{self.max_lines}: split it (or use the Tekton batch pipeline)"
            )
        self.purge_expired()
        job_id = uuid.uuid4().hex
        job = BatchJob(job_id, self.root / job_id, items)
        for error in errors:
            job.results[error.line] = {
                "line": error.line,
                "uttid": error.uttid,
                "status": "invalid",
                "error": error.message,
            }
        thread = threading.Thread(target=self._run, args=(job,), name=f"batch-{job_id[:8]}", daemon=True)
        with self._lock:
            if self._stopping.is_set():
                raise BatchesBusy(0, 5)
            if len(self._jobs) >= self.max_active:
                raise BatchesBusy(len(self._jobs), self._retry_after_s())
            self._jobs[job_id] = job
            self._threads[job_id] = thread
        if account is not None:
            try:
                account(job_id, items)
            except BaseException:
                with self._lock:
                    self._jobs.pop(job_id, None)
                    self._threads.pop(job_id, None)
                raise
        job.out_dir.mkdir(parents=True, exist_ok=True)
        self._save(job)  # a job that is accepted always has a status on disk
        thread.start()
        return job

    def _retry_after_s(self) -> int:
        pending = sum(len(j.items) - len(j.results) for j in self._jobs.values())
        per_slot = max(self.service.queue.retry_after_s(), 1)
        return max(1, min(3600, math.ceil(pending * per_slot / max(self.max_active, 1))))

    def _run(self, job: BatchJob) -> None:
        try:
            self._run_lines(job)
        finally:
            if job.status not in FINAL_STATES:
                job.status = "interrupted"
            self._save(job)
            with self._lock:  # finished jobs are served from their status.json: memory stays flat
                self._jobs.pop(job.id, None)
                self._threads.pop(job.id, None)

    def _run_lines(self, job: BatchJob) -> None:
        job.status = "running"
        synthesizer = self.service.synthesizer
        lifecycle = self.service.lifecycle
        for item in job.items:
            if self._stopping.is_set() or lifecycle.draining:
                job.status = "interrupted"
                return
            try:
                future = self.service.queue.submit(
                    synthesize_item, synthesizer, item, job.out_dir, block=True, reserve=self.reserve
                )
                result = future.result()
            except (CancelledError, RuntimeError):  # the process is shutting down (queue closed)
                job.status = "interrupted"
                return
            job.results[item.line] = result
            if result["status"] == "ok":
                lifecycle.record_success()
                self.service.metrics.observe_synthesis(
                    result["duration_s"], result["duration_s"] * result.get("rtf", 0.0)
                )
            else:
                log.warning(
                    "batch %s line %d (%s) failed: %s", job.id, item.line, item.uttid, result["error"]
                )
        job.status = "done"

    def _save(self, job: BatchJob) -> None:
        with job.saved:
            write_atomic(job.out_dir / STATUS_FILE, json.dumps(job.snapshot(), ensure_ascii=False, indent=1))

    def status(self, job_id: str) -> dict[str, Any] | None:
        if not JOB_ID_RE.fullmatch(job_id):
            return None
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job.snapshot()
        try:  # finished, or accepted by a process that has since gone
            status = json.loads((self.root / job_id / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if status.get("status") not in FINAL_STATES:
            status["status"] = "interrupted"  # its process died before it could say so
        return status

    def audio(self, job_id: str, uttid: str) -> Path | None:
        status = self.status(job_id)
        if status is None:
            return None
        # Only uttids this job produced: the name never reaches the filesystem unchecked.
        for item in status["items"]:
            if item.get("uttid") == uttid and item["status"] == "ok":
                path = self.root / job_id / f"{uttid}.wav"
                return path if path.is_file() else None
        return None

    def purge_expired(self, now: float | None = None) -> list[str]:
        """Delete finished jobs older than the retention; returns their ids."""
        if not self.root.is_dir():
            return []
        cutoff = (time.time() if now is None else now) - self.retention_s
        removed = []
        with self._lock:
            live = set(self._jobs)
        for job_dir in self.root.iterdir():
            if job_dir.name in live or not JOB_ID_RE.fullmatch(job_dir.name) or job_dir.is_symlink():
                continue
            try:
                finished = (job_dir / STATUS_FILE).stat().st_mtime
            except OSError:
                finished = job_dir.stat().st_mtime
            if finished < cutoff:
                shutil.rmtree(job_dir, ignore_errors=True)
                removed.append(job_dir.name)
        if removed:
            log.info(
                "deleted %d batch job(s) older than the %.1f h retention",
                len(removed),
                self.retention_s / 3600,
            )
        return removed

    def stop(self, timeout_s: float | None = None) -> None:
        """On SIGTERM: running jobs stop after their current line, and every job's status is written.

        An interrupted job keeps its finished lines; submit the rest again.
        """
        self._stopping.set()
        deadline = time.monotonic() + (
            self.service.settings.drain_timeout_s if timeout_s is None else timeout_s
        )
        with self._lock:
            threads = dict(self._threads)
            jobs = dict(self._jobs)
        for job_id, thread in threads.items():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():  # its line is still synthesising: say so now, it may never finish
                job = jobs[job_id]
                job.status = "interrupted"
                self._save(job)
