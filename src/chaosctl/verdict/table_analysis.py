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
from itertools import compress
from operator import sub

from chaosctl.observe.span_table import FOLLOWS, KIND_CODE, SpanTable
from chaosctl.verdict.bottleneck import Aggregate, rows_of
from chaosctl.verdict.critical_path import analyze_trace

PRODUCER, CONSUMER = KIND_CODE["producer"], KIND_CODE["consumer"]
ROOT, ORPHAN, ASYNC, DROPPED = "root", "orphan", "async", "dropped"
_ERROR_BIT = bytes(f & 1 for f in range(256))  # flags -> 1 when the ERROR bit is set


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
        cols = (table.span_id, table.parent_id, table.start_us, table.end_us, table.name, table.clock, table.flags)
        glob_ops = None if self.root_glob is None else [fnmatchcase(op, self.root_glob) for _, op in table.names]
        self_all: list[int] = []
        crit_all: list[int] = []
        keep: bytearray | None = None if glob_ops is None else bytearray(len(table))
        b = table.bounds
        for t, tid in enumerate(table.trace_ids):
            a, z = b[t], b[t + 1]
            if tid in self.seen:  # read already from an earlier page
                keep = keep if keep is not None else bytearray(b"\1") * len(table)
                keep[a:z] = bytes(z - a)
                self_all += [0] * (z - a)
                crit_all += [0] * (z - a)
                continue
            self.seen.add(tid)
            try:
                self_us, crit, kept, counts = _trace([c[a:z].tolist() for c in cols], glob_ops)
            except _Rare:
                self_us, crit, kept, counts = self._reference(table, t)
            self_all += self_us
            crit_all += crit
            if kept is not None:
                keep = keep if keep is not None else bytearray(b"\1") * len(table)
                keep[a:z] = bytes(kept)
            self._count(counts)
        self._group(table, self_all, crit_all, keep)

    def _count(self, counts: "_Counts") -> None:
        c = self.counts
        for name in c:
            c[name] += getattr(counts, name)

    def _group(self, table: SpanTable, self_all: list[int], crit_all: list[int], keep: bytearray | None) -> None:
        """Add each kept row's times to its (service, operation)."""
        rows_of_name: list[list[int]] = [[] for _ in table.names]
        for i, n in enumerate(table.name):  # the one Python step per row; the rest runs in C (map)
            rows_of_name[n].append(i)
        start, end, flags = table.start_us, table.end_us, table.flags
        for n, rows in enumerate(rows_of_name):
            if keep is not None:
                rows = list(compress(rows, map(keep.__getitem__, rows)))
            if not rows:
                continue
            key = table.names[n]
            self.crit[key] = self.crit.get(key, 0) + sum(map(crit_all.__getitem__, rows))
            self.errors[key] = self.errors.get(key, 0) + bytes(map(flags.__getitem__, rows)).translate(_ERROR_BIT).count(1)
            self.selfs.setdefault(key, array("q")).extend(map(self_all.__getitem__, rows))
            self.durs.setdefault(key, array("q")).extend(map(sub, map(end.__getitem__, rows), map(start.__getitem__, rows)))

    def _reference(self, table: SpanTable, t: int) -> tuple[list[int], list[int], list[int], "_Counts"]:
        """critical_path.analyze_trace's answer for a rare trace, as rows of the table."""
        spans = table.spans(t)
        analyses = analyze_trace(spans)
        if self.root_glob is not None:
            kept = {a.root.span_id for a in analyses if a.synchronous and fnmatchcase(a.root.operation, self.root_glob)}
            analyses = [a for a in analyses if (a.root.span_id if a.synchronous else a.origin) in kept]
        row = {}
        for i, s in enumerate(spans):
            row.setdefault(s.span_id, i)  # duplicates: the first is the one analysed
        self_us, crit, keep, counts = [0] * len(spans), [0] * len(spans), [0] * len(spans), _Counts()
        for a in analyses:
            for r in a.spans:
                i = row[r.span.span_id]
                self_us[i], crit[i], keep[i] = r.self_us, r.critical_us if a.synchronous else 0, 1
            counts.orphans += a.orphans
            counts.skew += a.skew_adjusted
            counts.spans += len(a.spans)
            if a.synchronous:
                counts.total_us += a.duration_us
            else:
                setattr(counts, a.kind, getattr(counts, a.kind) + len(a.spans))
        counts.traces = int(bool(analyses))
        return self_us, crit, keep, counts

    def result(self) -> Aggregate:
        c = self.counts
        return Aggregate(rows_of(self.crit, self.selfs, self.durs, self.errors, c["total_us"], c["traces"]),
                         c["traces"], c["spans"], c["orphans"], c["skew"], c[ASYNC], c[DROPPED])


def aggregate_table(table: SpanTable, root_glob: str | None = None) -> Aggregate:
    """`aggregate(analyze(spans))` (filtered as `--root-operation` filters) of the table's spans."""
    agg = Aggregator(root_glob)
    agg.add(table)
    return agg.result()


class _Counts:
    """One trace's counts, committed to the aggregator only once the whole trace is read."""

    __slots__ = ("traces", "spans", "orphans", "skew", ASYNC, DROPPED, "total_us")

    def __init__(self) -> None:
        self.traces = self.spans = self.orphans = self.skew = self.total_us = 0
        setattr(self, ASYNC, 0)
        setattr(self, DROPPED, 0)


