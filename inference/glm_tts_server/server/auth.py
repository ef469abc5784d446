"""Bearer API key for `/v1/*` and a separate admin token for `/admin/*`, compared in constant time."""

from __future__ import annotations

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


def require_api_key(request: Request, credentials: Bearer) -> None:
    key = request.app.state.service.settings.api_key
    if key is None:
        return
    if credentials is None:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <GLMTTS_API_KEY>'", _CHALLENGE)
    if not _matches(credentials, key.get_secret_value()):
        raise HTTPException(401, "wrong API key: check the key this server was given in GLMTTS_API_KEY",
                            _CHALLENGE)


def require_admin(request: Request, credentials: Bearer) -> None:
    token = request.app.state.service.settings.admin_token
    if token is None:
        raise HTTPException(403, "admin endpoints are disabled: set GLMTTS_ADMIN_TOKEN on the server, "
                                 "then send it as 'Authorization: Bearer <token>'")
    if credentials is None:
        raise HTTPException(401, "missing admin token: send 'Authorization: Bearer <GLMTTS_ADMIN_TOKEN>'",
                            _CHALLENGE)
    if not _matches(credentials, token.get_secret_value()):
        raise HTTPException(401, "wrong admin token", _CHALLENGE)
