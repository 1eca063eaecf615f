"""Critical path and self time of traces: pure functions over `Span` records.

A trace is a forest, analysed per root, the way jaeger-ui's critical path and Jaeger's clock-skew
adjuster see it. All times are integer microseconds.

* Roots: a span without parent, and a span whose parent is missing from the trace (an *orphan*),
  each with its own subtree. An orphan is never moved or clamped into another span: where it
  belongs is unknown. A parent cycle is cut at its earliest span, which becomes an orphan root.
* Clock skew (Jaeger's adjuster, top-down from each root): a child on another clock (host, or
  service when the resource names no host) that *starts before* its parent is shifted with its
  same-clock descendants: centred in the parent when it is shorter, to the parent's start when it
  is longer. Nothing else moves: a child that starts inside and ends after its parent is real (a
  timed-out call whose server kept working) and a child that starts after its parent ended is
  never pulled inside. (Jaeger also centres a shorter child that only *ends* late; we do not.)
* Off the synchronous path (jaeger-ui): a child that only follows from its parent (FOLLOWS_FROM, a
  link) or a CONSUMER under a PRODUCER is asynchronous; a child that starts at or after its
  parent's end, or ends before the parent starts, is dropped. Either way the child's subtree is
  analysed on its own (kind "async" / "dropped"): its spans keep their self times and durations,
  but none of its time counts as the critical path of a synchronous root.
* Every remaining child is clamped to its (clamped) parent.
* The critical path: walk back from the parent's end, each time taking the last-finishing child
  that ended at or before the cursor, recursing into it, and moving the cursor to its start; the
  gaps are the parent's own time. Segments add up to the root's duration. (jaeger-ui takes only a
  child that ended strictly before the cursor, which gives a gap between back-to-back children to
  the parent; we give it to the child that ran.)
* Self time: the (clamped) duration minus the union of its synchronous children's intervals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from chaosctl.observe.spans import Span

Interval = tuple[int, int]


class Segment(NamedTuple):  # NamedTuple: immutable and cheap to create by the hundred thousand
    """A stretch of the critical path spent in one span's own code."""

    span_id: str
    service: str
    operation: str
    start_us: int
    end_us: int

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us


class SpanResult(NamedTuple):
    span: Span
    start_us: int  # effective interval: skew-adjusted and clamped to the parent
    end_us: int
    self_us: int
    critical_us: int


@dataclass(frozen=True)
class TraceAnalysis:
    """One root of a trace with its synchronous subtree."""

    trace_id: str
    root: Span
    duration_us: int
    spans: tuple[SpanResult, ...]
    path: tuple[Segment, ...]  # time-ordered, consecutive segments of one span merged
    orphans: int = 0  # 1 when the root's parent is missing from the trace (or a parent cycle was cut here)
    skew_adjusted: int = 0  # spans shifted for clock skew (with their same-clock subtrees)
    kind: str = "root"  # root | orphan | async | dropped
    origin: str | None = None  # async/dropped: span id of the synchronous root this subtree came from

    @property
    def synchronous(self) -> bool:
        """Its path is a request's synchronous critical path (async and dropped subtrees are not)."""
        return self.kind in ("root", "orphan")


@dataclass(frozen=True)
class _Forest:
    spans: dict[str, Span]
    children: dict[str, list[str]]
    roots: list[str]  # true roots first, then orphans, each by start time
    adjusted: dict[str, Interval]  # after the clock-skew shift, before any clamping
    shifted: frozenset[str]


def analyze(spans: Iterable[Span]) -> list[TraceAnalysis]:
    """Analyse every trace in `spans` (grouped by trace id; duplicate span ids kept once)."""
    by_trace: dict[str, dict[str, Span]] = defaultdict(dict)
    for s in spans:
        by_trace[s.trace_id].setdefault(s.span_id, s)
    return [a for group in by_trace.values() for a in analyze_trace(list(group.values()))]


