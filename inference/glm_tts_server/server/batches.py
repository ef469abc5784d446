"""Batch jobs over upstream JSONL, run in the background through the same bounded queue.

Each job synthesises its lines one at a time, waiting for a worker instead of being refused,
so interactive requests keep their share of the GPU. Outputs and a `status.json` live under
`<data_dir>/batches/<id>/`; a finished job can still be read after a restart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glm_tts_server.batch import BatchItem, parse_jsonl, synthesize_item
from glm_tts_server.constants import BATCH_PATH
from glm_tts_server.server.service import Service

log = logging.getLogger(__name__)

JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
STATUS_FILE = "status.json"


class InvalidBatch(ValueError):
    """No line can be synthesised; the message lists what is wrong with each."""


@dataclass
class BatchJob:
    id: str
    out_dir: Path
    items: list[BatchItem]
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    status: str = "queued"

    def snapshot(self) -> dict[str, Any]:
        rows = [self.results.get(item.line) or {"line": item.line, "uttid": item.uttid, "status": "pending"}
                for item in self.items]
        rows += [r for r in self.results.values() if r["status"] == "invalid"]
        rows.sort(key=lambda r: r["line"])
        for row in rows:
            if row["status"] == "ok":
                row["audio_url"] = f"{BATCH_PATH}/{self.id}/audio/{row['uttid']}"
        keep = ("line", "uttid", "status", "error", "duration_s", "audio_url")
        items = [{k: row[k] for k in keep if row.get(k) is not None} for row in rows]
        ok = sum(r["status"] == "ok" for r in items)
        failed = sum(r["status"] in ("failed", "invalid") for r in items)
        return {"id": self.id, "status": self.status, "total": len(items), "succeeded": ok, "failed": failed,
                "items": items}


class BatchManager:
    def __init__(self, service: Service):
        self.service = service
        self.root = Path(service.settings.data_dir) / "batches"
        self._jobs: dict[str, BatchJob] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def submit(self, text: str) -> BatchJob:
        items, errors = parse_jsonl(text, self.service.settings.data_dir)
        if not items:
            if not errors:
                raise InvalidBatch("the batch is empty: send one JSON object per line, "
                                   "each with uttid and syn_text")
            raise InvalidBatch("no line can be synthesised: " + "; ".join(str(e) for e in errors))
        job_id = uuid.uuid4().hex
        job = BatchJob(job_id, self.root / job_id, items)
        for error in errors:
            job.results[error.line] = {"line": error.line, "uttid": error.uttid, "status": "invalid",
                                       "error": error.message}
        job.out_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._jobs[job_id] = job
        threading.Thread(target=self._run, args=(job,), name=f"batch-{job_id[:8]}", daemon=True).start()
        return job

    def _run(self, job: BatchJob) -> None:
        job.status = "running"
        synthesizer = self.service.synthesizer
        lifecycle = self.service.lifecycle
        for item in job.items:
            if self._stopping.is_set() or lifecycle.draining:
                job.status = "interrupted"
                break
            future = self.service.queue.submit(synthesize_item, synthesizer, item, job.out_dir, block=True)
            try:
                result = future.result()
            except CancelledError:  # the process is shutting down
                job.status = "interrupted"
                break
            job.results[item.line] = result
            if result["status"] == "ok":
                lifecycle.record_success()
                self.service.metrics.observe_synthesis(result["duration_s"],
                                                       result["duration_s"] * result.get("rtf", 0.0))
            else:
                log.warning("batch %s line %d (%s) failed: %s",
                            job.id, item.line, item.uttid, result["error"])
        else:
            job.status = "done"
        self._save(job)
        with self._lock:  # finished jobs are served from their status.json: memory stays flat
            self._jobs.pop(job.id, None)

    def _save(self, job: BatchJob) -> None:
        data = json.dumps(job.snapshot(), ensure_ascii=False, indent=1).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=job.out_dir, prefix=".status.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, job.out_dir / STATUS_FILE)

    def status(self, job_id: str) -> dict[str, Any] | None:
        if not JOB_ID_RE.fullmatch(job_id):
            return None
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job.snapshot()
        try:  # finished before this process started
            return json.loads((self.root / job_id / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

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

    def stop(self) -> None:
        """Running jobs stop after their current line (a drain must not wait for a whole batch).

        An interrupted job keeps its finished lines; submit the rest again.
        """
        self._stopping.set()
