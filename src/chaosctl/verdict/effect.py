"""Did a fault do anything the system showed? Pure functions over span records and metric
samples of two windows: the fault's own (from the moment it was verified in effect until
its revert) and the baseline (the run's first, fault-free phase).

Verdicts (docs/verdicts.md, "Fault effects"):

* latency toxic on link A->B: the hop's time (a span of A that calls B: it has a child span
  of B, names B in its operation or an attribute, or carries the link's listen address;
  minus the time of its B children when B is traced) rose by about the injected amount:
  median (mean when toxicity < 1) during - baseline within [0.5 x, 2 x + 50 ms] of
  toxicity x latency. Below: not observed; above: inconclusive (something else slowed it).
  Hop calls that mostly failed (timed out) where they did not before also confirm it.
* other link toxics (bandwidth, timeout, reset-peer, slow-close, limit-data, jitter): the
  hop's calls failed (error share +30 points) or slowed (median x 2 + 20 ms).
* process-kill / -pause / -restart on C: C stopped answering (its scrape `up` read 0, or its
  spans stopped while they came at the baseline rate and MIN_SPANS traces of the fault window
  came through; a restart: its process start time changed); where its callers' traffic went
  is stated as evidence.
* gpu-exhaustion on N: the device memory gauge rose by at least half of what the fault
  should have taken (compute: the utilisation gauge reached 90 % of the asked saturation).
* gpu-device-lost, gpu-ecc-error, gpu-thermal-throttle: verdict/gpu_effect.py.

Too little data (fewer than MIN_SPANS hop spans in a window, fewer than MIN_SAMPLES
samples) is *inconclusive*, never *confirmed*. A link whose hop had no call in the fault
window nor in the baseline while MIN_SPANS traces of the run came through is *not
observed*: it carried no traffic for the toxic to act on.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from chaosctl.observe.spans import Span
from chaosctl.scenario.fault_types import LINK_TYPES, PROCESS_TYPES, REGION_TYPES, REQUEST_TYPES

EffectVerdict = Literal["confirmed", "not observed", "inconclusive"]
CONFIRMED: EffectVerdict = "confirmed"
NOT_OBSERVED: EffectVerdict = "not observed"
INCONCLUSIVE: EffectVerdict = "inconclusive"

MIN_SPANS = 20  # hop calls per window for a latency figure worth stating
MIN_SAMPLES = 2  # metric samples in the fault window (1 s scrapes)
LOW, HIGH, SLACK_S = 0.5, 2.0, 0.05  # latency tolerance: [LOW x, HIGH x + SLACK] of the injected amount
ERROR_RISE = 0.3


@dataclass(frozen=True)
class Effect:
    verdict: EffectVerdict
    evidence: str
    added_s: float | None = None  # latency toxics: the measured added latency


@dataclass(frozen=True)
class FaultFacts:
    """One fault as it ran: its spec's type, target and parameters (seconds, fractions, bytes)."""

    type: str
    target: str
    params: Mapping[str, Any] = field(default_factory=dict)
    in_effect_at: float | None = None  # unix seconds its verify() returned (None: not known)


@dataclass(frozen=True)
class Observed:
    """What one window showed: spans of the traces that started in it, metric series by role
    (`up`, `start_time`, `gpu_memory_used`, `gpu_memory_total`, `gpu_utilization`)."""

    start: float
    end: float
    spans: Sequence[Span] = ()
    series: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return max(1e-9, self.end - self.start)

    def values(self, role: str) -> list[float]:
        return [v for _, v in self.series.get(role, ()) if v == v]


@dataclass(frozen=True)
class Hop:
    """Link A->B as traces name it: A's and B's trace services, where A dials B (host:port)."""

    source: str
    dest: str
    listen: str = ""


def service_of(component: str) -> str:
    """A component's trace service / scrape job: `registry-store[0]` -> `registry-store-0`."""
    return re.sub(r"\[(\d+)\]$", r"-\1", component)


