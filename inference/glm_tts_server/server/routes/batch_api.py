"""Batch synthesis over upstream-format JSONL: submit, poll, fetch each line's WAV."""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from glm_tts_server.batch.jsonl import BatchItem
from glm_tts_server.constants import BATCH_PATH
from glm_tts_server.server.batch_jobs import BatchesBusy, InvalidBatch
from glm_tts_server.server.errors import error_responses
from glm_tts_server.server.models import BatchStatus
from glm_tts_server.server.voice_audit import record_cloned_synthesis

router = APIRouter(tags=["batch"])

# Not text/plain: that is a CORS "simple" type, which any web page could post without a preflight.
JSONL_MEDIA_TYPES = ("application/x-ndjson", "application/jsonl")
JSONL_BODY = {
    "requestBody": {
        "required": True,
        "description": 'Upstream GLM-TTS JSONL: one {"uttid", "syn_text", "prompt_text", "prompt_speech"} '
        "per line; prompt_speech is a path under the server's data directory",
        "content": {media: {"schema": {"type": "string"}} for media in JSONL_MEDIA_TYPES},
    }
}


@router.post(
    BATCH_PATH,
    status_code=202,
    response_model=BatchStatus,
    openapi_extra=JSONL_BODY,
    responses=error_responses(401, 413, 415, 422, 429, 503),
    summary="Submit a batch",
)
async def submit_batch(request: Request) -> JSONResponse:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in JSONL_MEDIA_TYPES:
        raise HTTPException(
            415,
            f"send the batch as JSONL with Content-Type: {JSONL_MEDIA_TYPES[0]} "
            f"(got {media_type[:60] or 'none'})",
        )
    request.app.state.speech.check_ready()
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the batch is not UTF-8 text: send JSONL encoded as UTF-8") from None
    manager = request.app.state.batches

    def account(job_id: str, items: list[BatchItem]) -> None:
        """Each line that clones a voice from a prompt_speech file is in the audit log before it runs."""
        for item in items:
            if item.prompt_speech is None:
                continue
            record_cloned_synthesis(
                request,
                f"prompt_speech:{item.prompt_speech_rel}",
                len(item.syn_text),
                "wav",
                prompt_audio_sha256=hashlib.sha256(item.prompt_speech.read_bytes()).hexdigest()[:16],
                batch_id=job_id,
                uttid=item.uttid,
                line=item.line,
            )

    try:
        # Off the event loop: parsing reads and vets every prompt_speech file, and the audit hashes them.
        job = await asyncio.to_thread(manager.submit, text, account)
    except InvalidBatch as exc:
        raise HTTPException(422, str(exc)) from None
    except BatchesBusy as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    return JSONResponse(job.snapshot(), status_code=202, headers={"Location": f"{BATCH_PATH}/{job.id}"})


@router.get(
    BATCH_PATH + "/{batch_id}",
    response_model=BatchStatus,
    responses=error_responses(401, 404),
    summary="Batch status and per-line results",
)
async def batch_status(batch_id: str, request: Request) -> dict:
    status = request.app.state.batches.status(batch_id)
    if status is None:
        raise HTTPException(404, f"no batch {batch_id!r}: use the id POST {BATCH_PATH} returned")
    return status


@router.get(
    BATCH_PATH + "/{batch_id}/audio/{uttid}",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, **error_responses(401, 404)},
    summary="One line's audio",
)
async def batch_audio(batch_id: str, uttid: str, request: Request) -> FileResponse:
    path = request.app.state.batches.audio(batch_id, uttid)
    if path is None:
        raise HTTPException(
            404,
            f"no audio for {uttid!r} in batch {batch_id!r}: check the batch status; "
            "only lines with status 'ok' have audio",
        )
    return FileResponse(path, media_type="audio/wav")
