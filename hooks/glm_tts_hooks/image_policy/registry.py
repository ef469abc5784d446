"""A small OCI distribution client: manifests, referrers, blobs, token auth, one deadline per decision.

Only what signature verification needs (read-only, pull scope). Everything fetched by digest is
checked against that digest, and every response is size-capped, so a hostile registry can neither
swap content nor exhaust memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx

from glm_tts_hooks.image_policy.files import file_stamp
from glm_tts_hooks.image_policy.reference import DEFAULT_REGISTRY

log = logging.getLogger(__name__)

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the limit registries themselves apply to manifests
MAX_BLOB_BYTES = 4 * 1024 * 1024  # signature payloads and bundles are a few KiB
BLOB_CACHE_BYTES = 16 * 1024 * 1024
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", DOCKER_HUB_API)
DEFAULT_TOKEN_SECONDS = 60
MAX_TOKENS = 4096


class RegistryError(Exception):
    """The registry answered, but not with what we need (access denied, bad content)."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or answered too slowly / with a server error."""


class NotFound(RegistryError):
    """The manifest, tag or blob does not exist."""


class Deadline:
    """A point in time all registry calls of one admission decision must finish by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._expires - time.monotonic()

    def timeout(self, registry: str) -> float:
        remaining = self.remaining()
        if remaining <= 0:
            raise RegistryUnavailable(f"{registry}: no answer within the {self.seconds:g}s registry deadline")
        return remaining


@dataclass(frozen=True)
class Manifest:
    body: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.body)
        except ValueError as exc:
            raise RegistryError(f"manifest {self.digest} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return doc


class Credentials:
    """Registry logins from a dockerconfigjson file (the `.dockerconfigjson` key of a pull Secret)."""

    def __init__(self, auths: dict[str, tuple[str, str]]) -> None:
        self._auths = auths

    @classmethod
    def empty(cls) -> Credentials:
        return cls({})

    @classmethod
    def load(cls, path: str) -> Credentials:
        try:
            with open(path, "rb") as fh:
                doc = json.loads(fh.read(1024 * 1024))
        except OSError as exc:
            raise ValueError(f"{path}: cannot read registry credentials ({exc.strerror})") from None
        except ValueError as exc:
            raise ValueError(f"{path}: not a dockerconfigjson file ({exc})") from None
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if not isinstance(auths, dict):
            raise ValueError(f'{path}: expected {{"auths": {{"registry.example.com": {{"auth": "..."}}}}}}')
        parsed: dict[str, tuple[str, str]] = {}
        for host, entry in auths.items():
            if not isinstance(entry, dict):
                raise ValueError(f"{path}: auths[{host!r}] must be an object with auth or username/password")
            if entry.get("auth"):
                try:
                    user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise ValueError(f"{path}: auths[{host!r}].auth is not base64 of user:password") from None
                if not sep:
                    raise ValueError(f"{path}: auths[{host!r}].auth is not base64 of user:password")
            elif entry.get("username") and entry.get("password"):
                user, password = entry["username"], entry["password"]
            else:
                continue  # e.g. an identitytoken-only entry: nothing usable for the pull scope
            parsed[_auth_key(host)] = (user, password)
        return cls(parsed)

    def lookup(self, registry: str) -> tuple[str, str] | None:
        if registry == DEFAULT_REGISTRY:
            for key in DOCKER_HUB_AUTH_KEYS:
                if key in self._auths:
                    return self._auths[key]
            return None
        return self._auths.get(registry)


class CredentialsFile:
    """Credentials from a dockerconfigjson file, re-read when it changes (a rotated pull Secret
    updates its volume in place); a broken update keeps the previous logins."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = file_stamp(path)
        self._current = Credentials.load(path)  # startup: let the ValueError propagate

    def lookup(self, registry: str) -> tuple[str, str] | None:
        stamp = file_stamp(self.path)
        if stamp != self._stamp and stamp is not None:
            with self._lock:
                if stamp != self._stamp:
                    self._stamp = stamp
                    try:
                        self._current = Credentials.load(self.path)
                        log.info("registry credentials reloaded from %s", self.path)
                    except ValueError as exc:
                        log.error("registry credentials reload failed, keeping the previous ones: %s", exc)
        return self._current.lookup(registry)