def judge(fault: FaultFacts, base: Observed | None, during: Observed, hop: Hop | None = None) -> Effect:
    if fault.type in LINK_TYPES:
        if hop is None:
            return Effect(INCONCLUSIVE, f"{fault.target} is not a link of the System")
        return _link(fault, base, during, hop)
    if fault.type in PROCESS_TYPES:
        return _process(fault, base, during)
    if fault.type == "gpu-exhaustion":
        return _gpu(fault, base, during)
    if fault.type in REQUEST_TYPES:
        return _request(fault, base, during, hop)
    if fault.type in REGION_TYPES:
        from .region_effect import judge_partition  # it imports this module: not at the top

        return judge_partition(fault, base, during)
    if fault.type in ("gpu-device-lost", "gpu-ecc-error", "gpu-thermal-throttle"):
        from .gpu_effect import judge_gpu_device  # it imports this module: not at the top

        return judge_gpu_device(fault, base, during)
    return Effect(INCONCLUSIVE, f"no effect rule for {fault.type}")


# ---------------------------------------------------------------- links


def _children(spans: Sequence[Span]) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        if s.parent_id:
            out[s.parent_id].append(s)
    return out


def _names(span: Span, dest: str, listen: str) -> bool:
    if re.search(rf"(?<![\w-]){re.escape(dest)}(?![\w-])", span.operation):
        return True
    return any(v == dest or (listen and listen in v) for _, v in span.attributes)


def hop_spans(spans: Sequence[Span], hop: Hop) -> list[tuple[Span, float]]:
    """(span, hop seconds) for every call of A to B: the span's time minus its B children's.
    Spans with a child of B or naming B in their operation are calls; spans naming B only in
    an attribute count when there are none (a root span tagged with the server that answered
    it is not a call)."""
    kids = _children(spans)
    tiers: tuple[list[tuple[Span, float]], ...] = ([], [])
    for s in spans:
        if s.service != hop.source:
            continue
        inner = [c for c in kids.get(s.span_id, ()) if c.service == hop.dest]
        hop_s = max(0, s.duration_us - sum(c.duration_us for c in inner)) / 1e6
        if inner or re.search(rf"(?<![\w-]){re.escape(hop.dest)}(?![\w-])", s.operation):
            tiers[0].append((s, hop_s))
        elif _names(s, hop.dest, hop.listen):
            tiers[1].append((s, hop_s))
    return next((t for t in tiers if t), [])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _op(calls: Sequence[tuple[Span, float]]) -> str:
    ops = sorted({f"{s.service}: {s.operation}" for s, _ in calls})
    return ops[0] if len(ops) == 1 else f"{len(ops)} operations"


def _errors(calls: Sequence[tuple[Span, float]]) -> float:
    return sum(1 for s, _ in calls if s.error) / len(calls) if calls else 0.0


def _link(fault: FaultFacts, base: Observed | None, during: Observed, hop: Hop) -> Effect:
    name = f"link {hop.source}->{hop.dest}"
    now = hop_spans(during.spans, hop)
    before = hop_spans(base.spans, hop) if base is not None else []
    traces = len({s.trace_id for s in during.spans})
    if not now:
        if traces >= MIN_SPANS and base is not None and not before and len(base.spans) >= MIN_SPANS:
            return Effect(NOT_OBSERVED, f"no call crossed {name} during the fault nor in the baseline "
                                        f"({traces} traces during the fault): the link carried no traffic")
        if before:
            return Effect(INCONCLUSIVE, f"calls on {name} stopped during the fault ({len(before)} in the baseline): "
                                        "traffic moved away, no hop time to measure")
        return Effect(INCONCLUSIVE, f"no call on {name} in the fault window ({traces} traces)")
    if base is None or len(before) < MIN_SPANS or len(now) < MIN_SPANS:
        return Effect(INCONCLUSIVE, f"too few calls on {name} to judge: {len(now)} during the fault, "
                                    f"{len(before)} in the baseline (need {MIN_SPANS} each)")
    if fault.type == "latency" and float(fault.params.get("latency") or 0) > 0:
        return _latency(fault, before, now)
    return _disruption(fault, before, now)


def _latency(fault: FaultFacts, before: Sequence[tuple[Span, float]], now: Sequence[tuple[Span, float]]) -> Effect:
    toxicity = float(fault.params.get("toxicity", 1.0) or 0.0)
    stat, word = (statistics.median, "median") if toxicity >= 1.0 else (statistics.fmean, "mean")
    b, d = stat([t for _, t in before]), stat([t for _, t in now])
    added, expected = d - b, toxicity * float(fault.params["latency"])
    where = (f"hop {_op(now)} {word} {_ms(b)} -> {_ms(d)} ({'+' if added >= 0 else '-'}{_ms(abs(added))}, "
             f"injected +{_ms(expected)}; n={len(now)} vs {len(before)})")
    if LOW * expected <= added <= HIGH * expected + SLACK_S:
        return Effect(CONFIRMED, where, added)
    if _errors(now) - _errors(before) >= 0.5:
        return Effect(CONFIRMED, f"{where}; {_errors(now):.0%} of the hop's calls failed (they timed out before "
                                 "the injected latency ran out)", added)
    if added < LOW * expected:
        return Effect(NOT_OBSERVED, f"{where}: less than half the injected latency", added)
    return Effect(INCONCLUSIVE, f"{where}: far more than injected, something else slowed the hop too", added)


