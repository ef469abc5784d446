"""Container image references, parsed and normalised the way the container runtime does it.

Grammar: github.com/distribution/reference (the one containerd and CRI-O use).
`nginx` → `docker.io/library/nginx`, `user/app` → `docker.io/user/app`; the first path
component is a registry host only if it contains `.` or `:` or is `localhost`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
LEGACY_DEFAULT_REGISTRY = "index.docker.io"
OFFICIAL_REPOSITORY_PREFIX = "library"
MAX_NAME_LENGTH = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class InvalidReference(ValueError):
    """The string is not a valid image reference; the message says what is wrong."""


@dataclass(frozen=True)
class ImageReference:
    registry: str  # host[:port], lower-case
    repository: str  # path below the registry, e.g. library/nginx
    tag: str | None = None
    digest: str | None = None  # algorithm:encoded, e.g. sha256:<64 hex>

    @property
    def name(self) -> str:
        """Fully-qualified repository name, e.g. docker.io/library/nginx."""
        return f"{self.registry}/{self.repository}"

    @property
    def is_sha256_pinned(self) -> bool:
        return self.digest is not None and SHA256_DIGEST.fullmatch(self.digest) is not None

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def pinned(self, digest: str) -> str:
        """The reference pinned by `digest`, keeping the tag for readability (tag@digest)."""
        return str(ImageReference(self.registry, self.repository, self.tag, digest))


def split_host(name: str) -> tuple[str | None, str]:
    """Split `name` into (registry host or None, remainder) by the runtime's first-component rule."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, name


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise an image reference; raise InvalidReference naming the problem."""
    if not isinstance(text, str) or not text:
        raise InvalidReference("image is empty: set it to registry/repository@sha256:<digest>")
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise InvalidReference(f"image {text!r} contains whitespace")

    remainder, digest = text, None
    if "@" in text:
        remainder, _, digest = text.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise InvalidReference(f"image {text!r} has a malformed digest {digest!r} (want sha256:<64 hex>)")
        algorithm, _, encoded = digest.partition(":")
        if algorithm == "sha256" and not re.fullmatch(r"[0-9a-f]{64}", encoded):
            raise InvalidReference(
                f"image {text!r} has a malformed sha256 digest: expected 64 lower-case hex characters"
            )

    tag = None
    # A ':' after the last '/' separates the tag; one before it is a registry port.
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise InvalidReference(f"image {text!r} has an invalid tag {tag!r}")

    host, path = split_host(remainder)
    if host is None:
        host = DEFAULT_REGISTRY
    elif not _HOST.fullmatch(host):
        raise InvalidReference(f"image {text!r} has an invalid registry host {host!r}")
    host = host.lower()
    if host == LEGACY_DEFAULT_REGISTRY:
        host = DEFAULT_REGISTRY
    if not path:
        raise InvalidReference(f"image {text!r} has no repository name")
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise InvalidReference(
                f"image {text!r} has an invalid repository component {component!r} "
                "(lower-case letters, digits and . _ - separators only)"
            )
    if host == DEFAULT_REGISTRY and "/" not in path:
        path = f"{OFFICIAL_REPOSITORY_PREFIX}/{path}"
    if len(f"{host}/{path}") > MAX_NAME_LENGTH:
        raise InvalidReference(f"image {text!r} has a name longer than {MAX_NAME_LENGTH} characters")
    return ImageReference(registry=host, repository=path, tag=tag, digest=digest)


@dataclass(frozen=True)
class RegistryPrefix:
    """An allow-list entry: a registry host, optionally with a repository path prefix."""

    registry: str
    path: str  # "" admits the whole registry

    @classmethod
    def parse(cls, entry: str) -> RegistryPrefix:
        if not isinstance(entry, str) or not entry.strip("/"):
            raise InvalidReference(f"{entry!r} is empty; write a host, e.g. registry.example.com/team/")
        stripped = entry.strip().rstrip("/")
        first, _, path = stripped.partition("/")
        if not ("." in first or ":" in first or first == "localhost"):
            raise InvalidReference(
                f"{entry!r} does not start with a registry host: write it fully qualified, "
                f"e.g. docker.io/{stripped}/ (a host has a '.', a ':port' or is 'localhost')"
            )
        if not _HOST.fullmatch(first):
            raise InvalidReference(f"{entry!r} has an invalid registry host {first!r}")
        if path and not all(_PATH_COMPONENT.fullmatch(c) for c in path.split("/")):
            raise InvalidReference(f"{entry!r} has an invalid repository path {path!r}")
        host = first.lower()
        return cls(registry=DEFAULT_REGISTRY if host == LEGACY_DEFAULT_REGISTRY else host, path=path)

    def admits(self, ref: ImageReference) -> bool:
        """True when `ref` lies under this prefix on a path boundary (ai/ never admits ai-evil/x)."""
        if ref.registry != self.registry:
            return False
        return not self.path or ref.repository == self.path or ref.repository.startswith(self.path + "/")

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}/" if self.path else f"{self.registry}/"
