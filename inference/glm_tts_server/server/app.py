"""The FastAPI application: routes, error handlers, middleware and the service they share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from glm_tts_server import __version__
from glm_tts_server.backends.base import Backend
from glm_tts_server.config import Settings
from glm_tts_server.constants import OPENAPI_PATH
from glm_tts_server.server import errors
from glm_tts_server.server.auth import require_api_key
from glm_tts_server.server.batch_jobs import BatchJobs
from glm_tts_server.server.guards import CrossSiteGuard
from glm_tts_server.server.middleware import ServiceMiddleware
from glm_tts_server.server.request_context import RequestContext
from glm_tts_server.server.routes import admin, batch_api, health, models, tts, ui, voices
from glm_tts_server.server.service import Service
from glm_tts_server.server.speech import SpeechRunner


def create_app(settings: Settings, backend: Backend | None = None) -> FastAPI:
    """Build the app. `backend` overrides the configured one (it is still loaded and warmed).

    The backend loads in the background once the app starts: `/healthz` answers at once,
    `/readyz` turns 200 when the model is loaded and warmed up.
    """
    service = Service(settings, backend)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start_loading()
        try:
            yield
        finally:
            service.lifecycle.begin_drain()
            app.state.batches.stop()
            service.close()

    # No /docs or /redoc: they load Swagger UI from a CDN (unreachable air-gapped, and third-party
    # script on our origin). /openapi.json stays, behind the API key when one is set. No slash
    # redirects either: Starlette builds them from the Host header, which a client chooses.
    app = FastAPI(
        title="GLM-TTS",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        description="Text to speech with GLM-TTS: native and OpenAI-compatible APIs, "
        "reference voices, batch jobs.",
    )
    app.state.service = service
    app.state.speech = SpeechRunner(service)
    app.state.batches = BatchJobs(service)
    errors.install(app)
    app.add_middleware(
        CrossSiteGuard, render=lambda request, exc: app.exception_handlers[HTTPException](request, exc)
    )
    app.add_middleware(ServiceMiddleware, service=service)  # counts every answer below it
    # X-Forwarded-For from the oauth2-proxy sidecar (loopback) only; RequestContext, outside it,
    # still sees the real peer to decide whether identity headers can be believed.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts="127.0.0.1")
    app.add_middleware(RequestContext)

    api_key = [Depends(require_api_key)]
    app.include_router(health.router)
    app.include_router(tts.router, dependencies=api_key, tags=["speech"])
    app.include_router(models.router, dependencies=api_key)
    app.include_router(voices.router, dependencies=api_key)
    app.include_router(batch_api.router, dependencies=api_key)
    app.include_router(admin.router)
    app.include_router(ui.router)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]

    @app.get(OPENAPI_PATH, include_in_schema=False, dependencies=api_key)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    return app


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The schema as this server is configured: without an API key, `/v1/*` needs no credentials."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        if settings.api_key is None:
            for path, item in schema["paths"].items():
                if path.startswith("/v1/"):
                    for operation in item.values():
                        operation.pop("security", None)
        app.openapi_schema = schema
    return app.openapi_schema
