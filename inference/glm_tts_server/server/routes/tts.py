"""`POST /v1/tts` (native) and `POST /v1/audio/speech` (OpenAI-compatible)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from glm_tts_server.audio import MEDIA_TYPES, InvalidAudio, check_reference, encode, read_reference
from glm_tts_server.backends.base import SynthesisOptions, Voice
from glm_tts_server.constants import SPEECH_PATH, TTS_PATH
from glm_tts_server.server.content import require_json
from glm_tts_server.server.errors import error_responses
from glm_tts_server.server.models import SpeechRequest, TTSRequest
from glm_tts_server.server.replies import DeliveredResponse
from glm_tts_server.server.service import Service
from glm_tts_server.server.speech import SpeechJob, SpeechRunner
from glm_tts_server.synthesis import InvalidText
from glm_tts_server.voices import UnknownVoice

router = APIRouter()

# OpenAI's built-in voice names: OpenAI clients always send one, so they map to the default voice.
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                           "shimmer", "verse"})
STREAM_FORMATS = ("wav", "pcm")

AUDIO_RESPONSES = {
    200: {"description": "The audio", "content": {media: {} for media in MEDIA_TYPES.values()}},
    **error_responses(400, 401, 413, 415, 422, 429, 503, 504),
}


def _service(request: Request) -> Service:
    return request.app.state.service


def _runner(request: Request) -> SpeechRunner:
    return request.app.state.speech


async def _check_text(service: Service, text: str, phoneme: bool, field: str) -> None:
    limit = service.settings.max_input_chars
    if len(text) > limit:
        raise HTTPException(413, f"{field} has {len(text)} characters, more than the limit of {limit}: "
                                 "split it into several requests or use the batch API (POST /v1/batch)")
    try:
        # Off the event loop: planning (and G2P in phoneme mode) is CPU work on 2,000 characters.
        await asyncio.to_thread(service.synthesizer.plan, text, phoneme)
    except InvalidText as exc:
        raise HTTPException(422, f"{field}: {exc}") from None


def _registered_voice(service: Service, name: str | None) -> Voice | None:
    name = name or service.settings.default_voice
    if name is None:
        return None
    try:
        return service.voices.get(name)
    except UnknownVoice as exc:
        hint = "" if name != service.settings.default_voice else " (it is this server's default voice)"
        raise HTTPException(422, f"voice: {exc}{hint}; GET /v1/voices lists the registered ones") from None


def _inline_voice(service: Service, prompt_audio: str, prompt_text: str) -> tuple[Voice, Path]:
    """Vet a base64 prompt and park it in a temporary file the backend can read."""
    try:
        data = base64.b64decode(prompt_audio, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "prompt_audio is not valid base64: encode the WAV/FLAC file's bytes "
                                 "with standard base64") from None
    limit = service.settings.max_upload_bytes
    if len(data) > limit:
        raise HTTPException(413, f"prompt_audio is {len(data)} bytes, more than the limit of {limit}: "
                                 "send 3-10 s of audio")
    if not prompt_text.strip():
        raise HTTPException(422, "prompt_text is empty: give the exact words spoken in prompt_audio")
    try:
        audio = check_reference(read_reference(data))
    except InvalidAudio as exc:
        raise HTTPException(422, f"prompt_audio: {exc}") from None
    fd, name = tempfile.mkstemp(prefix="glmtts-prompt-", suffix=".wav")
    with os.fdopen(fd, "wb") as fh:
        fh.write(encode(audio, "wav"))
    path = Path(name)
    return Voice(name="inline", audio_path=path, transcript=prompt_text.strip()), path


async def _speak(request: Request, job: SpeechJob, stream: bool) -> Response:
    runner = _runner(request)
    rate = str(_service(request).settings.sample_rate)
    send_timeout_s = runner.timeout_s  # a client that reads nothing for this long loses its reply
    if stream:
        body, release = await runner.stream(job)
        return DeliveredResponse(body, on_done=release, send_timeout_s=send_timeout_s,
                                 media_type=MEDIA_TYPES[job.fmt], headers={"X-Sample-Rate": rate})
    result = await runner.synthesize(job)
    return DeliveredResponse(result.body, on_done=result.release, send_timeout_s=send_timeout_s,
                             media_type=MEDIA_TYPES[job.fmt], headers={
        "X-Audio-Duration-Seconds": f"{result.duration_s:.3f}",
        "X-Synthesis-Seconds": f"{result.synthesis_s:.3f}",
        "X-Sample-Rate": str(result.sample_rate),
    })


@router.post(TTS_PATH, response_class=Response, responses=AUDIO_RESPONSES,
             dependencies=[Depends(require_json)], summary="Synthesise text (native API)")
async def tts(body: TTSRequest, request: Request) -> Response:
    service = _service(request)
    _runner(request).check_ready()
    if body.stream and body.response_format not in STREAM_FORMATS:
        raise HTTPException(422, f"response_format {body.response_format!r} cannot be streamed: use "
                                 f"{' or '.join(STREAM_FORMATS)} with stream=true")
    await _check_text(service, body.text, body.phoneme, "text")
    cleanup: Callable[[], None] | None = None
    if body.prompt_audio is not None:
        # Decoding and vetting up to max_upload_bytes of audio: off the event loop.
        voice, path = await asyncio.to_thread(_inline_voice, service, body.prompt_audio,
                                              body.prompt_text or "")
        cleanup = functools.partial(path.unlink, missing_ok=True)
    else:
        voice = _registered_voice(service, body.voice)
    options = SynthesisOptions(voice=voice, speed=body.speed, seed=body.seed)
    job = SpeechJob(body.text, options, body.phoneme, body.response_format, cleanup)
    return await _speak(request, job, body.stream)


@router.post(SPEECH_PATH, response_class=Response, responses=AUDIO_RESPONSES,
             dependencies=[Depends(require_json)], summary="Synthesise text (OpenAI-compatible)")
async def speech(body: SpeechRequest, request: Request) -> Response:
    service = _service(request)
    _runner(request).check_ready()
    await _check_text(service, body.input, False, "input")
    name = None if body.voice in OPENAI_VOICES else body.voice
    options = SynthesisOptions(voice=_registered_voice(service, name), speed=body.speed)
    return await _speak(request, SpeechJob(body.input, options, False, body.response_format), stream=False)
