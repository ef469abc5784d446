"""API key for `/v1/*` and a separate admin token for `/admin/*`, compared in constant time.

The API key is accepted as `Authorization: Bearer <key>` (clients, the OpenAI SDKs) or as the
password of `Authorization: Basic` with any user name: that is how the oauth2-proxy sidecar
passes it (`--pass-basic-auth`, the signed-in user as the user name).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="GLMTTS_API_KEY (or GLMTTS_ADMIN_TOKEN for /admin)")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _matches(credentials: HTTPAuthorizationCredentials | None, expected: str) -> bool:
    if credentials is None:
        return False
    return secrets.compare_digest(credentials.credentials.encode(), expected.encode())


def _presented_key(request: Request) -> str | None:
    """The key from `Bearer <key>` or from the password of `Basic base64(user:key)`; None if neither."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def require_api_key(request: Request, _credentials: Bearer) -> None:
    # `_credentials` declares the scheme in the OpenAPI schema; the header is read here so that
    # the proxy's Basic form is accepted too.
    key = request.app.state.service.settings.api_key
    if key is None:
        return
    presented = _presented_key(request)
    if presented is None:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <GLMTTS_API_KEY>'", _CHALLENGE)
    if not secrets.compare_digest(presented.encode(), key.get_secret_value().encode()):
        raise HTTPException(
            401, "wrong API key: check the key this server was given in GLMTTS_API_KEY", _CHALLENGE
        )


def require_admin(request: Request, credentials: Bearer) -> None:
    token = request.app.state.service.settings.admin_token
    if token is None:
        raise HTTPException(
            403,
            "admin endpoints are disabled: set GLMTTS_ADMIN_TOKEN on the server, "
            "then send it as 'Authorization: Bearer <token>'",
        )
    if credentials is None:
        raise HTTPException(
            401, "missing admin token: send 'Authorization: Bearer <GLMTTS_ADMIN_TOKEN>'", _CHALLENGE
        )
    if not _matches(credentials, token.get_secret_value()):
        raise HTTPException(401, "wrong admin token", _CHALLENGE)
