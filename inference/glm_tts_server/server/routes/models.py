"""`GET /v1/models` (OpenAI-compatible) and `GET /v1/server` (what the web page shows)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from glm_tts_server import __version__
from glm_tts_server.encoding import FORMATS
from glm_tts_server.server.errors import APIError, error_responses
from glm_tts_server.server.models import ModelInfo, ModelList, QueueInfo, ServerInfo

router = APIRouter()

MODEL_ID = "glm-tts"  # requests may name any model: this server has one


def _model(request: Request) -> ModelInfo:
    service = request.app.state.service
    return ModelInfo(id=MODEL_ID, created=service.started_at, owned_by=service.backend.name)


def _model_label(service) -> str:
    """What runs: the backend's own model name if it has one, else the glmtts weights' directory."""
    named = getattr(service.backend, "model_name", None)
    if named:
        return str(named)
    if service.backend.name == "glmtts" and service.settings.model_dir:
        return f"GLM-TTS ({service.settings.model_dir})"
    return service.backend.name


@router.get(
    "/v1/models",
    response_model=ModelList,
    responses=error_responses(401),
    tags=["models"],
    summary="List models",
)
async def list_models(request: Request) -> ModelList:
    return ModelList(data=[_model(request)])


@router.get(
    "/v1/models/{model_id}",
    response_model=ModelInfo,
    responses=error_responses(401, 404),
    tags=["models"],
    summary="Describe a model",
)
async def get_model(model_id: str, request: Request) -> ModelInfo:
    if model_id != MODEL_ID:
        raise APIError(
            404,
            f"no model {model_id!r}: this server serves {MODEL_ID!r} (requests may name any "
            "model, they all use it)",
            param="model",
            code="model_not_found",
        )
    return _model(request)


@router.get(
    "/v1/server",
    response_model=ServerInfo,
    responses=error_responses(401),
    tags=["operations"],
    summary="Backend, model, readiness and queue",
)
def server_info(request: Request) -> ServerInfo:
    service = request.app.state.service
    settings, lifecycle, queue = service.settings, service.lifecycle, service.queue
    return ServerInfo(
        version=__version__,
        backend=service.backend.name,
        model=_model_label(service),
        ready=lifecycle.ready,
        phase=lifecycle.phase.value,
        detail=lifecycle.detail,
        sample_rate=service.synthesizer.sample_rate,
        formats=list(FORMATS),
        queue=QueueInfo(
            waiting=queue.waiting,
            running=queue.running,
            workers=settings.workers,
            capacity=settings.queue_size,
        ),
        gpu=service.uses_accelerator,
        admin_enabled=settings.admin_token is not None,
        consent_required=settings.voice_consent_required,
        max_input_chars=settings.max_input_chars,
    )
