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
from collections.abc import Sequence
from bisect import bisect_left
from fnmatch import fnmatchcase
from itertools import compress
from operator import sub

from chaosctl.observe.span_table import SpanTable
from chaosctl.verdict.bottleneck import Aggregate, rows_of
from chaosctl.verdict.critical_path import analyze_trace
from chaosctl.verdict.table_kernel import ASYNC, DROPPED, Rare, Rows, trace

_ERROR_BIT = bytes(f & 1 for f in range(256))  # flags -> 1 when the ERROR bit is set


class Aggregator:
    """Bottleneck sums over tables added one by one; `result()` is `aggregate(analyze(...))` of them all."""

    def __init__(self, root_globs: Sequence[str] | str | None = None) -> None:
        self.root_globs = (root_globs,) if isinstance(root_globs, str) else tuple(root_globs or ())
        self.crit: dict[tuple[str, str], int] = {}
        self.selfs: dict[tuple[str, str], array] = {}
        self.durs: dict[tuple[str, str], array] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.seen: set[str] = set()
        self.counts = {"traces": 0, "spans": 0, "orphans": 0, "skew": 0, ASYNC: 0, DROPPED: 0, "total_us": 0}

    def add(self, table: SpanTable) -> None:
        rows = Rows(*(c.tolist() for c in (table.span_id, table.parent_id, table.start_us, table.end_us, table.name,
                                            table.clock, table.flags)))
        glob_ops = [self._matches(op) for _, op in table.names] if self.root_globs else None
        keep: bytearray | None = None if glob_ops is None else bytearray(len(table))
        b = table.bounds
        for t, tid in enumerate(table.trace_ids):
            a, z = b[t], b[t + 1]
            if tid in self.seen:  # read already from an earlier page
                keep = keep if keep is not None else bytearray(b"\1") * len(table)
                keep[a:z] = bytes(z - a)
                continue
            self.seen.add(tid)
            try:
                kept = trace(rows, a, z, glob_ops, self.counts)
            except Rare:
                rows.reset(a, z)
                kept = self._reference(table, t, rows)
            if kept is not None:
                keep = keep if keep is not None else bytearray(b"\1") * len(table)
                keep[a:z] = kept
        self._group(table, rows, keep)

    def _group(self, table: SpanTable, rows: Rows, keep: bytearray | None) -> None:
        """Add each kept row's times to its (service, operation)."""
        self_all = list(map(sub, map(sub, rows.eff_e, rows.eff_s), rows.cover))
        crit_all = rows.crit
        by_name = sorted(range(len(table)), key=rows.nm.__getitem__)  # C-level: no Python step per row
        names = array("I", map(rows.nm.__getitem__, by_name))
        if keep is not None:
            by_name = list(compress(by_name, map(keep.__getitem__, by_name)))
            names = array("I", map(rows.nm.__getitem__, by_name))
        start, end, flags = rows.st, rows.en, table.flags
        for n, key in enumerate(table.names):
            lo, hi = bisect_left(names, n), bisect_left(names, n + 1)
            if lo == hi:
                continue
            ix = by_name[lo:hi]
            self.crit[key] = self.crit.get(key, 0) + sum(map(crit_all.__getitem__, ix))
            self.errors[key] = self.errors.get(key, 0) + bytes(map(flags.__getitem__, ix)).translate(_ERROR_BIT).count(1)
            self.selfs.setdefault(key, array("q")).extend(array("q", list(map(self_all.__getitem__, ix))))
            self.durs.setdefault(key, array("q")).extend(array("q", list(map(sub, map(end.__getitem__, ix), map(start.__getitem__, ix)))))

    def _matches(self, operation: str) -> bool:
        return any(fnmatchcase(operation, g) for g in self.root_globs)

    def _reference(self, table: SpanTable, t: int, rows: Rows) -> bytes:
        """critical_path.analyze_trace's answer for a rare trace, written into `rows` (eff_e - cover
        is then the self time) and the counts; the rows it kept."""
        a = table.bounds[t]
        spans = table.spans(t)
        analyses = analyze_trace(spans)
        if self.root_globs:
            kept = {x.root.span_id for x in analyses if x.synchronous and self._matches(x.root.operation)}
            analyses = [x for x in analyses if (x.root.span_id if x.synchronous else x.origin) in kept]
        row = {}
        for i, s in enumerate(spans):
            row.setdefault(s.span_id, a + i)  # duplicates: the first is the one analysed
        keep, c = bytearray(len(spans)), self.counts
        for x in analyses:
            for r in x.spans:
                i = row[r.span.span_id]
                rows.eff_s[i], rows.eff_e[i], rows.cover[i] = 0, r.self_us, 0
                rows.crit[i], keep[i - a] = r.critical_us if x.synchronous else 0, 1
            c["orphans"] += x.orphans
            c["skew"] += x.skew_adjusted
            c["spans"] += len(x.spans)
            if x.synchronous:
                c["total_us"] += x.duration_us
            else:
                c[x.kind] += len(x.spans)
        c["traces"] += bool(analyses)
        return bytes(keep)

    def result(self) -> Aggregate:
        c = self.counts
        return Aggregate(rows_of(self.crit, self.selfs, self.durs, self.errors, c["total_us"], c["traces"]),
                         c["traces"], c["spans"], c["orphans"], c["skew"], c[ASYNC], c[DROPPED])


def aggregate_table(table: SpanTable, root_glob: Sequence[str] | str | None = None) -> Aggregate:
    """`aggregate(analyze(spans))` (filtered as `--root-operation` filters) of the table's spans."""
    agg = Aggregator(root_glob)
    agg.add(table)
    return agg.result()