def _auth_key(host: str) -> str:
    """Normalise a dockerconfigjson key (may be a URL) to host[:port]."""
    if host in DOCKER_HUB_AUTH_KEYS:
        return host
    host = re.sub(r"^https?://", "", host)
    return host.split("/", 1)[0].lower()


def _is_certificate_failure(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryClient:
    """Thread-safe: one pooled httpx client and a token cache shared by all request threads."""

    def __init__(
        self,
        credentials: Credentials | CredentialsFile | None = None,
        insecure_registries: frozenset[str] = frozenset(),
        max_connections: int = 64,
    ) -> None:
        self._credentials = credentials or Credentials.empty()
        self.insecure_registries = insecure_registries
        self._client = httpx.Client(
            # The system trust store (plus SSL_CERT_FILE / SSL_CERT_DIR), so a private registry's
            # CA is trusted the way the nodes trust it, by adding it to the image or mounting it.
            verify=ssl.create_default_context(),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=True,  # blobs are often served from a redirect to object storage
            headers={"User-Agent": "glm-tts-hooks-webhook"},
        )
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._blobs: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._blob_bytes = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    # --- public API ---------------------------------------------------------------------------

    def manifest(self, registry: str, repository: str, reference: str, deadline: Deadline) -> Manifest:
        """GET a manifest by tag or digest; a digest reference is verified against the body."""
        response_body, headers = self._get(
            registry,
            repository,
            f"manifests/{reference}",
            deadline,
            MAX_MANIFEST_BYTES,
            accept=", ".join(MANIFEST_MEDIA_TYPES),
        )
        digest = "sha256:" + hashlib.sha256(response_body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"{registry}/{repository}: manifest {reference} has content digest {digest}")
        media_type = headers.get("content-type", "").split(";")[0].strip()
        return Manifest(body=response_body, media_type=media_type, digest=digest)

    def blob(self, registry: str, repository: str, digest: str, deadline: Deadline) -> bytes:
        """GET a blob, verified against its digest. Blobs are immutable, so verified ones are kept
        in a small LRU: repeated reviews fetch only the (mutable) signature manifests."""
        with self._lock:
            cached = self._blobs.get((registry, digest))
            if cached is not None:
                self._blobs.move_to_end((registry, digest))
                return cached
        body, _ = self._get(registry, repository, f"blobs/{digest}", deadline, MAX_BLOB_BYTES)
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        if actual != digest:
            raise RegistryError(f"{registry}/{repository}: blob {digest} has content digest {actual}")
        with self._lock:
            self._blobs[(registry, digest)] = body
            self._blob_bytes += len(body)
            while self._blob_bytes > BLOB_CACHE_BYTES and self._blobs:
                self._blob_bytes -= len(self._blobs.popitem(last=False)[1])
        return body

    def referrers(
        self, registry: str, repository: str, digest: str, deadline: Deadline
    ) -> list[dict[str, Any]]:
        """Descriptors of the artifacts referring to `digest`: the OCI 1.1 referrers API, else the
        referrers tag schema (`sha256-<hex>` index) for registries without the API."""
        try:
            body, _ = self._get(
                registry, repository, f"referrers/{digest}", deadline, MAX_MANIFEST_BYTES, accept=OCI_INDEX
            )
        except NotFound:
            try:
                index = self.manifest(registry, repository, digest.replace(":", "-", 1), deadline).json()
            except NotFound:
                return []
        else:
            try:
                index = json.loads(body)
            except ValueError as exc:
                raise RegistryError(f"{registry}/{repository}: referrers list is not JSON: {exc}") from None
        manifests = index.get("manifests") if isinstance(index, dict) else None
        if manifests is None:
            return []
        if not isinstance(manifests, list):
            raise RegistryError(f"{registry}/{repository}: referrers index has no manifests list")
        return [m for m in manifests if isinstance(m, dict)]

    # --- transport ----------------------------------------------------------------------------

    def _base_url(self, registry: str) -> str:
        scheme = "http" if registry in self.insecure_registries else "https"
        host = DOCKER_HUB_API if registry == DEFAULT_REGISTRY else registry
        return f"{scheme}://{host}/v2/"

    def _get(
        self,
        registry: str,
        repository: str,
        path: str,
        deadline: Deadline,
        limit: int,
        accept: str | None = None,
    ) -> tuple[bytes, httpx.Headers]:
        url = f"{self._base_url(registry)}{repository}/{path}"
        headers = {"Accept": accept} if accept else {}
        authorization = self._cached_authorization(registry, repository)
        if authorization:
            headers["Authorization"] = authorization
        status, body, response_headers = self._send(registry, url, headers, deadline, limit)
        if status == 401:
            headers["Authorization"] = self._authorize(
                registry, repository, response_headers.get("www-authenticate", ""), deadline
            )
            status, body, response_headers = self._send(registry, url, headers, deadline, limit)
        if status == 200:
            return body, response_headers
        if status == 404:
            raise NotFound(f"{registry}/{repository}: {path} not found")
        if status in (401, 403):
            raise RegistryError(
                f"{registry}: access to {repository} denied (HTTP {status}); give the webhook pull "
                "credentials with --registry-auth"
            )
        if status == 429 or status >= 500:
            raise RegistryUnavailable(f"{registry}: HTTP {status} for {repository}/{path}")
        raise RegistryError(f"{registry}: unexpected HTTP {status} for {repository}/{path}")

    def _send(
        self, registry: str, url: str, headers: dict[str, str], deadline: Deadline, limit: int
    ) -> tuple[int, bytes, httpx.Headers]:
        timeout = deadline.timeout(registry)
        try:
            with self._client.stream("GET", url, headers=headers, timeout=timeout) as response:
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise RegistryError(f"{registry}: {url} is larger than {limit} bytes")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise RegistryError(f"{registry}: {url} is larger than {limit} bytes")
                    deadline.timeout(registry)  # a slow drip must not outlive the deadline
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks), response.headers
        except httpx.TimeoutException:
            raise RegistryUnavailable(
                f"{registry}: no answer within the {deadline.seconds:g}s registry deadline"
            ) from None
        except httpx.TransportError as exc:
            if _is_certificate_failure(exc):
                # Not an outage: an untrusted certificate must deny even with failOpen.
                raise RegistryError(f"{registry}: TLS certificate not trusted ({exc})") from None
            raise RegistryUnavailable(f"{registry}: cannot connect ({exc or type(exc).__name__})") from None

    # --- auth ---------------------------------------------------------------------------------

    def _cached_authorization(self, registry: str, repository: str) -> str | None:
        with self._lock:
            cached = self._tokens.get((registry, repository))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        return None

    def _authorize(self, registry: str, repository: str, challenge: str, deadline: Deadline) -> str:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        login = self._credentials.lookup(registry)
        if scheme.lower() == "basic":
            if not login:
                raise RegistryError(
                    f"{registry}: needs a login; give the webhook credentials with --registry-auth"
                )
            value = "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
            self._remember(registry, repository, value, DEFAULT_TOKEN_SECONDS * 60)
            return value
        if scheme.lower() != "bearer" or "realm" not in params:
            raise RegistryError(f"{registry}: unsupported authentication challenge {challenge!r}")
        query = {"scope": f"repository:{repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        try:
            response = self._client.get(
                params["realm"], params=query, auth=login, timeout=deadline.timeout(registry)
            )
        except httpx.TimeoutException:
            raise RegistryUnavailable(f"{registry}: token service did not answer in time") from None
        except httpx.TransportError as exc:
            raise RegistryUnavailable(f"{registry}: cannot reach the token service ({exc})") from None
        if response.status_code != 200:
            raise RegistryError(
                f"{registry}: token service refused pull access to {repository} "
                f"(HTTP {response.status_code}); check the --registry-auth credentials"
            )
        try:
            doc = response.json()
            token = doc.get("token") or doc.get("access_token")
            lifetime = float(doc.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not token:
            raise RegistryError(f"{registry}: token service answered without a token")
        value = f"Bearer {token}"
        # Renew a little early so a token never expires between the check and the request.
        self._remember(registry, repository, value, max(lifetime - 10, 1))
        return value

    def _remember(self, registry: str, repository: str, value: str, lifetime: float) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._tokens) >= MAX_TOKENS:  # one per repository: drop the expired ones
                self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
            self._tokens[(registry, repository)] = (value, now + lifetime)