def _trace(cols: list[list[int]], glob_ops: list[bool] | None) -> tuple[list[int], list[int], list[int] | None, _Counts]:
    """Self and critical-path time per row, the rows kept by the root glob (None: all) and the counts."""
    sid, pid, st, en, nm, ck, fl = cols
    children, roots = _forest(sid, pid, st, en)
    eff_s, eff_e = st[:], en[:]
    skids: dict[int, list[int]] = {}
    shifted: set[int] = set()
    todo = [(r, ASYNC if fl[r] & FOLLOWS else (ORPHAN if pid[r] else ROOT), -1) for r in roots]
    on_path, kept, keep = [], set(), None if glob_ops is None else [0] * len(sid)
    counts, visited = _Counts(), 0
    bfs = _Bfs(children, st, en, ck, fl, eff_s, eff_e, skids, shifted, todo)
    for r, kind, origin in todo:  # grows while iterating: detached subtrees are analysed after
        order = bfs.subtree(r, origin if origin >= 0 else r)
        visited += len(order)
        sync = kind is ROOT or kind is ORPHAN
        if keep is not None:
            if sync and glob_ops[nm[r]]:  # type: ignore[index]
                kept.add(r)
            if (r if sync else origin) not in kept:
                continue
            for i in order:
                keep[i] = 1
        if sync:
            on_path.append(r)
            counts.total_us += eff_e[r] - eff_s[r]
        else:
            setattr(counts, kind, getattr(counts, kind) + len(order))
        counts.orphans += origin < 0 and pid[r] != 0
        counts.skew += sum([i in shifted for i in order]) if shifted else 0
        counts.spans += len(order)
    if visited != len(sid):
        raise _Rare  # a parent cycle: the reference cuts it
    counts.traces = int(keep is None or bool(kept))
    return _self_times(skids, eff_s, eff_e), _critical(on_path, skids, eff_s, eff_e, sid), keep, counts


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


class _Bfs:
    """One trace's rows, walked top-down from each root in turn."""

    def __init__(self, children, st, en, ck, fl, eff_s, eff_e, skids, shifted, todo) -> None:  # noqa: ANN001
        self.children, self.st, self.en, self.ck, self.fl = children, st, en, ck, fl
        self.eff_s, self.eff_e, self.skids, self.shifted, self.todo = eff_s, eff_e, skids, shifted, todo
        self.adj_s, self.adj_e, self.delta = st[:], en[:], {}

    def subtree(self, r: int, base: int) -> list[int]:
        """critical_path._skew and ._synchronous_subtree in one pass: each child is shifted for
        clock skew against its parent's adjusted interval, then detached (queued on `todo` with
        the synchronous root it came from) or clamped to its parent's effective interval."""
        children, st, en, ck, fl, adj_s, adj_e, delta = (
            self.children, self.st, self.en, self.ck, self.fl, self.adj_s, self.adj_e, self.delta)
        eff_s, eff_e, todo = self.eff_s, self.eff_e, self.todo
        order = [r]
        for p in order:  # grows while iterating
            kids = children.get(p)
            if kids is None:
                continue
            ps, pe, aps, ape, pc, d0 = eff_s[p], eff_e[p], adj_s[p], adj_e[p], ck[p], delta.get(p, 0)
            producer = fl[p] >> 2 == PRODUCER
            sync = []
            for c in kids:
                cs, ce = st[c], en[c]
                d = d0
                if ck[c] != pc:
                    d = 0 if cs >= aps else (aps - cs if ce - cs > ape - aps else aps + ((ape - aps) - (ce - cs)) // 2 - cs)
                    if d:
                        self.shifted.add(c)
                if d:
                    delta[c] = d
                    cs += d
                    ce += d
                    adj_s[c] = eff_s[c] = cs
                    adj_e[c] = eff_e[c] = ce
                f = fl[c]
                if f & FOLLOWS or (producer and f >> 2 == CONSUMER):
                    todo.append((c, ASYNC, base))
                elif cs >= pe or (cs < ps and ce <= ps):
                    todo.append((c, DROPPED, base))
                else:
                    eff_s[c] = ps if cs < ps else (pe if cs > pe else cs)
                    eff_e[c] = ps if ce < ps else (pe if ce > pe else ce)
                    sync.append(c)
            if sync:
                self.skids[p] = sync
                order.extend(sync)
        return order


def _self_times(skids: dict[int, list[int]], eff_s: list[int], eff_e: list[int]) -> list[int]:
    """Duration minus the union of the synchronous children's intervals."""
    out = [e - s for s, e in zip(eff_s, eff_e)]
    for i, kids in skids.items():
        if len(kids) == 1:
            c = kids[0]
            out[i] -= eff_e[c] - eff_s[c]
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
        out[i] -= covered + (cur_e - cur_s)
    return out


def _critical(on_path: list[int], skids: dict[int, list[int]], eff_s: list[int], eff_e: list[int], sid: list[int]) -> list[int]:
    crit = [0] * len(sid)
    for kids in skids.values():
        if len(kids) > 1:
            kids.sort(key=lambda c: (-eff_e[c], eff_s[c], sid[c]))  # hex ids of one length sort as their integers
    for r in on_path:
        _walk(r, skids, eff_s, eff_e, crit)
    return crit


def _walk(r: int, skids: dict[int, list[int]], eff_s: list[int], eff_e: list[int], crit: list[int]) -> None:
    """critical_path._walk (children sorted by end, latest first), adding each segment's length to
    its span's `crit` (a leaf on the path is taken whole without a frame of its own)."""
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
