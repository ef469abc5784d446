"""Synthesise one shard against a running GLM-TTS service (`POST /v1/tts`), with bounded concurrency.

A full queue (429) is retried after its Retry-After, a not-ready service (502/503/504) and
connection errors with exponential backoff. A line that still fails is recorded in the shard
manifest (JSON lines: uttid, status, duration, bytes, sha256, attempts, error) and does not
stop the others. Standard library HTTP only: this runs in CI pods against the internal Service.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glm_tts_server.batch.jsonl import BatchItem, parse_jsonl
from glm_tts_server.batch.paths import UsageError, inside, write_atomic
from glm_tts_server.constants import TTS_PATH

RETRY_STATUSES = {429, 502, 503, 504}


@dataclass(frozen=True)
class ClientOptions:
    url: str
    concurrency: int = 4
    max_attempts: int = 8
    retry_after_max_s: int = 60
    request_timeout_s: int = 300
    voice: str = ""
    seed: int | None = None
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise UsageError(f"--url must be an http(s) URL, got {self.url!r}")
        for name, low, high in (
            ("concurrency", 1, 64),
            ("max_attempts", 1, 100),
            ("retry_after_max_s", 0, 3600),
            ("request_timeout_s", 1, 86400),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise UsageError(f"--{name.replace('_', '-')} must be between {low} and {high}, got {value}")


def read_api_key(key_dir: str, key_name: str) -> str | None:
    """The key from an optional Secret workspace: empty dir = unbound, missing file = no Secret."""
    if not key_dir:
        return None
    path = Path(key_dir) / key_name
    if not path.is_file():
        print(
            f"note: {key_dir} has no file {key_name!r} (optional Secret absent): no API key sent",
            file=sys.stderr,
        )
        return None
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise UsageError(f"API key file {path} is empty")
    return key


def retry_after(header: str | None, cap: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), capped."""
    if not header:
        return None
    try:
        return min(max(float(header), 0.0), cap)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(when - time.time(), 0.0), cap)


def backoff(attempt: int) -> float:
    return min(0.5 * 2 ** (attempt - 1), 30.0) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)


def error_detail(body: bytes) -> str:
    """The message of an error reply: OpenAI envelope, FastAPI detail, or the start of the body."""
    text = body.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(obj, dict):
        error = obj.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if obj.get("detail"):
            detail = obj["detail"]
            return (detail if isinstance(detail, str) else json.dumps(detail))[:300]
    return text[:300]


class ShardClient:
    def __init__(self, workspace: Path, options: ClientOptions, wav_dir: Path, wav_rel: str):
        self.workspace = workspace
        self.options = options
        self.url = options.url.rstrip("/") + TTS_PATH
        self.headers = {"Content-Type": "application/json", "Accept": "audio/wav"}
        if options.api_key:
            self.headers["Authorization"] = f"Bearer {options.api_key}"
        self.wav_dir = wav_dir
        self.wav_rel = wav_rel
        self.lock = threading.Lock()
        self.retries = 0

    def payload(self, item: BatchItem) -> bytes:
        body: dict[str, Any] = {"text": item.syn_text, "response_format": "wav"}
        if item.prompt_speech is not None:
            body["prompt_audio"] = base64.b64encode(item.prompt_speech.read_bytes()).decode("ascii")
            body["prompt_text"] = item.prompt_text
        elif self.options.voice:
            body["voice"] = self.options.voice
        if self.options.seed is not None:
            body["seed"] = self.options.seed
        return json.dumps(body).encode("utf-8")

    def post(self, data: bytes) -> tuple[int, Any, bytes]:
        """One request: (status, headers, body); status 0 for a transport error."""
        request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(request, timeout=self.options.request_timeout_s) as resp:  # noqa: S310
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            return 0, {}, str(getattr(exc, "reason", exc)).encode()

    def synthesize(self, item: BatchItem) -> dict[str, Any]:
        record: dict[str, Any] = {
            "uttid": item.uttid,
            "status": "error",
            "duration": None,
            "bytes": None,
            "sha256": None,
            "attempts": 0,
        }
        try:
            data = self.payload(item)
        except OSError as exc:
            record["error"] = f"cannot read prompt_speech: {exc.strerror or exc}"
            return record
        for attempt in range(1, self.options.max_attempts + 1):
            record["attempts"] = attempt
            status, headers, body = self.post(data)
            if status == 200:
                return self._save(record, body)
            record["http_status"] = status
            record["error"] = error_detail(body) if status else f"connection failed: {body[:200].decode()}"
            if status and status not in RETRY_STATUSES and status < 500:
                return record  # the request itself is wrong: retrying cannot help
            if attempt == self.options.max_attempts:
                break
            wait = retry_after(headers.get("Retry-After") if status else None, self.options.retry_after_max_s)
            with self.lock:
                self.retries += 1
            time.sleep(backoff(attempt) if wait is None else wait)
        return record

    def _save(self, record: dict[str, Any], body: bytes) -> dict[str, Any]:
        try:
            with wave.open(io.BytesIO(body)) as wav:
                frames, rate = wav.getnframes(), wav.getframerate()
        except (wave.Error, EOFError) as exc:
            record.update(error=f"response is not a WAV file: {exc}", http_status=200)
            return record
        target = self.wav_dir / f"{record['uttid']}.wav"
        write_atomic(target, body)
        record.update(
            status="ok",
            duration=round(frames / rate, 4),
            bytes=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            sample_rate=rate,
            wav=f"{self.wav_rel}/{target.name}",
        )
        record.pop("error", None)
        record.pop("http_status", None)
        return record


@dataclass(frozen=True)
class ShardResult:
    manifest: str
    ok: int
    errors: int
    retries: int


def synthesize_shard(workspace: Path, shard_rel: str, output_dir: str, options: ClientOptions) -> ShardResult:
    """Synthesise every line of the shard; write `<output_dir>/manifests/<shard name>`."""
    source = inside(workspace, shard_rel, "shard")
    out = inside(workspace, output_dir, "output directory")
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"shard {shard_rel!r} not found in the workspace") from None
    items, errors = parse_jsonl(text, workspace)
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    client = ShardClient(workspace, options, wav_dir, f"{output_dir.rstrip('/')}/wav")
    started = time.monotonic()
    done = 0
    records: list[dict[str, Any]] = [
        {"uttid": e.uttid, "status": "error", "error": e.message, "attempts": 0} for e in errors
    ]

    def one(item: BatchItem) -> dict[str, Any]:
        nonlocal done
        record = client.synthesize(item)
        with client.lock:
            done += 1
            mark = "ok" if record["status"] == "ok" else f"FAILED: {record.get('error')}"
            print(f"[{done}/{len(items)}] {item.uttid} {mark}", flush=True)
        return record

    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        records += list(pool.map(one, items))
    manifest_rel = f"{output_dir.rstrip('/')}/manifests/{source.name}"
    write_atomic(
        workspace / manifest_rel,
        "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records),
    )
    ok = sum(r["status"] == "ok" for r in records)
    print(
        f"{shard_rel}: {ok} ok, {len(records) - ok} failed, {client.retries} retries, "
        f"{time.monotonic() - started:.1f} s; manifest {manifest_rel}",
        flush=True,
    )
    return ShardResult(manifest_rel, ok, len(records) - ok, client.retries)
