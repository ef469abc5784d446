"""`POST /v1/tts` (native) and `POST /v1/audio/speech` (OpenAI-compatible)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from glm_tts_server.audio import InvalidAudio, check_reference, encode, read_reference
from glm_tts_server.backends.base import SynthesisOptions, Voice
from glm_tts_server.constants import SPEECH_PATH, TTS_PATH
from glm_tts_server.encoding import MEDIA_TYPES, encoded_rate
from glm_tts_server.server.content import require_json
from glm_tts_server.server.errors import APIError, error_responses
from glm_tts_server.server.models import SpeechRequest, TTSRequest
from glm_tts_server.server.replies import DeliveredResponse
from glm_tts_server.server.service import Service
from glm_tts_server.server.speech import SpeechJob, SpeechRunner
from glm_tts_server.server.voice_audit import record_cloned_synthesis
from glm_tts_server.synthesis import InvalidText
from glm_tts_server.voices import UnknownVoice

router = APIRouter()

# OpenAI's built-in voice names: OpenAI clients always send one, so they map to the default voice.
OPENAI_VOICES = frozenset(
    {
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "fable",
        "nova",
        "onyx",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    }
)

AUDIO_RESPONSES = {
    200: {
        "description": "The audio (streamed when asked to, always on /v1/audio/speech)",
        "content": {media: {} for media in {**MEDIA_TYPES, "sse": "text/event-stream"}.values()},
    },
    **error_responses(400, 401, 413, 415, 422, 429, 503, 504),
}


def _service(request: Request) -> Service:
    return request.app.state.service


def _runner(request: Request) -> SpeechRunner:
    return request.app.state.speech


def _audio_post(path: str, summary: str) -> Callable[[Callable], Callable]:
    """A synthesis route: a JSON body in, audio (or its documented errors) out."""
    return router.post(
        path,
        response_class=Response,
        responses=AUDIO_RESPONSES,
        dependencies=[Depends(require_json)],
        summary=summary,
    )


async def _accept_text(request: Request, text: str, phoneme: bool, field: str) -> Service:
    """The service, once the runner is ready and `field` is within the length limit and plans."""
    service = _service(request)
    _runner(request).check_ready()
    limit = service.settings.max_input_chars
    if len(text) > limit:
        raise APIError(
            413,
            f"{field} has {len(text)} characters, more than the limit of {limit}: "
            "split it into several requests or use the batch API (POST /v1/batch)",
            param=field,
            code="input_too_long",
        )
    try:
        # Off the event loop: planning (and G2P in phoneme mode) is CPU work on 2,000 characters.
        await asyncio.to_thread(service.synthesizer.plan, text, phoneme)
    except InvalidText as exc:
        raise APIError(422, f"{field}: {exc}", param=field) from None
    return service


def _registered_voice(service: Service, name: str | None) -> Voice | None:
    name = name or service.settings.default_voice
    if name is None:
        return None
    try:
        return service.voices.get(name)
    except UnknownVoice as exc:
        hint = "" if name != service.settings.default_voice else " (it is this server's default voice)"
        raise APIError(
            422,
            f"voice: {exc}{hint}; GET /v1/voices lists the registered ones",
            param="voice",
            code="unknown_voice",
        ) from None


def _inline_voice(service: Service, prompt_audio: str, prompt_text: str) -> tuple[Voice, Path, str]:
    """Vet a base64 prompt and park it in a temporary file the backend can read."""
    try:
        data = base64.b64decode(prompt_audio, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(
            422,
            "prompt_audio is not valid base64: encode the WAV/FLAC file's bytes with standard base64",
            param="prompt_audio",
        ) from None
    limit = service.settings.max_upload_bytes
    if len(data) > limit:
        raise APIError(
            413,
            f"prompt_audio is {len(data)} bytes, more than the limit of {limit}: send 3-10 s of audio",
            param="prompt_audio",
        )
    if not prompt_text.strip():
        raise APIError(
            422, "prompt_text is empty: give the exact words spoken in prompt_audio", param="prompt_text"
        )
    try:
        audio = check_reference(read_reference(data))
    except InvalidAudio as exc:
        raise APIError(422, f"prompt_audio: {exc}", param="prompt_audio") from None
    fd, name = tempfile.mkstemp(prefix="glmtts-prompt-", suffix=".wav")
    with os.fdopen(fd, "wb") as fh:
        fh.write(encode(audio, "wav"))
    path = Path(name)
    digest = hashlib.sha256(data).hexdigest()[:16]
    return Voice(name="inline", audio_path=path, transcript=prompt_text.strip()), path, digest


def _audit(
    request: Request,
    voice: Voice | None,
    text: str,
    fmt: str,
    prompt_sha256: str | None = None,
) -> None:
    """Account for a synthesis with a cloned voice before it runs; refuse it when that is impossible."""
    if voice is not None:
        record_cloned_synthesis(request, voice.name, len(text), fmt, prompt_audio_sha256=prompt_sha256)


async def _speak(request: Request, job: SpeechJob, stream: bool) -> Response:
    runner = _runner(request)
    rate = str(encoded_rate(job.fmt, _service(request).synthesizer.sample_rate))
    send_timeout_s = runner.timeout_s  # a client that reads nothing for this long loses its reply
    if stream:
        body, release = await runner.stream(job)
        return DeliveredResponse(
            body,
            on_done=release,
            send_timeout_s=send_timeout_s,
            media_type=MEDIA_TYPES[job.fmt],
            headers={"X-Sample-Rate": rate},
        )
    result = await runner.synthesize(job)
    return DeliveredResponse(
        result.body,
        on_done=result.release,
        send_timeout_s=send_timeout_s,
        media_type=MEDIA_TYPES[job.fmt],
        headers={
            "X-Audio-Duration-Seconds": f"{result.duration_s:.3f}",
            "X-Synthesis-Seconds": f"{result.synthesis_s:.3f}",
            "X-Sample-Rate": str(result.sample_rate),
        },
    )


@_audio_post(TTS_PATH, "Synthesise text (native API)")
async def tts(body: TTSRequest, request: Request) -> Response:
    service = await _accept_text(request, body.text, body.phoneme, "text")
    cleanup: Callable[[], None] | None = None
    digest = None
    if body.prompt_audio is not None:
        # Decoding and vetting up to max_upload_bytes of audio: off the event loop.
        voice, path, digest = await asyncio.to_thread(
            _inline_voice, service, body.prompt_audio, body.prompt_text or ""
        )
        cleanup = functools.partial(path.unlink, missing_ok=True)
    else:
        voice = _registered_voice(service, body.voice)
    try:
        _audit(request, voice, body.text, body.response_format, digest)
    except APIError:
        if cleanup:
            cleanup()
        raise
    options = SynthesisOptions(voice=voice, speed=body.speed, seed=body.seed)
    job = SpeechJob(body.text, options, body.phoneme, body.response_format, cleanup)
    return await _speak(request, job, body.stream)


async def _sse(audio: AsyncIterator[bytes], characters: int) -> AsyncIterator[bytes]:
    """OpenAI's speech events: `speech.audio.delta` per chunk (base64), then `speech.audio.done`."""
    async for chunk in audio:
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()}
        yield f"data: {json.dumps(event)}\n\n".encode()
    # No tokenizer stands in front of this model: usage counts the input's characters.
    usage = {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}
    yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n".encode()


@_audio_post(SPEECH_PATH, "Synthesise text (OpenAI-compatible)")
async def speech(body: SpeechRequest, request: Request) -> Response:
    service = await _accept_text(request, body.input, False, "input")
    name = body.voice_name
    voice = _registered_voice(service, None if name in OPENAI_VOICES else name)
    _audit(request, voice, body.input, body.response_format)
    options = SynthesisOptions(voice=voice, speed=body.speed)
    job = SpeechJob(body.input, options, False, body.response_format)
    headers = {"X-Instructions-Applied": "false"} if body.instructions else {}
    runner = _runner(request)
    audio, release = await runner.stream(job)
    headers["X-Sample-Rate"] = str(encoded_rate(job.fmt, service.synthesizer.sample_rate))
    if body.stream_format == "sse":
        return DeliveredResponse(
            _sse(audio, len(body.input)),
            on_done=release,
            send_timeout_s=runner.timeout_s,
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache"},
        )
    return DeliveredResponse(
        audio,
        on_done=release,
        send_timeout_s=runner.timeout_s,
        media_type=MEDIA_TYPES[job.fmt],
        headers=headers,
    )
