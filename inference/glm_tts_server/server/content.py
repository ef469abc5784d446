"""Content-Type checks that answer 415 with the header to send, before the body is interpreted."""

from __future__ import annotations

from fastapi import HTTPException, Request


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_json(request: Request) -> None:
    media = _media_type(request)
    if media != "application/json":
        raise HTTPException(
            415,
            f"Content-Type is {media or 'missing'!r}: send a JSON body with 'Content-Type: application/json'",
        )


def require_multipart(request: Request) -> None:
    media = _media_type(request)
    if media != "multipart/form-data":
        raise HTTPException(
            415,
            f"Content-Type is {media or 'missing'!r}: send a multipart/form-data form "
            "with fields name, transcript and audio (e.g. curl -F audio=@voice.wav)",
        )