def analyze_trace(spans: Sequence[Span]) -> list[TraceAnalysis]:
    """Every root of one trace: its roots and orphans first, then the detached subtrees."""
    if not spans:
        raise ValueError("a trace needs at least one span")
    by_id: dict[str, Span] = {}
    for s in spans:
        by_id.setdefault(s.span_id, s)
    forest = _forest(by_id)
    todo: list[tuple[str, str, str | None]] = [(r, _root_kind(by_id[r]), None) for r in forest.roots]
    out: list[TraceAnalysis] = []
    i = 0
    while i < len(todo):
        root_id, kind, origin = todo[i]
        i += 1
        analysis, detached = _analyse_root(forest, root_id, kind, origin)
        out.append(analysis)
        base = origin if origin is not None else root_id
        todo.extend((cid, why, base) for cid, why in detached)
    return out


def _root_kind(root: Span) -> str:
    if root.follows_from:  # its parent is missing, but it was never waited for anyway
        return "async"
    return "root" if root.parent_id is None else "orphan"


def _forest(by_id: dict[str, Span]) -> _Forest:
    children: dict[str, list[str]] = defaultdict(list)
    roots: list[str] = []
    for s in by_id.values():
        if s.parent_id is None or s.parent_id not in by_id or s.parent_id == s.span_id:
            roots.append(s.span_id)
        else:
            children[s.parent_id].append(s.span_id)
    reached = _reachable(roots, children)
    for sid in sorted(by_id.keys() - reached):  # unreachable: under a parent cycle
        if sid not in reached:
            cut = _cycle_start(sid, by_id)
            children[by_id[cut].parent_id or ""].remove(cut)
            roots.append(cut)
            reached |= _reachable([cut], children)
    roots.sort(key=lambda r: (by_id[r].parent_id is not None, by_id[r].start_us, -by_id[r].end_us, r))
    adjusted, shifted = _skew(by_id, children, roots)
    return _Forest(by_id, children, roots, adjusted, frozenset(shifted))


def _cycle_start(sid: str, by_id: dict[str, Span]) -> str:
    """The earliest span of the parent cycle above `sid` (every span there has its parent present)."""
    seen: dict[str, int] = {}
    while sid not in seen:
        seen[sid] = len(seen)
        sid = by_id[sid].parent_id or ""
    cycle = list(seen)[seen[sid]:]
    return min(cycle, key=lambda k: (by_id[k].start_us, k))


def _reachable(roots: Iterable[str], children: dict[str, list[str]]) -> set[str]:
    seen = set(roots)
    todo = list(seen)
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def _skew(by_id: dict[str, Span], children: dict[str, list[str]], roots: list[str]) -> tuple[dict[str, Interval], set[str]]:
    """Jaeger's adjuster: a child on another clock gets its own delta against its adjusted parent;
    a child on its parent's clock inherits the parent's delta. Roots never move."""
    adjusted: dict[str, Interval] = {}
    delta: dict[str, int] = {}
    shifted: set[str] = set()
    order = list(roots)
    for r in roots:
        s = by_id[r]
        adjusted[r], delta[r] = (s.start_us, max(s.start_us, s.end_us)), 0
    for pid in order:  # grows while iterating: breadth-first, no recursion
        parent = by_id[pid]
        ps, pe = adjusted[pid]
        for cid in children.get(pid, ()):
            c = by_id[cid]
            cs, ce = c.start_us, max(c.start_us, c.end_us)
            d = delta[pid]
            if (c.host or c.service) != (parent.host or parent.service):
                d = _skew_delta(cs, ce, ps, pe)
                if d:
                    shifted.add(cid)
            delta[cid], adjusted[cid] = d, (cs + d, ce + d)
            order.append(cid)
    return adjusted, shifted


def _skew_delta(cs: int, ce: int, ps: int, pe: int) -> int:
    """How far to move a child [cs, ce] into its parent [ps, pe]: only when it starts before it."""
    if cs >= ps:
        return 0
    if ce - cs > pe - ps:  # longer than its parent: at least do not start before it
        return ps - cs
    return ps + ((pe - ps) - (ce - cs)) // 2 - cs  # network latency split evenly: centred


def _detach_reason(parent: Span, child: Span, p: Interval, c: Interval) -> str | None:
    if child.follows_from or (parent.kind == "producer" and child.kind == "consumer"):
        return "async"
    if c[0] >= p[1] or (c[0] < p[0] and c[1] <= p[0]):  # wholly after (or before) its parent
        return "dropped"
    return None


