"""JWT: minted tokens pass; missing, malformed, expired, forged, alg=none tokens give 401."""

from __future__ import annotations

import jwt
import pytest

from _gateway_fakes import SECRET, WALL_START, FakeStack, make_harness, record
from chaosctl.services.gateway.auth import AuthError, mint_token, verify_token


def test_minted_token_verifies_with_subject_and_plan() -> None:
    token = mint_token(SECRET, "alice", 60, rate_per_s=5, burst=10, now=WALL_START)
    who = verify_token(SECRET, token, clock=lambda: WALL_START + 30)
    assert (who.subject, who.rate_per_s, who.burst) == ("alice", 5.0, 10.0)


@pytest.mark.parametrize(
    "token",
    [
        mint_token("another-secret-entirely-0123456789abcd", "mallory", 60, now=WALL_START),  # forged
        jwt.encode({"sub": "x", "iss": "chaosctl", "iat": int(WALL_START), "exp": int(WALL_START) + 60},
                   None, algorithm="none"),  # fmt: skip
        jwt.encode({"sub": "x", "iss": "chaosctl", "iat": int(WALL_START)}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode({"sub": "x", "iss": "chaosctl", "exp": int(WALL_START) + 60}, SECRET, algorithm="HS256"),  # no iat
        jwt.encode({"sub": "x", "iss": "other", "iat": int(WALL_START), "exp": int(WALL_START) + 60}, SECRET),
        "not.a.jwt",
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(AuthError):
        verify_token(SECRET, token, clock=lambda: WALL_START)


def test_expiry_honours_small_clock_skew_only() -> None:
    token = mint_token(SECRET, "bob", 60, now=WALL_START)
    verify_token(SECRET, token, clock=lambda: WALL_START + 62)  # within the 5 s leeway
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, token, clock=lambda: WALL_START + 66)
    with pytest.raises(AuthError, match="future"):
        verify_token(SECRET, token, clock=lambda: WALL_START - 60)


def _harness():  # noqa: ANN202
    return make_harness(FakeStack(records=[record("model-gpu-1")]))


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"])
def test_gateway_answers_401_without_a_valid_token(header: str | None) -> None:
    h = _harness()
    headers = {} if header is None else {"Authorization": header}
    resp = h.client.post("/v1/models/fraud-detector/predict", json={"inputs": [[1.0]]}, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert h.stack.calls == []  # refused before any registry or model call


def test_gateway_answers_401_for_expired_and_forged_tokens() -> None:
    h = _harness()
    expired = mint_token(SECRET, "late", 60, now=WALL_START - 3600)
    forged = mint_token("attacker-secret-0123456789abcdefghij", "tester", 3600, now=WALL_START)
    assert h.predict(token=expired).status_code == 401
    assert h.predict(token=forged).status_code == 401
    assert h.predict().status_code == 200  # the same request with a good token passes


def test_401_comes_before_body_validation() -> None:
    h = _harness()
    resp = h.client.post("/v1/models/fraud-detector/predict", json={"inputs": "nonsense"})
    assert resp.status_code == 401


def test_a_cached_token_still_expires_and_a_forged_one_is_never_cached() -> None:
    from chaosctl.services.gateway.auth import AuthError, mint_token, verify_token

    secret = "s" * 40
    token = mint_token(secret, "alice", 60, now=1_000.0)
    assert verify_token(secret, token, clock=lambda: 1_010.0).subject == "alice"
    assert verify_token(secret, token, clock=lambda: 1_020.0).subject == "alice"  # the cached decode
    with pytest.raises(AuthError, match="expired"):
        verify_token(secret, token, clock=lambda: 1_100.0)  # same token, later: the time check still runs
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for _ in range(2):
        with pytest.raises(AuthError, match="invalid token"):
            verify_token(secret, forged, clock=lambda: 1_010.0)
    with pytest.raises(AuthError, match="invalid token"):
        verify_token("t" * 40, token, clock=lambda: 1_010.0)  # another secret: another cache key
