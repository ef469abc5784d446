"""Operator actions, behind GLMTTS_ADMIN_TOKEN (disabled when it is unset)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request

from glm_tts_server.constants import EMPTY_CACHE_PATH
from glm_tts_server.server.auth import require_admin
from glm_tts_server.server.errors import detail_responses
from glm_tts_server.server.models import EmptyCacheResult

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])


@router.post(
    EMPTY_CACHE_PATH,
    response_model=EmptyCacheResult,
    responses=detail_responses(401, 403),
    summary="Release cached GPU memory",
)
async def empty_cache(request: Request) -> EmptyCacheResult:
    service = request.app.state.service
    backend = service.backend
    # Off the event loop: on a GPU this synchronises with the device.
    freed = await asyncio.to_thread(backend.empty_cache)
    service.metrics.freed_bytes.inc(freed)
    memory = await asyncio.to_thread(backend.memory_stats)
    return EmptyCacheResult(freed_bytes=freed, memory=memory)
