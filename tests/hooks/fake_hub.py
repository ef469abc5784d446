"""A loopback server speaking the subset of the Hugging Face Hub API that huggingface_hub uses to
download a model snapshot, so `fetch-weights` runs against the real client with no network.

Endpoints (as the Hub serves them, including the headers the client reads):
- GET  /api/models/{repo}/revision/{rev}            repo info: the resolved commit `sha`
- GET  /api/models/{repo}/tree/{rev}?recursive=...   files with size, git blob id, LFS sha256
- HEAD /{repo}/resolve/{rev}/{path}                  X-Repo-Commit, ETag / X-Linked-Etag, sizes
- GET  /{repo}/resolve/{rev}/{path}                  the bytes, honouring `Range: bytes=N-`
Errors carry `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound) as the Hub's do.
Faults: `require_token`, `cuts[path] = [n1, n2, ...]` (the k-th GET of that file sends nk bytes,
then drops the connection; later GETs are whole), `corrupt[path] = bytes` (serve other bytes).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFile:
    content: bytes
    lfs: bool = False

    @property
    def git_sha1(self) -> str:
        return hashlib.sha1(
            b"blob %d\0" % len(self.content) + self.content, usedforsecurity=False
        ).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class FakeHub:
    repo_id: str
    files: dict[str, HubFile]
    revisions: tuple[str, ...] = ("main", COMMIT)
    require_token: str | None = None
    cuts: dict[str, list[int]] = field(default_factory=dict)
    corrupt: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    url: str = ""

    def tree(self) -> list[dict]:
        entries, folders = [], set()
        for path, f in sorted(self.files.items()):
            parts = path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            entry = {"type": "file", "path": path, "size": len(f.content), "oid": f.git_sha1}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": len(f.content), "pointerSize": 134}
            entries.append(entry)
        entries += [{"type": "directory", "path": d, "oid": "0" * 40, "size": 0} for d in sorted(folders)]
        return entries


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        hub = self.hub
        path = unquote(urlsplit(self.path).path)
        hub.requests.append((self.command, path, self.headers.get("Range")))
        if hub.require_token and self.headers.get("Authorization") != f"Bearer {hub.require_token}":
            return self._error(401, "", "Invalid credentials")
        repo_api = f"/api/models/{hub.repo_id}/"
        resolve = f"/{hub.repo_id}/resolve/"
        if path.startswith(repo_api + "revision/"):
            if path[len(repo_api + "revision/") :] not in hub.revisions:
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            info = {"id": hub.repo_id, "sha": COMMIT, "siblings": [{"rfilename": p} for p in hub.files]}
            return self._json(info, body)
        if path.startswith(repo_api + "tree/"):
            if path[len(repo_api + "tree/") :] not in hub.revisions:
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            return self._json(hub.tree(), body)
        if path.startswith(resolve):
            revision, _, name = path[len(resolve) :].partition("/")
            if revision not in hub.revisions:
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            if name not in hub.files:
                return self._error(404, "EntryNotFound", f"{name} does not exist")
            return self._file(name, body)
        return self._error(404, "RepoNotFound", "Repository not found")

    def _json(self, value: object, body: bool) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _file(self, name: str, body: bool) -> None:
        hub, f = self.hub, self.hub.files[name]
        content = hub.corrupt.get(name, f.content)
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-"):
            start = int(ranged[len("bytes=") : -1])
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{f.sha256 if f.lfs else f.git_sha1}"')
        if f.lfs:
            self.send_header("X-Linked-Etag", f'"{f.sha256}"')
            self.send_header("X-Linked-Size", str(len(f.content)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        self.send_header("Content-Length", str(len(content) - start))
        self.end_headers()
        if not body:
            return
        cut = hub.cuts[name].pop(0) if hub.cuts.get(name) else None
        if cut is not None:
            self.wfile.write(content[start : start + cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the transfer breaks mid-file
            return
        self.wfile.write(content[start:])

    def _error(self, status: int, code: str, message: str) -> None:
        data = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


@contextmanager
def serving(hub: FakeHub) -> Iterator[FakeHub]:
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
