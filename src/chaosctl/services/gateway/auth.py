"""JWT minting and verification (PyJWT, HS256).

`chaosctl token` mints with `mint_token`; the gateway verifies with `verify_token`.
A token may carry a rate-limit plan (`rl`: requests per second, `rlb`: burst) so
that a client's plan travels with its identity; only holders of the secret can
mint, so the claim is trusted.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "chaosctl"
# Clocks of the minting host and the gateway may differ a little; no more.
LEEWAY_S = 5.0


class AuthError(Exception):
    """The request carries no valid token (the gateway answers 401)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    rate_per_s: float | None = None
    burst: float | None = None


def mint_token(
    secret: str,
    subject: str,
    ttl_s: float,
    *,
    rate_per_s: float | None = None,
    burst: float | None = None,
    now: float | None = None,
) -> str:
    """A signed HS256 JWT for `subject`, valid `ttl_s` seconds from `now`."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "sub": subject,
        "iss": ISSUER,
        "iat": issued,
        "exp": issued + max(1, int(ttl_s)),
    }
    if rate_per_s is not None:
        claims["rl"] = float(rate_per_s)
    if burst is not None:
        claims["rlb"] = float(burst)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <jwt>` header, or AuthError."""
    if not authorization:
        raise AuthError("missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <jwt>'")
    return token.strip()


def verify_token(
    secret: str, token: str, *, clock: Callable[[], float] = time.time
) -> Principal:
    """Check signature, algorithm, issuer, `exp` and `iat`; return who it is."""
    exp, iat, sub, rl, rlb = _verified_claims(secret, token)
    # Time checks against the injected clock, so tests need no sleeping or patching.
    now = clock()
    if exp + LEEWAY_S <= now:
        raise AuthError("token expired")
    if iat - LEEWAY_S > now:
        raise AuthError("token issued in the future")
    return Principal(subject=sub, rate_per_s=_positive(rl), burst=_positive(rlb))


@functools.lru_cache(maxsize=1024)
def _verified_claims(secret: str, token: str) -> tuple[float, float, str, object, object]:
    """(exp, iat, sub, rl, rlb) of a token whose signature, algorithm and issuer hold. Cached:
    a client sends the same token on every request, and the signature check and decoding were
    ~4% of the gateway's CPU per request; the time checks above still run on every call. A bad
    token raises and is never cached."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "sub", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    if not isinstance(claims["exp"], (int, float)) or not isinstance(claims["iat"], (int, float)):
        raise AuthError("invalid token: exp/iat must be numbers")
    return claims["exp"], claims["iat"], str(claims["sub"]), claims.get("rl"), claims.get("rlb")


def _positive(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
