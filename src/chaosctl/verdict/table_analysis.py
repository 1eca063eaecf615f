"""The bottleneck aggregate computed straight from a `SpanTable`, one trace at a time, without
building a `TraceAnalysis` per root: the same rules as `critical_path` (its docstring is the
specification; `aggregate(analyze(spans))` is the reference this module is tested against), on
lists of integers indexed by a span's row in its trace.

`Aggregator` keeps running sums per (service, operation): critical-path microseconds, error
counts, and every self time and duration in an `array('q')` (8 bytes a value: percentiles stay
exact, 16 bytes per span in all). Tables are added one after the other (a file, or Jaeger's
pages of a long run) and a trace id seen in an earlier table is skipped, as the fetch dedups it.
A trace this module does not handle itself (duplicate span ids, a parent cycle) is analysed by
`critical_path.analyze_trace` and folded in the same way.
"""

from __future__ import annotations

from array import array
from fnmatch import fnmatchcase

from chaosctl.observe.span_table import FOLLOWS, KIND_CODE, SpanTable
from chaosctl.verdict.bottleneck import Aggregate, rows_of
from chaosctl.verdict.critical_path import analyze_trace

PRODUCER, CONSUMER = KIND_CODE["producer"], KIND_CODE["consumer"]
ROOT, ORPHAN, ASYNC, DROPPED = "root", "orphan", "async", "dropped"


class _Rare(Exception):
    """A trace for the reference analysis (duplicate span ids, a parent cycle)."""


class Aggregator:
    """Bottleneck sums over tables added one by one; `result()` is `aggregate(analyze(...))` of them all."""

    def __init__(self, root_glob: str | None = None) -> None:
        self.root_glob = root_glob
        self.crit: dict[tuple[str, str], int] = {}
        self.selfs: dict[tuple[str, str], array] = {}
        self.durs: dict[tuple[str, str], array] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.seen: set[str] = set()
        self.counts = {"traces": 0, "spans": 0, "orphans": 0, "skew": 0, ASYNC: 0, DROPPED: 0, "total_us": 0}

    def add(self, table: SpanTable) -> None:
        k = len(table.names)
        acc = _Local([0] * k, [[] for _ in range(k)], [[] for _ in range(k)], [0] * k, self.counts)
        cols = (table.span_id, table.parent_id, table.start_us, table.end_us, table.name, table.clock, table.flags)
        glob_ops = self._root_matches(table)
        b = table.bounds
        for t, tid in enumerate(table.trace_ids):
            if tid in self.seen:
                continue
            self.seen.add(tid)
            a, z = b[t], b[t + 1]
            try:
                _trace([c[a:z].tolist() for c in cols], acc, glob_ops)
            except _Rare:
                self._reference(table, t, acc)
        for n, key in enumerate(table.names):
            if acc.selfs[n]:
                self.crit[key] = self.crit.get(key, 0) + acc.crit[n]
                self.errors[key] = self.errors.get(key, 0) + acc.errors[n]
                self.selfs.setdefault(key, array("q")).extend(acc.selfs[n])
                self.durs.setdefault(key, array("q")).extend(acc.durs[n])

    def _root_matches(self, table: SpanTable) -> list[bool] | None:
        if self.root_glob is None:
            return None
        return [fnmatchcase(op, self.root_glob) for _, op in table.names]

    def _reference(self, table: SpanTable, t: int, acc: "_Local") -> None:
        from chaosctl.verdict.critical_path import TraceAnalysis

        analyses: list[TraceAnalysis] = analyze_trace(table.spans(t))
        if self.root_glob is not None:
            kept = {a.root.span_id for a in analyses if a.synchronous and fnmatchcase(a.root.operation, self.root_glob)}
            analyses = [a for a in analyses if (a.root.span_id if a.synchronous else a.origin) in kept]
        index = {key: n for n, key in enumerate(table.names)}
        for a in analyses:
            acc.analysis(a.kind, a.orphans, a.skew_adjusted, a.duration_us, len(a.spans))
            for r in a.spans:
                n = index[(r.span.service, r.span.operation)]
                acc.span(n, r.critical_us if a.synchronous else 0, r.self_us, r.span.duration_us, r.span.error)
        acc.counts["traces"] += bool(analyses)

    def result(self) -> Aggregate:
        c = self.counts
        return Aggregate(rows_of(self.crit, self.selfs, self.durs, self.errors, c["total_us"], c["traces"]),
                         c["traces"], c["spans"], c["orphans"], c["skew"], c[ASYNC], c[DROPPED])


