"""Did a region-partition take effect? Its region's servers stopped getting traffic.

Confirmed when the spans of the region's components (their own server spans, so not the
callers' timed-out tries) came at MIN_SPANS or more in the baseline and at most a tenth of that
rate during the fault, while MIN_SPANS traces of the fault window came through (an empty window
is missing data, never a stopped region). Where the callers' traffic went instead is evidence.
"""

from __future__ import annotations

from collections import Counter

from .effect import CONFIRMED, INCONCLUSIVE, MIN_SPANS, NOT_OBSERVED, Effect, FaultFacts, Observed

STOPPED = 0.1  # at most this share of the baseline rate: traffic to the region dropped to ~0


def _per_s(window: Observed, services: set[str]) -> tuple[int, float, Counter[str]]:
    by = Counter(s.service for s in window.spans if s.service in services)
    n = sum(by.values())
    return n, n / window.seconds, by


def judge_partition(fault: FaultFacts, base: Observed | None, during: Observed) -> Effect:
    region = str(fault.params.get("region") or fault.target.removeprefix("region:"))
    members = set(fault.params.get("members") or ())
    if not members:
        return Effect(INCONCLUSIVE, f"region {region}: no component of the System is in it")
    n_now, r_now, now_by = _per_s(during, members)
    n_base, r_base, base_by = _per_s(base, members) if base is not None else (0, 0.0, Counter())
    traces = len({s.trace_id for s in during.spans})
    said = (f"spans of region {region}'s servers ({', '.join(sorted(members))}): {r_base:.1f}/s in the baseline, "
            f"{r_now:.1f}/s during the fault ({n_now} spans, {traces} traces)")
    moved = _elsewhere(members, base, during)
    if n_base < MIN_SPANS:
        return Effect(INCONCLUSIVE, f"{said}: too little baseline traffic into the region (need {MIN_SPANS} spans){moved}")
    if traces < MIN_SPANS:
        return Effect(INCONCLUSIVE, f"{said}: too few traces in the fault window to tell (need {MIN_SPANS}){moved}")
    if r_now <= STOPPED * r_base:
        return Effect(CONFIRMED, f"traffic into region {region} stopped: {said}{moved}")
    if r_now >= 0.5 * r_base:
        return Effect(NOT_OBSERVED, f"region {region} kept getting traffic: {said}{moved}")
    return Effect(INCONCLUSIVE, f"traffic into region {region} fell but did not stop: {said}{moved}")


def _elsewhere(members: set[str], base: Observed | None, during: Observed) -> str:
    """Server spans outside the region whose rate rose: where the traffic went."""
    if base is None:
        return ""
    roots = {s.service for s in during.spans if not s.parent_id}
    b = Counter(s.service for s in base.spans if s.service not in members and s.service not in roots)
    d = Counter(s.service for s in during.spans if s.service not in members and s.service not in roots)
    rose = [f"{svc} {b[svc] / base.seconds:.1f}/s -> {d[svc] / during.seconds:.1f}/s" for svc in sorted(d)
            if d[svc] / during.seconds > 1.1 * b[svc] / base.seconds + 0.5]  # fmt: skip
    return f"; traffic rose on {', '.join(rose)}" if rose else ""
