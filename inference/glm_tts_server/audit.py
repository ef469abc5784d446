"""The append-only audit log of voice cloning: JSON lines, rotated by size.

Every synthesis with a cloned voice (a registered voice or an inline reference clip) and every
voice registration or deletion appends one line: time (UTC), event, caller and where the caller's
identity came from, voice, characters, request id. The log is opened in append mode and rotated
by the standard library's `RotatingFileHandler` (`<path>`, `<path>.1` … `<path>.<backups>`), so it
stays bounded. A line that cannot be written is an error the caller sees: the service refuses to
clone a voice it cannot account for.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any


class AuditUnavailable(RuntimeError):
    """The audit log cannot be written; the message names the path and the reason."""


class _StrictRotatingHandler(RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        raise


class AuditLog:
    def __init__(self, path: Path, max_bytes: int, backups: int):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handler: RotatingFileHandler | None = None
        self._max_bytes = max_bytes
        self._backups = backups

    def _open(self) -> RotatingFileHandler:
        if self._handler is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handler = _StrictRotatingHandler(
                    self.path, mode="a", maxBytes=self._max_bytes, backupCount=self._backups, encoding="utf-8"
                )
            except OSError as exc:
                raise AuditUnavailable(
                    f"audit log {self.path} cannot be opened: {exc.strerror or exc}"
                ) from None
        return self._handler

    def check(self) -> None:
        """Open the log now (at start-up) so a misconfigured path is reported before any request."""
        with self._lock:
            self._open()

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one line; raise AuditUnavailable when it cannot be written. Returns the entry."""
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "event": event,
            **fields,
        }
        line = json.dumps(entry, ensure_ascii=False, sort_keys=False)
        with self._lock:
            handler = self._open()
            try:
                handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
                handler.flush()
            except (OSError, ValueError) as exc:
                raise AuditUnavailable(
                    f"audit log {self.path} cannot be written: {getattr(exc, 'strerror', None) or exc}"
                ) from None
        return entry

    def close(self) -> None:
        with self._lock:
            if self._handler is not None:
                self._handler.close()
                self._handler = None