class _Local:
    """One table's sums by name index (lists: cheaper to append to than dicts of arrays)."""

    __slots__ = ("crit", "selfs", "durs", "errors", "counts")

    def __init__(self, crit: list[int], selfs: list[list[int]], durs: list[list[int]], errors: list[int], counts: dict) -> None:
        self.crit, self.selfs, self.durs, self.errors, self.counts = crit, selfs, durs, errors, counts

    def analysis(self, kind: str, orphan: int, skewed: int, duration: int, spans: int) -> None:
        c = self.counts
        c["orphans"] += orphan
        c["skew"] += skewed
        c["spans"] += spans
        if kind in (ROOT, ORPHAN):
            c["total_us"] += duration
        else:
            c[kind] += spans

    def span(self, n: int, crit: int, self_us: int, dur: int, error: bool) -> None:
        self.crit[n] += crit
        self.selfs[n].append(self_us)
        self.durs[n].append(dur)
        self.errors[n] += error


def aggregate_table(table: SpanTable, root_glob: str | None = None) -> Aggregate:
    """`aggregate(analyze(spans))` (filtered as `--root-operation` filters) of the table's spans."""
    agg = Aggregator(root_glob)
    agg.add(table)
    return agg.result()


def _trace(cols: list[list[int]], acc: _Local, glob_ops: list[bool] | None) -> None:
    sid, pid, st, en, nm, ck, fl = cols
    children, roots = _forest(sid, pid, st, en)
    adj_s, adj_e, shifted = _skew(children, roots, st, en, ck, len(sid))
    eff_s, eff_e = adj_s[:], adj_e[:]
    self_us, crit = [0] * len(sid), [0] * len(sid)
    todo = [(r, ASYNC if fl[r] & FOLLOWS else (ORPHAN if pid[r] else ROOT), -1) for r in roots]
    kept = set()
    for r, kind, origin in todo:  # grows while iterating: detached subtrees are analysed after
        order, skids = _subtree(r, children, adj_s, adj_e, eff_s, eff_e, fl, todo, origin if origin >= 0 else r)
        on_path = kind is ROOT or kind is ORPHAN
        if glob_ops is not None:
            if on_path and glob_ops[nm[r]]:
                kept.add(r)
            if (r if on_path else origin) not in kept:
                continue
        _self_times(order, skids, eff_s, eff_e, self_us)
        if on_path:
            _walk(r, skids, eff_s, eff_e, sid, crit)
        acc.analysis(kind, origin < 0 and pid[r] != 0, sum([shifted[i] for i in order]) if shifted else 0,
                     eff_e[r] - eff_s[r], len(order))
        c_crit, c_selfs, c_durs, c_err = acc.crit, acc.selfs, acc.durs, acc.errors
        for i in order:
            n = nm[i]
            c_crit[n] += crit[i]
            c_selfs[n].append(self_us[i])
            c_durs[n].append(en[i] - st[i])
            c_err[n] += fl[i] & 1
    acc.counts["traces"] += glob_ops is None or bool(kept)


def _forest(sid: list[int], pid: list[int], st: list[int], en: list[int]) -> tuple[dict[int, list[int]], list[int]]:
    """Children by row, and the roots (no parent, parent missing, own parent) in analysis order."""
    pos = dict(zip(sid, range(len(sid))))
    if len(pos) != len(sid):
        raise _Rare  # duplicate span ids: the first is kept (the reference does it)
    children: dict[int, list[int]] = {}
    roots = []
    for i, p in enumerate(pid):
        j = pos.get(p) if p else None
        if j is None or j == i:
            roots.append(i)
        elif j in children:
            children[j].append(i)
        else:
            children[j] = [i]
    if len(roots) > 1:
        roots.sort(key=lambda r: (pid[r] != 0, st[r], -en[r], sid[r]))
    return children, roots


