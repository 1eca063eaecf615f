"""Version routing: `X-Model-Version` (exact or semver range) and canary weights.

The result is an ordered preference of versions: the first is where the request
should go; the rest are fallbacks still allowed by the request's range.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from dataclasses import dataclass

import nodesemver


class NoVersion(Exception):
    """No live version of the model satisfies the request (the gateway answers 404)."""


@dataclass(frozen=True)
class CanaryRule:
    """Split traffic of `model` between `stable` and `canary` (canary gets `canary_weight`)."""

    model: str
    stable: str
    canary: str
    canary_weight: float = 0.05


def normalise_range(spec: str) -> str:
    # node-semver reads "AND" as a space; people write ">=2.1,<3".
    return " ".join(part.strip() for part in spec.split(",") if part.strip())


def matching_versions(available: Iterable[str], requested: str | None) -> list[str]:
    """Available versions satisfying `requested` (all when None), newest first."""
    versions = sorted(set(available), key=_sort_key, reverse=True)
    if requested is None:
        return versions
    spec = normalise_range(requested)
    if not spec:
        return []
    return [v for v in versions if _satisfies(v, spec)]


def choose_versions(
    model: str,
    available: Iterable[str],
    requested: str | None,
    rules: Iterable[CanaryRule],
    rng: random.Random,
) -> list[str]:
    """Versions to try, in order; NoVersion when none matches."""
    versions = matching_versions(available, requested)
    if not versions:
        raise NoVersion(f"no version of {model!r} matches {requested!r}" if requested else f"unknown model {model!r}")
    rule = next((r for r in rules if r.model == model), None)
    if rule is None:
        return versions
    if rule.stable in versions and rule.canary in versions:
        first = rule.canary if rng.random() < rule.canary_weight else rule.stable
        second = rule.stable if first == rule.canary else rule.canary
        return [first, second, *(v for v in versions if v not in (first, second))]
    if rule.stable in versions:
        # The canary is not live (or out of range): stable first, never newest-by-default.
        return [rule.stable, *(v for v in versions if v != rule.stable)]
    return versions


@functools.lru_cache(maxsize=4096)  # pure, and asked for every record of every request (~3% of the CPU)
def _satisfies(version: str, spec: str) -> bool:
    try:
        return bool(nodesemver.satisfies(version, spec, loose=True))
    except Exception:  # noqa: BLE001 - a malformed range from a client matches nothing
        return False


def _sort_key(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("-")[0].split("."):
        parts.append(int(piece) if piece.isdigit() else -1)
    return tuple(parts)