def _synchronous_subtree(
    forest: _Forest, root_id: str
) -> tuple[dict[str, Interval], dict[str, list[str]], list[str], list[tuple[str, str]]]:
    """Top-down: each child is detached (async, dropped) or clamped to its clamped parent.
    Returns the effective intervals, synchronous children, the spans in order, and the detached."""
    eff = {root_id: forest.adjusted[root_id]}
    kids: dict[str, list[str]] = {}
    detached: list[tuple[str, str]] = []
    order = [root_id]
    for pid in order:  # grows while iterating: breadth-first, no recursion
        ps, pe = eff[pid]
        sync = kids[pid] = []
        for cid in forest.children.get(pid, ()):
            cs, ce = forest.adjusted[cid]
            why = _detach_reason(forest.spans[pid], forest.spans[cid], (ps, pe), (cs, ce))
            if why:
                detached.append((cid, why))
                continue
            eff[cid] = (min(max(cs, ps), pe), min(max(ce, ps), pe))
            sync.append(cid)
            order.append(cid)
    return eff, kids, order, detached


def _analyse_root(
    forest: _Forest, root_id: str, kind: str, origin: str | None
) -> tuple[TraceAnalysis, list[tuple[str, str]]]:
    """Walk the critical path of `root_id`'s synchronous subtree; also return the detached children."""
    by_id = forest.spans
    eff, kids, order, detached = _synchronous_subtree(forest, root_id)
    kids_by_end = {sid: sorted(ks, key=lambda c: (-eff[c][1], eff[c][0], c)) for sid, ks in kids.items() if ks}
    raw_segments = _walk(root_id, eff, kids_by_end)
    critical: dict[str, int] = defaultdict(int)
    for sid, a, b in raw_segments:
        critical[sid] += b - a
    results = tuple(
        SpanResult(by_id[sid], eff[sid][0], eff[sid][1], _self_time(eff[sid], [eff[c] for c in kids[sid]]), critical.get(sid, 0))
        for sid in order
    )
    root = by_id[root_id]
    analysis = TraceAnalysis(
        trace_id=root.trace_id,
        root=root,
        duration_us=eff[root_id][1] - eff[root_id][0],
        spans=results,
        path=_merge(raw_segments, by_id),
        orphans=int(origin is None and root.parent_id is not None),
        skew_adjusted=sum(1 for sid in order if sid in forest.shifted),
        kind=kind,
        origin=origin,
    )
    return analysis, detached


def _walk(root_id: str, eff: dict[str, Interval], kids_by_end: dict[str, list[str]]) -> list[tuple[str, int, int]]:
    """The critical path as (span_id, start, end) segments in time order (iterative: deep traces)."""
    segments: list[tuple[str, int, int]] = []
    frames = [[root_id, 0, eff[root_id][1]]]  # span, next child index, cursor
    while frames:
        frame = frames[-1]
        sid, i, cursor = frame
        kids = kids_by_end.get(sid, ())
        while i < len(kids):
            cs, ce = eff[kids[i]]
            i += 1
            if cs < ce <= cursor:
                if ce < cursor:
                    segments.append((sid, ce, cursor))
                frame[1], frame[2] = i, cs
                frames.append([kids[i - 1], 0, ce])
                break
        else:
            if cursor > eff[sid][0]:
                segments.append((sid, eff[sid][0], cursor))
            frames.pop()
    segments.reverse()
    return segments


def _self_time(interval: Interval, kids: list[Interval]) -> int:
    start, end = interval
    covered, cur_s, cur_e = 0, None, None
    for s, e in sorted(kids):
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                covered += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        covered += cur_e - cur_s
    return (end - start) - covered


def _merge(raw: list[tuple[str, int, int]], by_id: dict[str, Span]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for sid, a, b in raw:
        if out and out[-1].span_id == sid and out[-1].end_us == a:
            prev = out[-1]
            out[-1] = Segment(sid, prev.service, prev.operation, prev.start_us, b)
        else:
            s = by_id[sid]
            out.append(Segment(sid, s.service, s.operation, a, b))
    return tuple(out)
