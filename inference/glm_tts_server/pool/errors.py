"""Errors the pool raises into the server (mapped to HTTP statuses in `server.speech`)."""

from __future__ import annotations


class InstanceLost(RuntimeError):
    """The worker process running this request died (crash, kill, driver fault).

    The request cannot be finished; the worker is being restarted and the client may retry
    (the server answers 503 with Retry-After).
    """

    def __init__(self, instance: int, detail: str):
        super().__init__(
            f"model instance {instance} died while synthesising ({detail}); it is being "
            "restarted: retry the request"
        )
        self.instance = instance
