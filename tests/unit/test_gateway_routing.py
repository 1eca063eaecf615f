"""Version routing: exact and range matches, 404 when nothing matches, canary split."""

from __future__ import annotations

import random

import pytest

from _gateway_fakes import CANARY, FakeStack, make_harness, record
from chaosctl.services.gateway.ratelimit import RateLimitConfig
from chaosctl.services.gateway.routing import CanaryRule, NoVersion, choose_versions, matching_versions

LIVE = ["2.3.1", "2.4.0", "1.9.0"]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, ["2.4.0", "2.3.1", "1.9.0"]),
        ("2.3.1", ["2.3.1"]),
        ("2.x", ["2.4.0", "2.3.1"]),
        ("~2.3", ["2.3.1"]),
        (">=2.1,<3", ["2.4.0", "2.3.1"]),
        ("^1", ["1.9.0"]),
        ("3.x", []),
        ("not a range", []),
        ("", []),
    ],
)
def test_matching_versions(requested: str | None, expected: list[str]) -> None:
    assert matching_versions(LIVE, requested) == expected


def test_no_match_raises() -> None:
    with pytest.raises(NoVersion):
        choose_versions("m", LIVE, "3.x", (), random.Random(1))
    with pytest.raises(NoVersion):
        choose_versions("m", [], None, (), random.Random(1))


def test_canary_split_within_tolerance() -> None:
    rng = random.Random(42)
    rule = CanaryRule("m", "2.3.1", "2.4.0", 0.05)
    n = 20_000
    firsts = [choose_versions("m", LIVE, None, (rule,), rng)[0] for _ in range(n)]
    share = firsts.count("2.4.0") / n
    assert abs(share - 0.05) < 0.006  # ~4 standard deviations at n=20000
    assert set(firsts) == {"2.3.1", "2.4.0"}


def test_canary_applies_inside_a_range_and_not_to_exact_requests() -> None:
    rule = (CanaryRule("m", "2.3.1", "2.4.0", 1.0),)
    assert choose_versions("m", LIVE, "2.x", rule, random.Random(1))[0] == "2.4.0"
    assert choose_versions("m", LIVE, "2.3.1", rule, random.Random(1)) == ["2.3.1"]
    # Without the canary live, the stable version comes first, not the newest.
    assert choose_versions("m", ["2.3.1", "3.0.0"], None, (CanaryRule("m", "2.3.1", "2.4.0"),), random.Random(1))[0] == "2.3.1"


def _stack() -> FakeStack:
    return FakeStack(records=[record("model-gpu-1"), record("model-gpu-2"), record("model-gpu-2", version="2.4.0")])


def test_gateway_routes_exact_version_and_404s_unknowns() -> None:
    h = make_harness(_stack(), canary=CANARY)
    assert h.predict(version="2.4.0").json() | {"outputs": None} == {
        "model": "fraud-detector", "version": "2.4.0", "device": "gpu", "server": "model-gpu-2",
        "outputs": None, "confidence": [0.9],
    }  # fmt: skip
    assert h.predict(version="9.x").status_code == 404
    assert h.predict("no-such-model").status_code == 404
    assert h.predict(version=" ").json()["version"] == "2.3.1"  # blank: as if absent (stable first)


def test_gateway_canary_weights_hold_over_many_requests() -> None:
    unlimited = RateLimitConfig(rate_per_s=1e6, burst=1e6)
    h = make_harness(_stack(), seed=3, canary=CANARY, rate_limit=unlimited)
    n = 600
    versions = [h.predict().json()["version"] for _ in range(n)]
    assert 0.02 <= versions.count("2.4.0") / n <= 0.08