def _disruption(fault: FaultFacts, before: Sequence[tuple[Span, float]], now: Sequence[tuple[Span, float]]) -> Effect:
    eb, ed = _errors(before), _errors(now)
    mb, md = statistics.median([t for _, t in before]), statistics.median([t for _, t in now])
    where = (f"hop {_op(now)}: errors {eb:.0%} -> {ed:.0%}, median {_ms(mb)} -> {_ms(md)} "
             f"(n={len(now)} vs {len(before)})")
    if ed - eb >= ERROR_RISE or md >= 2 * mb + 0.02:
        return Effect(CONFIRMED, where)
    return Effect(NOT_OBSERVED, f"{where}: the hop's calls neither failed nor slowed")


# ---------------------------------------------------------------- components


def _rate(spans: Sequence[Span], service: str, window: Observed) -> tuple[int, float]:
    n = sum(1 for s in spans if s.service == service)
    return n, n / window.seconds


def _moved(target: str, base: Observed | None, during: Observed) -> str:
    """Where the callers of `target` sent their calls during the fault, vs the baseline (per second)."""
    if base is None:
        return ""
    ids = {s.span_id: s for s in base.spans}
    callers = {ids[s.parent_id].service for s in base.spans
               if s.service == target and s.parent_id in ids and ids[s.parent_id].service != target}
    if not callers:
        return ""

    def calls(window: Observed) -> dict[str, float]:
        by_id = {s.span_id: s for s in window.spans}
        out: dict[str, float] = defaultdict(float)
        for s in window.spans:
            p = by_id.get(s.parent_id or "")
            if p is not None and p.service in callers and s.service not in callers:
                out[s.service] += 1 / window.seconds
        return out

    b, d = calls(base), calls(during)
    shifts = [f"{svc} {b.get(svc, 0.0):.1f}/s -> {d.get(svc, 0.0):.1f}/s" for svc in sorted(set(b) | set(d))]
    gained = any(d.get(svc, 0.0) > b.get(svc, 0.0) * 1.1 + 0.5 for svc in d if svc != target)
    return f"; its callers' traffic {'moved' if gained else 'did not move'}: " + ", ".join(shifts)


def _process(fault: FaultFacts, base: Observed | None, during: Observed) -> Effect:
    svc = service_of(fault.target)
    up = during.values("up")
    starts = during.values("start_time")
    n_now, r_now = _rate(during.spans, svc, during)
    n_base, r_base = _rate(base.spans, svc, base) if base is not None else (0, 0.0)
    down = [v for v in up if v < 1]
    # Its spans "stopped" only while traces kept coming: an empty fault window is missing data.
    traced = len({s.trace_id for s in during.spans}) >= MIN_SPANS
    spans_stopped = n_base >= MIN_SPANS and traced and r_now <= 0.1 * r_base
    said = (f"scrape up: {len(down)} of {len(up)} samples 0; spans of {svc}: {r_base:.1f}/s in the baseline, "
            f"{r_now:.1f}/s during the fault")
    moved = _moved(svc, base, during)
    restarted = len(starts) >= 2 and max(starts) > min(starts)
    if down or spans_stopped or (fault.type == "process-restart" and restarted):
        what = "restarted (its process start time changed)" if restarted and not down else "stopped answering"
        return Effect(CONFIRMED, f"{fault.target} {what}: {said}{moved}")
    if len(up) >= MIN_SAMPLES and (n_base < MIN_SPANS or r_now >= 0.5 * r_base):
        return Effect(NOT_OBSERVED, f"{fault.target} kept answering: {said}{moved}")
    return Effect(INCONCLUSIVE, f"too little data on {fault.target}: {said} (need {MIN_SAMPLES} samples)")


