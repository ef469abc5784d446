"""Backend factory: pick the synthesis engine named by `Settings.backend`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from glm_tts_server.backends.base import Backend, BackendUnavailable, OutOfMemory

if TYPE_CHECKING:
    from glm_tts_server.config import Settings
    from glm_tts_server.g2p import G2PDictionary

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


def create_backend(settings: Settings, g2p: G2PDictionary | None = None) -> Backend:
    """Construct (not load) the configured backend; call `.load()` then `.warmup()` on it.

    `g2p` is shared with the Synthesizer (the glmtts backend applies it inside upstream's G2P);
    without it one is opened from `settings.g2p_dict`. Custom backends (`package.module:Class`)
    are constructed as `Class(settings)`.
    """
    if settings.backend == "espeak":
        from glm_tts_server.backends.espeak import EspeakBackend

        backend: object = EspeakBackend(sample_rate=settings.sample_rate)
    elif settings.backend == "glmtts":
        from glm_tts_server.backends.glmtts import GlmTtsBackend

        if g2p is None and settings.g2p_dict:
            from glm_tts_server.g2p import G2PDictionary

            g2p = G2PDictionary(settings.g2p_dict)
        backend = GlmTtsBackend(
            code_dir=settings.code_dir,
            model_dir=settings.model_dir,
            device=settings.device,
            sample_rate=settings.sample_rate,
            g2p=g2p,
        )
    else:
        backend = _load_custom(settings.backend)(settings)
    if not isinstance(backend, Backend):
        raise BackendUnavailable(
            f"backend {settings.backend!r} does not implement glm_tts_server.backends.base.Backend "
            "(load, warmup, synthesize, empty_cache, memory_stats, unload, name, sample_rate)"
        )
    return backend
