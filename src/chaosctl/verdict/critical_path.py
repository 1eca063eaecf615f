"""Critical path and self time of traces: pure functions over `Span` records.

Per trace:
* the tree: a span whose parent is missing from the trace (or a second root) is attached to the
  trace root and counted in `orphans`, so no time is silently dropped;
* clock skew: a child that *starts* outside its parent is causally impossible, so when it comes
  from another service (another clock) it is shifted, with its subtree, into the parent (centred
  when it fits, at the parent's start when it is longer), as Jaeger's skew adjuster does.
  A child that starts inside and ends after its parent is real (a timed-out call whose server
  kept working) and is only clamped;
* every child is clamped to its (clamped) parent;
* the critical path: walk back from the parent's end, each time taking the last-finishing child
  that ended at or before the cursor, recursing into it, and moving the cursor to its start;
  the gaps are the parent's own time on the path. Segments add up to the root's duration;
* self time: the (clamped) duration minus the union of the children's intervals.
All times are integer microseconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from chaosctl.verdict.spans import Span


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
    trace_id: str
    root: Span
    duration_us: int
    spans: tuple[SpanResult, ...]
    path: tuple[Segment, ...]  # time-ordered, consecutive segments of one span merged
    orphans: int = 0  # spans whose parent was missing, attached to the root
    skew_adjusted: int = 0  # spans shifted for clock skew (with their subtrees)


def analyze(spans: Iterable[Span]) -> list[TraceAnalysis]:
    """Analyse every trace in `spans` (grouped by trace id; duplicate span ids kept once)."""
    by_trace: dict[str, dict[str, Span]] = defaultdict(dict)
    for s in spans:
        by_trace[s.trace_id].setdefault(s.span_id, s)
    return [analyze_trace(list(group.values())) for group in by_trace.values()]


def analyze_trace(spans: Sequence[Span]) -> TraceAnalysis:
    if not spans:
        raise ValueError("a trace needs at least one span")
    by_id: dict[str, Span] = {}
    for s in spans:
        by_id.setdefault(s.span_id, s)
    spans = list(by_id.values())
    root, children, orphans = _tree(spans, by_id)
    eff, order, skewed = _effective_intervals(root, children, by_id)
    kids_by_end = {sid: sorted(kids, key=lambda c: (-eff[c][1], eff[c][0], c)) for sid, kids in children.items()}
    raw_segments = _walk(root.span_id, eff, kids_by_end)
    critical: dict[str, int] = defaultdict(int)
    for sid, a, b in raw_segments:
        critical[sid] += b - a
    results = tuple(
        SpanResult(
            span=by_id[sid],
            start_us=eff[sid][0],
            end_us=eff[sid][1],
            self_us=_self_time(eff[sid], [eff[c] for c in children.get(sid, ())]),
            critical_us=critical.get(sid, 0),
        )
        for sid in order
    )
    return TraceAnalysis(
        trace_id=root.trace_id,
        root=root,
        duration_us=eff[root.span_id][1] - eff[root.span_id][0],
        spans=results,
        path=_merge(raw_segments, by_id),
        orphans=orphans,
        skew_adjusted=skewed,
    )


def _tree(spans: Sequence[Span], by_id: dict[str, Span]) -> tuple[Span, dict[str, list[str]], int]:
    """Pick the root and build child lists; re-home orphans (and cycles) under the root."""
    roots = [s for s in spans if s.parent_id is None]
    candidates = roots or [s for s in spans if s.parent_id not in by_id] or list(spans)
    root = min(candidates, key=lambda s: (s.start_us, -s.end_us, s.span_id))
    children: dict[str, list[str]] = defaultdict(list)
    orphans = 0
    for s in spans:
        if s is root:
            continue
        if s.parent_id is None or s.parent_id not in by_id:
            orphans += 1
            children[root.span_id].append(s.span_id)
        else:
            children[s.parent_id].append(s.span_id)
    reached = _reachable(root.span_id, children)
    if len(reached) < len(by_id):  # a parent cycle: cut it and hang its members on the root
        for kids in children.values():
            kids[:] = [k for k in kids if k in reached]
        for sid in by_id:
            if sid not in reached:
                orphans += 1
                children[root.span_id].append(sid)
                children.pop(sid, None)
    return root, children, orphans


def _reachable(root_id: str, children: dict[str, list[str]]) -> set[str]:
    seen, todo = {root_id}, [root_id]
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def _effective_intervals(
    root: Span, children: dict[str, list[str]], spans_of: dict[str, Span]
) -> tuple[dict[str, tuple[int, int]], list[str], int]:
    """Top-down: shift skewed cross-service children (with their subtree), clamp to the parent."""
    eff = {root.span_id: (root.start_us, root.end_us)}
    shift = {root.span_id: 0}
    order, skewed = [root.span_id], 0
    i = 0
    while i < len(order):
        pid = order[i]
        i += 1
        parent = spans_of[pid]
        ps, pe = eff[pid]
        for cid in children.get(pid, ()):
            c = spans_of[cid]
            cs, ce = c.start_us + shift[pid], c.end_us + shift[pid]
            own = 0
            if c.service != parent.service and (cs < ps or cs > pe):
                dur, pdur = ce - cs, pe - ps
                own = (ps + (pdur - dur) // 2 if dur <= pdur else ps) - cs
                cs, ce = cs + own, ce + own
                skewed += 1
            shift[cid] = shift[pid] + own
            eff[cid] = (min(max(cs, ps), pe), min(max(ce, ps), pe))
            order.append(cid)
    return eff, order, skewed


def _walk(
    root_id: str, eff: dict[str, tuple[int, int]], kids_by_end: dict[str, list[str]]
) -> list[tuple[str, int, int]]:
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


def _self_time(interval: tuple[int, int], kids: list[tuple[int, int]]) -> int:
    start, end = interval
    covered, cur_s, cur_e = 0, None, None
    for s, e in sorted(kids):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                covered += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
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