def _gpu(fault: FaultFacts, base: Observed | None, during: Observed) -> Effect:
    svc = service_of(fault.target)
    moved = _moved(svc, base, during)
    parts: list[Effect] = []
    if fault.params.get("memory") is not None or fault.params.get("bytes") is not None:
        parts.append(_gpu_memory(fault, base, during))
    if fault.params.get("compute") is not None:
        util = during.values("gpu_utilization")
        want = float(fault.params["compute"])
        if len(util) < MIN_SAMPLES:
            parts.append(Effect(INCONCLUSIVE, f"{len(util)} utilisation samples"))
        else:
            ok = max(util) >= 0.9 * want
            parts.append(Effect(CONFIRMED if ok else NOT_OBSERVED, f"utilisation up to {max(util):.0%} (asked {want:.0%})"))
    worst = min(parts, key=lambda e: {CONFIRMED: 2, INCONCLUSIVE: 0, NOT_OBSERVED: 1}[e.verdict])
    return Effect(worst.verdict, f"{fault.target}: " + "; ".join(p.evidence for p in parts) + moved)


def _gpu_memory(fault: FaultFacts, base: Observed | None, during: Observed) -> Effect:
    used, total = during.values("gpu_memory_used"), during.values("gpu_memory_total")
    before = base.values("gpu_memory_used") if base is not None else []
    if len(used) < MIN_SAMPLES or not before or not total:
        return Effect(INCONCLUSIVE, f"device memory gauge: {len(used)} samples during the fault, {len(before)} in the baseline")
    b, peak, cap = statistics.fmean(before), max(used), max(total)
    if fault.params.get("bytes") is not None:
        expected = min(float(fault.params["bytes"]), cap - b)
    else:
        expected = float(fault.params["memory"]) * cap - b
    gib = 2**30
    said = f"device memory {b / gib:.2f} GiB -> {peak / gib:.2f} GiB of {cap / gib:.2f} GiB (expected +{max(expected, 0) / gib:.2f} GiB)"
    if expected <= 0:
        return Effect(INCONCLUSIVE, f"{said}: the device was already that full")
    if peak - b >= 0.5 * expected:
        return Effect(CONFIRMED, said)
    return Effect(NOT_OBSERVED, said)


# ---------------------------------------------------------------- request faults


def faulted_requests(series: Sequence[tuple[float, float]], start: float, step: float = 1.0,
                     up: Sequence[tuple[float, float]] = ()) -> float | None:  # fmt: skip
    """How many requests the service's faulted-request counter gained in the window (None: cannot tell).
    A series first seen inside the window was born there (it gained all it holds) only when a
    scrape that succeeded (`up` 1) came before it without it; after a scrape gap it may have
    held its count from before the window, so the gain cannot be told.

    Born-in-the-window is asked first: a series born at the window's second evaluation (the faulted
    requests all came at once, then none: a canary rolled back within ms) once counted as there
    from the start, and so as having gained nothing."""
    points = [(t, v) for t, v in series if v == v]
    if not points:
        return None
    first = points[0][0]
    if any(v >= 1 for t, v in up if t < first):
        return points[-1][1]
    if first <= start + 2 * step:
        return points[-1][1] - points[0][1]
    return None


def _request(fault: FaultFacts, base: Observed | None, during: Observed, hop: Hop | None) -> Effect:
    """Component: its `chaosctl_request_faults_total` rose. Link (HTTP fault proxy): the hop's
    calls failed or slowed, as for a link toxic."""
    if hop is not None:
        return _link(FaultFacts(fault.type, fault.target, {}), base, during, hop)
    series = during.series.get("request_faults", ())
    gained = faulted_requests(series, during.start, up=during.series.get("up", ()))
    up = during.values("up")
    if not series and len(up) >= MIN_SAMPLES and min(up) >= 1:
        gained = 0.0  # scraped all along and no faulted-request series: the counter never moved
    if gained is None:
        return Effect(INCONCLUSIVE, f"{fault.target}: chaosctl_request_faults_total {len(series)} samples, "
                                    f"{len(up)} scrapes in the fault window: its rise cannot be told")
    if gained >= 1:
        return Effect(CONFIRMED, f"{fault.target} faulted {gained:.0f} matching requests during the fault "
                                 "(chaosctl_request_faults_total)")
    return Effect(NOT_OBSERVED, f"{fault.target} faulted no request during the fault: none matched, or none came")
