"""Reference voices: register (multipart upload), list, delete."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response

from glm_tts_server.audio import InvalidAudio
from glm_tts_server.constants import VOICES_PATH
from glm_tts_server.server.content import require_multipart
from glm_tts_server.server.errors import error_responses
from glm_tts_server.server.models import VoiceInfo, VoiceList
from glm_tts_server.voices import InvalidVoice, UnknownVoice

router = APIRouter(tags=["voices"])


@router.get(VOICES_PATH, response_model=VoiceList, responses=error_responses(401), summary="List voices")
async def list_voices(request: Request) -> VoiceList:
    voices = await asyncio.to_thread(request.app.state.service.voices.list)
    return VoiceList(voices=[VoiceInfo(name=v.name, transcript=v.transcript) for v in voices])


@router.post(VOICES_PATH, status_code=201, response_model=VoiceInfo,
             dependencies=[Depends(require_multipart)], responses=error_responses(400, 401, 413, 415, 422),
             summary="Register (or replace) a voice")
async def register_voice(
    request: Request,
    name: Annotated[str, Form(description="1-63 characters a-z, 0-9, '-', '_'")],
    transcript: Annotated[str, Form(description="The exact words spoken in the audio")],
    audio: Annotated[UploadFile, File(description="3-10 s of clear speech, WAV or FLAC")],
) -> VoiceInfo:
    service = request.app.state.service
    limit = service.settings.max_upload_bytes
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"audio is larger than the limit of {limit} bytes: send 3-10 s of speech")
    try:
        voice = await asyncio.to_thread(service.voices.register, name, data, transcript)
    except (InvalidAudio, InvalidVoice) as exc:
        raise HTTPException(422, str(exc)) from None
    return VoiceInfo(name=voice.name, transcript=voice.transcript)


@router.delete(VOICES_PATH + "/{name}", status_code=204, response_class=Response,
               responses=error_responses(401, 404), summary="Delete a voice")
async def delete_voice(name: str, request: Request) -> Response:
    try:
        await asyncio.to_thread(request.app.state.service.voices.delete, name)
    except (UnknownVoice, InvalidVoice) as exc:
        raise HTTPException(404, f"{exc}: GET /v1/voices lists the registered ones") from None
    return Response(status_code=204)
