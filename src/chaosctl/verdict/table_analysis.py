"""The bottleneck aggregate computed straight from a `SpanTable`, one trace at a time, without
building a `TraceAnalysis` per root: the same rules as `critical_path` (its docstring is the
specification; `aggregate(analyze(spans))` is the reference this module is tested against), on
lists of integers indexed by a span's row in its trace.

`Aggregator` keeps running sums per (service, operation): critical-path microseconds, error
counts, and every self time and duration in an `array('q')` (8 bytes a value: percentiles stay
exact, 16 bytes per span in all). Tables are added one after the other (a file, or Jaeger's
pages of a long run) and a trace id seen in an earlier table is skipped, as the fetch dedups it.
The rows are analysed by the vector kernel (`table_vector`, numpy); the traces it leaves (deep,
wide, duplicate ids, cycles) by the per-trace kernel (`table_kernel`), and those that leaves
(duplicate span ids, a parent cycle) by `critical_path.analyze_trace`, folded in the same way.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from fnmatch import fnmatchcase
from operator import sub

import numpy as np

from chaosctl.observe.span_table import SpanTable
from chaosctl.verdict.bottleneck import Aggregate, rows_of
from chaosctl.verdict.critical_path import analyze_trace
from chaosctl.verdict.table_kernel import ASYNC, DROPPED, Rare, Rows, trace
from chaosctl.verdict.table_vector import Result, Unfit, analyse, group_key


class Aggregator:
    """Bottleneck sums over tables added one by one; `result()` is `aggregate(analyze(...))` of them all."""

    def __init__(self, root_globs: Sequence[str] | str | None = None, vector: bool = True) -> None:
        self.vector = vector  # False: every trace by the per-trace kernel (what the vector kernel falls back to)
        self.root_globs = (root_globs,) if isinstance(root_globs, str) else tuple(root_globs or ())
        self.crit: dict[tuple[str, str], int] = {}
        self.selfs: dict[tuple[str, str], array] = {}
        self.durs: dict[tuple[str, str], array] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.seen: set[str] = set()
        self.counts = {"traces": 0, "spans": 0, "orphans": 0, "skew": 0, ASYNC: 0, DROPPED: 0, "total_us": 0}

    def add(self, table: SpanTable) -> None:
        if not len(table):
            return
        skip = np.fromiter(map(self.seen.__contains__, table.trace_ids), bool, len(table.trace_ids))  # read from an earlier page
        self.seen.update(table.trace_ids)
        glob_ops = [self._matches(op) for _, op in table.names] if self.root_globs else None
        try:
            if not self.vector:
                raise Unfit
            res = analyse(table, skip, None if glob_ops is None else np.array(glob_ops, bool))
        except Unfit:  # every trace by the per-trace kernel
            n = len(table)
            res = Result(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, bool), np.flatnonzero(~skip).tolist(), {})
        for name, v in res.counts.items():
            self.counts[name] += v
        if res.python:
            self._per_trace(table, res, glob_ops)
        self._group(table, res)

    def _per_trace(self, table: SpanTable, res: Result, glob_ops: list[bool] | None) -> None:
        """The traces the vector kernel left (table_kernel; critical_path for the rare ones), into `res`."""
        rows = Rows(*(c.tolist() for c in (table.span_id, table.parent_id, table.start_us, table.end_us, table.name,
                                            table.clock, table.flags)))
        b = table.bounds
        for t in res.python:
            a, z = b[t], b[t + 1]
            try:
                kept = trace(rows, a, z, glob_ops, self.counts)
            except Rare:
                rows.reset(a, z)
                kept = self._reference(table, t, rows)
            res.self_us[a:z] = list(map(sub, map(sub, rows.eff_e[a:z], rows.eff_s[a:z]), rows.cover[a:z]))
            res.crit_us[a:z] = rows.crit[a:z]
            res.keep[a:z] = True if kept is None else np.frombuffer(kept, np.uint8).astype(bool)

    def _group(self, table: SpanTable, res: Result) -> None:
        """Add each kept row's times to its (service, operation): per name, values sorted (numpy)."""
        idx = np.flatnonzero(res.keep)
        if not idx.size:
            return
        st, en = np.frombuffer(table.start_us, np.int64)[idx], np.frombuffer(table.end_us, np.int64)[idx]
        if int(en.max()) - int(st.min()) >= 2**63:
            raise OverflowError("span times too far apart for 64-bit durations")
        names = np.frombuffer(table.name, np.uint32)[idx]
        selfs, durs, crit = res.self_us[idx], en - st, res.crit_us[idx]
        errors = (np.frombuffer(table.flags, np.uint8)[idx] & 1).astype(np.int64)
        by_self, by_dur = _by_name_then(names, selfs), _by_name_then(names, durs)
        names = names[by_self]
        starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
        edges = np.r_[starts, idx.size].tolist()
        crit, selfs, durs = crit[by_self], selfs[by_self], durs[by_dur]
        exact = int(crit.max()) <= 2**62 // idx.size  # else the sums in Python integers
        crit_sums = np.add.reduceat(crit, starts).tolist() if exact else [sum(crit[a:z].tolist()) for a, z in zip(edges, edges[1:])]
        error_sums = np.add.reduceat(errors[by_self], starts).tolist()
        for g, n in enumerate(names[starts].tolist()):
            key, a, z = table.names[n], edges[g], edges[g + 1]
            self.crit[key] = self.crit.get(key, 0) + crit_sums[g]
            self.errors[key] = self.errors.get(key, 0) + error_sums[g]
            self.selfs.setdefault(key, array("q")).frombytes(selfs[a:z].tobytes())
            self.durs.setdefault(key, array("q")).frombytes(durs[a:z].tobytes())

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


def _by_name_then(names: np.ndarray, values: np.ndarray) -> np.ndarray:
    """An order by name, then value. Not stable, which nothing sees: rows of one name and one
    value are only summed (crit, errors) or read as values."""
    key = group_key(names, values)
    return np.lexsort((values, names)) if key is None else np.argsort(key)


def aggregate_table(table: SpanTable, root_glob: Sequence[str] | str | None = None) -> Aggregate:
    """`aggregate(analyze(spans))` (filtered as `--root-operation` filters) of the table's spans."""
    agg = Aggregator(root_glob)
    agg.add(table)
    return agg.result()


