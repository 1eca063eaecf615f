"""Service-to-service credentials: a shared random token per install (`Settings.service_token`),
sent as `Authorization: Bearer <token>`; the model servers' admin API keeps `X-Admin-Token`.

Without them, anyone on the host could register a record that the gateway sends client
inputs to, take real servers out of rotation, or call a model server directly and so
walk around the gateway's auth and rate limits.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Header, HTTPException


def bearer_header(token: str) -> dict[str, str]:
    """The header a service sends with the service credential."""
    return {"Authorization": f"Bearer {token}"}


def matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison; an empty expected value matches nothing (no credential configured)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def require_service_token(token: str, what: str) -> Callable[..., None]:
    """A FastAPI dependency: 401 unless the request carries the service credential."""

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if not matches(_bearer(authorization), token):
            raise HTTPException(401, f"{what} needs the service credential (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    return check


def require_admin_token(token: str) -> Callable[..., None]:
    """A FastAPI dependency: 401 unless the request carries the admin token."""

    def check(x_admin_token: Annotated[str | None, Header()] = None) -> None:
        if not matches(x_admin_token, token):
            raise HTTPException(401, "admin token missing or wrong (header X-Admin-Token)")

    return check
