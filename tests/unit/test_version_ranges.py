"""`validate` decides plain X-ranges (`2.x`, `2.3`) without nodesemver; the answer must be
nodesemver's (loose, as the gateway asks it) for every such range, and anything else must still
be nodesemver's to decide."""

from __future__ import annotations

import itertools

import nodesemver
import pytest

from chaosctl.scenario.checks import _version_matches, plain_x_range_matches

NUMBERS = ["0", "1", "2", "3", "10"]
X = ["x", "X", "*"]
# Every plain X-range form over a few numbers: N, N.x, N.x.x, N.M, N.M.x (x also X and *).
PLAIN_RANGES = sorted(
    {*NUMBERS}
    | {f"{a}.{x}" for a in NUMBERS for x in X}
    | {f"{a}.{x}.{y}" for a in NUMBERS for x in X for y in X}
    | {f"{a}.{b}" for a in NUMBERS for b in NUMBERS}
    | {f"{a}.{b}.{x}" for a in NUMBERS for b in NUMBERS for x in X}
)
SERVED = [f"{a}.{b}.{c}" for a, b, c in itertools.product(["0", "1", "2", "10"], ["0", "3", "10"], ["0", "1"])]


def _nodesemver(spec: str, served: list[str]) -> bool:
    return any(nodesemver.satisfies(v, spec, loose=True) for v in served)


@pytest.mark.parametrize("spec", PLAIN_RANGES)
def test_a_plain_x_range_gets_nodesemvers_answer(spec: str) -> None:
    for version in SERVED:
        assert plain_x_range_matches(spec, [version]) is _nodesemver(spec, [version]), (spec, version)
    assert plain_x_range_matches(spec, SERVED) is _nodesemver(spec, SERVED)
    assert plain_x_range_matches(spec, []) is False


@pytest.mark.parametrize("spec", [
    "~2.3", "^2.0.0", ">=2.1 <3", "2.3.1", "v2.x", "=2.x", "2.x.3", "02.x", "2.03", "*", "x", "",
    "2.x || 3.x", "2.3.x-beta", "2.x+build", "2.3 - 2.4", "1234567890123456.x",
])  # fmt: skip
def test_anything_else_is_left_to_nodesemver(spec: str) -> None:
    assert plain_x_range_matches(spec, ["2.3.1"]) is None


@pytest.mark.parametrize("served", [["2.3.1-beta"], ["2.3.1+b5"], ["v2.3.1"], ["02.3.1"], ["2.3"]])
def test_versions_that_are_not_plain_are_left_to_nodesemver(served: list[str]) -> None:
    assert plain_x_range_matches("2.x", served) is None


@pytest.mark.parametrize("spec", [*PLAIN_RANGES[::7], "~2.3", "^2.0.0", ">=2.1,<3", "2.x,<2.4", "v2.x", "2.3.1-beta", "garbage>>"])
def test_the_check_agrees_with_the_gateways_rule(spec: str) -> None:
    served = ["2.3.1", "2.4.0"]
    joined = " ".join(p.strip() for p in spec.split(",") if p.strip())
    try:
        expected = spec in served or _nodesemver(joined, served)
    except Exception:  # noqa: BLE001 - a malformed range matches nothing, in the gateway too
        expected = False
    assert _version_matches(spec, served) is expected
