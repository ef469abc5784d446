"""The HTTP service: `create_app(settings, backend=None)` and `serve(settings) -> int`."""

from glm_tts_server.server.app import create_app
from glm_tts_server.server.serving import serve

__all__ = ["create_app", "serve"]
