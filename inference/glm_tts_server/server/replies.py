"""Replies the server still holds for their clients, bounded in number and in time.

A finished synthesis is memory until the client has read it. Handing the whole body to the
transport at once lets clients that never read keep every reply they asked for (36 of them
held 2.3 GB). Instead a reply keeps a slot from admission until its last byte is sent, goes out
in chunks that wait for the client to read (the transport's flow control), and is dropped when
a chunk waits longer than the send timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


class NoReplySlot(RuntimeError):
    """Every reply slot is taken: the server holds as many replies as it may."""


class ReplySlots:
    """At most `limit` replies between admission and their last byte. Event-loop thread only."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0

    def take(self) -> Callable[[], None]:
        """Reserve a slot; returns its release (safe to call more than once)."""
        if self.held >= self.limit:
            raise NoReplySlot(f"{self.held} replies are being made or delivered")
        self.held += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.held -= 1

        return release


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(view), CHUNK_BYTES):
        yield bytes(view[start : start + CHUNK_BYTES])


class DeliveredResponse(Response):
    """A response sent chunk by chunk at the client's pace; `on_done` runs when it is over
    (sent, client gone, or a chunk not taken within `send_timeout_s`)."""

    def __init__(
        self,
        content: bytes | AsyncIterator[bytes],
        *,
        on_done: Callable[[], None],
        send_timeout_s: float,
        media_type: str,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(None, media_type=media_type, headers=headers)
        if isinstance(content, bytes):
            self.headers["content-length"] = str(len(content))
            self._body: AsyncIterator[bytes] = _chunks(content)
        else:
            del self.headers["content-length"]
            self._body = content
        self.on_done = on_done
        self.send_timeout_s = send_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The server's send() returns quietly once the client is gone: watch for the disconnect
        # too, so that a stream stops being synthesised for nobody.
        sending = asyncio.ensure_future(self._send_all(send))
        leaving = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait({sending, leaving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sending, leaving):
                task.cancel()
            await asyncio.gather(sending, leaving, return_exceptions=True)
            close = getattr(self._body, "aclose", None)
            if close is not None:
                await close()
            self.on_done()
        if sending.done() and not sending.cancelled() and sending.exception() is not None:
            raise sending.exception()  # type: ignore[misc]

    async def _send_all(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self._body:
            try:
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": chunk, "more_body": True}),
                    self.send_timeout_s,
                )
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                # Returning unfinished makes the server close the connection.
                log.warning("dropping a reply: the client read nothing for %g s", self.send_timeout_s)
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
