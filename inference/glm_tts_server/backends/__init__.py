"""Backend factory: pick the synthesis engine named by `Settings.backend`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from glm_tts_server.backends.base import Backend, BackendUnavailable, OutOfMemory

if TYPE_CHECKING:
    from glm_tts_server.config import Settings

__all__ = ["Backend", "BackendUnavailable", "OutOfMemory", "create_backend"]


def _load_custom(dotted: str) -> type:
    module_name, _, attr = dotted.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {dotted!r}: cannot import module {module_name!r} ({exc})") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise BackendUnavailable(f"backend {dotted!r}: module {module_name!r} has no {attr!r}") from None


def create_backend(settings: Settings) -> Backend:
    """Construct (not load) the configured backend; call `.load()` then `.warmup()` on it.

    Custom backends (`package.module:Class`) are constructed as `Class(settings)`.
    """
    if settings.backend == "espeak":
        from glm_tts_server.backends.espeak import EspeakBackend

        backend: object = EspeakBackend(sample_rate=settings.sample_rate)
    elif settings.backend == "glmtts":
        from glm_tts_server.backends.glmtts import GlmTtsBackend

        backend = GlmTtsBackend(
            code_dir=settings.code_dir,
            model_dir=settings.model_dir,
            device=settings.device,
            sample_rate=settings.sample_rate,
        )
    else:
        backend = _load_custom(settings.backend)(settings)
    if not isinstance(backend, Backend):
        raise BackendUnavailable(
            f"backend {settings.backend!r} does not implement glm_tts_server.backends.base.Backend "
            "(load, warmup, synthesize, empty_cache, memory_stats, unload, name, sample_rate)"
        )
    return backend