def _skew(children: dict[int, list[int]], roots: list[int], st: list[int], en: list[int], ck: list[int], m: int
          ) -> tuple[list[int], list[int], list[int] | None]:
    """Jaeger's adjuster (critical_path._skew) over rows; None for `shifted` when nothing moved."""
    adj_s, adj_e = st[:], en[:]
    delta: dict[int, int] = {}
    shifted = None
    order = roots[:]
    for p in order:  # grows while iterating: breadth-first
        kids = children.get(p)
        if kids is None:
            continue
        ps, pe, pc, d0 = adj_s[p], adj_e[p], ck[p], delta.get(p, 0)
        for c in kids:
            order.append(c)
            d = d0
            if ck[c] != pc:
                cs, ce = st[c], en[c]
                d = 0 if cs >= ps else (ps - cs if ce - cs > pe - ps else ps + ((pe - ps) - (ce - cs)) // 2 - cs)
                if d:
                    if shifted is None:
                        shifted = [0] * m
                    shifted[c] = 1
            if d:
                delta[c] = d
                adj_s[c] += d
                adj_e[c] += d
    if len(order) != m:
        raise _Rare  # a parent cycle: the reference cuts it
    return adj_s, adj_e, shifted


def _subtree(r: int, children: dict[int, list[int]], adj_s: list[int], adj_e: list[int], eff_s: list[int],
             eff_e: list[int], fl: list[int], todo: list, base: int) -> tuple[list[int], dict[int, list[int]]]:
    """critical_path._synchronous_subtree: clamps into eff_*, queues detached children on `todo`."""
    order = [r]
    skids: dict[int, list[int]] = {}
    for p in order:  # grows while iterating
        kids = children.get(p)
        if kids is None:
            continue
        ps, pe = eff_s[p], eff_e[p]
        producer = fl[p] >> 2 == PRODUCER
        sync = []
        for c in kids:
            f = fl[c]
            if f & FOLLOWS or (producer and f >> 2 == CONSUMER):
                todo.append((c, ASYNC, base))
                continue
            cs, ce = adj_s[c], adj_e[c]
            if cs >= pe or (cs < ps and ce <= ps):
                todo.append((c, DROPPED, base))
                continue
            eff_s[c] = ps if cs < ps else (pe if cs > pe else cs)
            eff_e[c] = ps if ce < ps else (pe if ce > pe else ce)
            sync.append(c)
        if sync:
            skids[p] = sync
            order.extend(sync)
    return order, skids


def _self_times(order: list[int], skids: dict[int, list[int]], eff_s: list[int], eff_e: list[int], out: list[int]) -> None:
    """Duration minus the union of the synchronous children's intervals."""
    for i in order:
        kids = skids.get(i)
        if kids is None:
            out[i] = eff_e[i] - eff_s[i]
            continue
        ivs = sorted([(eff_s[c], eff_e[c]) for c in kids])
        covered = 0
        cur_s, cur_e = ivs[0]
        for s, e in ivs:
            if s > cur_e:
                covered += cur_e - cur_s
                cur_s, cur_e = s, e
            elif e > cur_e:
                cur_e = e
        out[i] = eff_e[i] - eff_s[i] - covered - (cur_e - cur_s)


def _walk(r: int, skids: dict[int, list[int]], eff_s: list[int], eff_e: list[int], sid: list[int], crit: list[int]) -> None:
    """critical_path._walk, adding each segment's length to its span's `crit` (a leaf on the path
    is taken whole without a frame of its own)."""
    for kids in skids.values():
        if len(kids) > 1:
            kids.sort(key=lambda c: (-eff_e[c], eff_s[c], sid[c]))  # hex ids of one length sort as their integers
    frames = [[r, 0, eff_e[r]]]
    while frames:
        frame = frames[-1]
        p, i, cursor = frame
        kids = skids.get(p, ())
        n = len(kids)
        while i < n:
            c = kids[i]
            i += 1
            cs, ce = eff_s[c], eff_e[c]
            if cs < ce <= cursor:
                if ce < cursor:
                    crit[p] += cursor - ce
                cursor = cs
                if c in skids:
                    frame[1], frame[2] = i, cs
                    frames.append([c, 0, ce])
                    break
                crit[c] += ce - cs
        else:
            if cursor > eff_s[p]:
                crit[p] += cursor - eff_s[p]
            frames.pop()
