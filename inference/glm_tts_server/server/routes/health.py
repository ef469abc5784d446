"""Probes and metrics: always open (no API key), and still answering while the pod drains."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from glm_tts_server.constants import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from glm_tts_server.server.lifecycle import Phase
from glm_tts_server.server.models import Probe

router = APIRouter(tags=["operations"])


@router.get(HEALTHZ_PATH, response_model=Probe, responses={503: {"model": Probe}}, summary="Liveness")
def healthz(request: Request) -> JSONResponse:
    lifecycle = request.app.state.service.lifecycle
    failures = lifecycle.consecutive_failures
    if lifecycle.live and lifecycle.phase is not Phase.FAILED:
        return JSONResponse({"status": "ok", "consecutive_failures": failures})
    detail = (
        lifecycle.detail
        if lifecycle.phase is Phase.FAILED
        else f"{failures} consecutive synthesis failures (threshold {lifecycle.failure_threshold}): "
        "the backend looks wedged, restart the pod"
    )
    return JSONResponse(
        {"status": "failing", "detail": detail, "consecutive_failures": failures}, status_code=503
    )


@router.get(READYZ_PATH, response_model=Probe, responses={503: {"model": Probe}}, summary="Readiness")
def readyz(request: Request) -> JSONResponse:
    lifecycle = request.app.state.service.lifecycle
    if lifecycle.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": lifecycle.phase.value, "detail": lifecycle.detail}, status_code=503)


@router.get(
    METRICS_PATH,
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
def metrics(request: Request) -> Response:
    registry = request.app.state.service.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
