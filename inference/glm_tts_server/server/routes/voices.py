"""Reference voices: register (multipart upload), list, delete, each accountable.

Registering records who did it (the identity the oauth2-proxy sidecar forwards, else the API
key's name) and the consent statement they gave, which is required unless the operator sets
`voice_consent_required: false`. Registrations and deletions are written to the audit log.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from glm_tts_server.audio import InvalidAudio
from glm_tts_server.audit import AuditUnavailable
from glm_tts_server.constants import VOICES_PATH
from glm_tts_server.server.content import require_multipart
from glm_tts_server.server.errors import APIError, error_responses
from glm_tts_server.server.models import VoiceInfo, VoiceList
from glm_tts_server.server.request_context import caller, request_id
from glm_tts_server.voices import InvalidVoice, UnknownVoice

log = logging.getLogger(__name__)
router = APIRouter(tags=["voices"])

MIN_CONSENT_CHARS = 10
MAX_CONSENT_CHARS = 1000
CONSENT_EXAMPLE = (
    "I recorded this clip of Alice Example, who agreed in writing on 2026-05-04 to have her "
    "voice cloned for the support line"
)


def _info(meta: dict[str, Any]) -> VoiceInfo:
    return VoiceInfo(
        name=meta["name"],
        transcript=meta["transcript"],
        registered_by=meta.get("registered_by"),
        registered_at=meta.get("registered_at"),
        consent=meta.get("consent"),
    )


def _check_consent(consent: str | None, required: bool) -> str | None:
    consent = (consent or "").strip() or None
    if consent is None:
        if required:
            raise APIError(
                422,
                "consent is missing: this server clones a voice only with a statement that "
                f"the speaker agreed, e.g. {CONSENT_EXAMPLE!r}",
                param="consent",
                code="consent_required",
            )
        return None
    if len(consent) < MIN_CONSENT_CHARS:
        raise APIError(
            422,
            f"consent is too short ({len(consent)} characters): say who agreed, to what and "
            f"when, e.g. {CONSENT_EXAMPLE!r}",
            param="consent",
        )
    if len(consent) > MAX_CONSENT_CHARS:
        raise APIError(
            422,
            f"consent is longer than {MAX_CONSENT_CHARS} characters: keep the statement and "
            "reference the signed form by its id",
            param="consent",
        )
    return consent


@router.get(VOICES_PATH, response_model=VoiceList, responses=error_responses(401), summary="List voices")
async def list_voices(request: Request) -> VoiceList:
    store = request.app.state.service.voices

    def describe_all() -> list[dict[str, Any]]:
        described = []
        for voice in store.list():
            try:
                described.append(store.describe(voice.name))
            except (UnknownVoice, ValueError):
                continue  # deleted meanwhile
        return described

    return VoiceList(voices=[_info(meta) for meta in await asyncio.to_thread(describe_all)])


@router.post(
    VOICES_PATH,
    status_code=201,
    response_model=VoiceInfo,
    dependencies=[Depends(require_multipart)],
    responses=error_responses(400, 401, 413, 415, 422, 503),
    summary="Register (or replace) a voice",
)
async def register_voice(
    request: Request,
    name: Annotated[str, Form(description="1-63 characters a-z, 0-9, '-', '_'")],
    transcript: Annotated[str, Form(description="The exact words spoken in the audio")],
    audio: Annotated[UploadFile, File(description="3-10 s of clear speech, WAV or FLAC")],
    consent: Annotated[
        str | None,
        Form(
            description="Who agreed to having this voice cloned, to what, "
            "when; required unless the server turns it off"
        ),
    ] = None,
) -> VoiceInfo:
    service = request.app.state.service
    consent = _check_consent(consent, service.settings.voice_consent_required)
    limit = service.settings.max_upload_bytes
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise APIError(
            413, f"audio is larger than the limit of {limit} bytes: send 3-10 s of speech", param="audio"
        )
    who = caller(request)
    provenance = {
        "registered_by": who.id,
        "registered_by_source": who.source,
        "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "consent": consent,
        "request_id": request_id(request),
    }

    def register() -> dict[str, Any]:
        service.audit.check()  # refuse before writing anything when the voice could not be accounted for
        voice = service.voices.register(name, data, transcript, provenance)
        try:
            service.audit.record(
                "voice.register",
                caller=who.id,
                caller_source=who.source,
                voice=voice.name,
                consent=consent,
                request_id=provenance["request_id"],
            )
        except AuditUnavailable:
            service.voices.delete(voice.name)
            raise
        return service.voices.describe(voice.name)

    try:
        meta = await asyncio.to_thread(register)
    except InvalidAudio as exc:
        raise APIError(422, str(exc), param="audio") from None
    except InvalidVoice as exc:
        param = "transcript" if "transcript" in str(exc) else "name"
        raise APIError(422, str(exc), param=param) from None
    except AuditUnavailable as exc:
        raise APIError(
            503,
            f"{exc}: voices cannot be registered until the audit log can be written",
            code="audit_unavailable",
            headers={"Retry-After": "30"},
        ) from None
    return _info(meta)


@router.delete(
    VOICES_PATH + "/{name}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 404),
    summary="Delete a voice and its reference audio",
)
async def delete_voice(name: str, request: Request) -> Response:
    service = request.app.state.service
    who = caller(request)
    try:
        await asyncio.to_thread(service.voices.delete, name)
    except (UnknownVoice, InvalidVoice) as exc:
        raise APIError(
            404, f"{exc}: GET /v1/voices lists the registered ones", param="name", code="unknown_voice"
        ) from None
    try:
        await asyncio.to_thread(
            service.audit.record,
            "voice.delete",
            caller=who.id,
            caller_source=who.source,
            voice=name,
            request_id=request_id(request),
        )
    except AuditUnavailable as exc:  # deleting a voice is always allowed; the server log keeps the trace
        log.error(
            "voice %r deleted by %s (%s), request %s, but %s",
            name,
            who.id,
            who.source,
            request_id(request),
            exc,
        )
    return Response(status_code=204)
