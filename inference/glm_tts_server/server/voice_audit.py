"""Account for a cloned-voice synthesis in the audit log before it runs, or refuse it (503).

One place for the fields every synthesis entry carries, whichever endpoint asked for it: `/v1/tts`
(a registered voice or an inline prompt), `/v1/audio/speech`, and each `prompt_speech` line of a batch.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from glm_tts_server.audit import AuditUnavailable
from glm_tts_server.server.errors import APIError
from glm_tts_server.server.request_context import caller, request_id


def record_cloned_synthesis(request: Request, voice: str, characters: int, fmt: str, **extra: Any) -> None:
    """Append one `synthesis` entry; APIError 503 when the log cannot take it."""
    who = caller(request)
    fields = {
        "caller": who.id,
        "caller_source": who.source,
        "voice": voice,
        "characters": characters,
        "request_id": request_id(request),
        "endpoint": request.url.path,
        "format": fmt,
        **{key: value for key, value in extra.items() if value is not None},
    }
    try:
        request.app.state.service.audit.record("synthesis", **fields)
    except AuditUnavailable as exc:
        raise APIError(
            503,
            f"{exc}: cloned voices are refused until the audit log can be written "
            "(check audit_log / GLMTTS_AUDIT_LOG and its volume)",
            code="audit_unavailable",
            headers={"Retry-After": "30"},
        ) from None
