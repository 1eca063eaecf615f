"""The bottleneck kernel on whole columns at once (numpy): critical_path's rules for every trace of
a `SpanTable` in one pass per tree level, instead of a Python step per span (`table_kernel`).

The rules are table_kernel's (its docstring; critical_path's is the specification), reordered:
* Parents: a span id is found within its trace through one sorted array of keys mixing the trace
  number into the id (a collision between two traces is detected, and the table then goes to the
  per-trace kernel whole).
* Depths by pointer doubling; a span never reaching a root is in a parent cycle.
* Top-down, one tree level at a time: skew shift, detaching (async / dropped: the subtree becomes
  a component of its own), clamping. Every span's values depend only on its parent's.
* Covers (union of the synchronous children's intervals) and critical chains per parent: the
  children sorted per parent, made one increasing array by offsetting each parent's group by the
  widths of the groups before it, so that a running maximum and `searchsorted` work across groups.
* The critical time of the spans a synchronous root reaches through chains, again top-down.

Traces the kernel does not take (duplicate span ids, a cycle, deeper than MAX_DEPTH, a parent with
more than MAX_CHILDREN children) are listed in `Result.python` for the per-trace kernel; a table
it cannot take at all (times past +-2**60 µs, a key collision) raises `Unfit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chaosctl.observe.span_table import FOLLOWS, KIND_CODE, SpanTable

PRODUCER, CONSUMER = KIND_CODE["producer"], KIND_CODE["consumer"]
SYNC, ASYNC, DROPPED = 0, 1, 2  # kind of a span's component (the subtree it is analysed in)
MAX_DEPTH = 200  # a numpy step per level: a deeper trace costs less in the per-trace kernel
MAX_CHILDREN = 256  # a numpy step per link of a critical chain: likewise for a wider parent
_LIMIT = 2**60  # |times| within: sums of a few stay inside int64
_MIX = np.uint64(0x9E3779B97F4A7C15)  # trace number -> bits mixed into the span id (odd: a bijection)


class Unfit(Exception):
    """The table is for the per-trace kernel, whole."""


@dataclass
class Result:
    self_us: np.ndarray  # int64 per row
    crit_us: np.ndarray  # int64 per row (0 off a synchronous root's critical path)
    keep: np.ndarray  # bool per row: counted in the aggregate
    python: list[int]  # traces left to the per-trace kernel
    counts: dict[str, int]


@dataclass
class _Cols:
    tr: np.ndarray
    sid: np.ndarray
    pid: np.ndarray
    st: np.ndarray
    en: np.ndarray
    ck: np.ndarray
    kind: np.ndarray
    follows: np.ndarray
    par: np.ndarray | None = None


def columns(table: SpanTable) -> _Cols:
    sizes = np.diff(np.frombuffer(table.bounds, np.int64))
    fl = np.frombuffer(table.flags, np.uint8)
    return _Cols(np.repeat(np.arange(len(sizes), dtype=np.uint64), sizes), np.frombuffer(table.span_id, np.uint64),
                 np.frombuffer(table.parent_id, np.uint64), np.frombuffer(table.start_us, np.int64),
                 np.frombuffer(table.end_us, np.int64), np.frombuffer(table.clock, np.uint32), fl >> 2,
                 (fl & FOLLOWS) != 0)


def analyse(table: SpanTable, skip: np.ndarray, glob_ops: np.ndarray | None) -> Result:
    """The rows' self and critical times, which rows count, and the counts of the traces not in
    `skip` (bool per trace) nor left to Python; `glob_ops` (bool per name) filters roots."""
    c = columns(table)
    n, n_traces = len(c.sid), len(table.trace_ids)
    if n and max(-int(c.st.min()), int(c.en.max())) >= _LIMIT:
        raise Unfit
    c.par, rare = _parents(c, n_traces)
    depth, cyclic = _depths(c.par)
    rare[c.tr[cyclic].astype(np.intp)] = True
    rare[c.tr[depth > MAX_DEPTH].astype(np.intp)] = True
    wide = np.bincount(c.par[c.par >= 0], minlength=n) > MAX_CHILDREN
    rare[c.tr[wide].astype(np.intp)] = True
    python = np.flatnonzero(rare & ~skip).tolist()
    vec = ~(rare | skip)[c.tr.astype(np.intp)]
    depth[~vec] = -1
    levels = _levels(depth)
    eff_s, eff_e, shifted, sync, ckind, base = _top_down(c, levels)
    cover = _cover(c.par, sync, eff_s, eff_e)
    crit = _critical(c, levels, sync & (ckind == SYNC), eff_s, eff_e)
    istop = vec & (c.par < 0)
    keep = vec if glob_ops is None else vec & (ckind[base] == SYNC) & glob_ops[np.frombuffer(table.name, np.uint32)[base]]
    counts = _counts(c, keep, istop, shifted, ckind, glob_ops is not None, int(np.count_nonzero(~(rare | skip))))
    return Result(eff_e - eff_s - cover, crit, keep, python, counts)


def _parents(c: _Cols, n_traces: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's parent row (-1: a root: no parent, parent missing, own parent) and the traces
    with duplicate span ids."""
    n = len(c.sid)
    mix = c.tr * _MIX
    key = c.sid ^ mix
    order = np.argsort(key, kind="stable")
    sk = key[order]
    rare = np.zeros(n_traces, bool)
    same = np.flatnonzero(sk[1:] == sk[:-1])
    if same.size:
        a, b = order[same], order[same + 1]
        if (c.tr[a] != c.tr[b]).any() or (c.sid[a] != c.sid[b]).any():
            raise Unfit  # two traces' keys collide
        rare[c.tr[a].astype(np.intp)] = True
    if not n:
        return np.zeros(0, np.int64), rare
    q = c.pid ^ mix
    pos = np.minimum(np.searchsorted(sk, q), n - 1)
    j = order[pos]
    found = (c.pid != 0) & (sk[pos] == q) & (c.tr[j] == c.tr) & (c.sid[j] == c.pid)
    return np.where(found & (j != np.arange(n)), j, -1).astype(np.int64), rare


def _depths(par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth of each row (pointer doubling) and the rows that never reach a root (a cycle)."""
    depth = (par >= 0).astype(np.int64)
    jump = par.copy()
    for _ in range(64):  # 2**64 > any number of rows
        m = np.flatnonzero(jump >= 0)
        if not m.size:
            break
        j = jump[m]
        depth[m] += depth[j]
        jump[m] = jump[j]
    return depth, jump >= 0


def _levels(depth: np.ndarray) -> list[np.ndarray]:
    """Rows per depth (depth -1: not analysed here)."""
    order = np.argsort(depth, kind="stable")
    counts = np.bincount(depth + 1)
    edges = np.cumsum(counts)
    return [order[edges[d]:edges[d + 1]] for d in range(len(counts) - 1)]


def _top_down(c: _Cols, levels: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Effective intervals, skew-shifted rows, synchronous children, component kinds and top roots."""
    n = len(c.sid)
    eff_s, eff_e, delta = c.st.copy(), c.en.copy(), np.zeros(n, np.int64)
    shifted, sync = np.zeros(n, bool), np.zeros(n, bool)
    ckind, base = np.where(c.follows, ASYNC, SYNC).astype(np.int8), np.arange(n)
    for rows in levels[1:]:
        p = c.par[rows]
        d0 = delta[p]
        aps, ape, cs, ce = c.st[p] + d0, c.en[p] + d0, c.st[rows], c.en[rows]
        centred = aps + ((ape - aps) - (ce - cs)) // 2 - cs
        skew = np.where(cs >= aps, 0, np.where(ce - cs > ape - aps, aps - cs, centred))
        other = c.ck[rows] != c.ck[p]
        shifted[rows] = other & (skew != 0)
        d = np.where(other, skew, d0)
        delta[rows], cs, ce = d, cs + d, ce + d
        ps, pe = eff_s[p], eff_e[p]
        asyn = c.follows[rows] | ((c.kind[p] == PRODUCER) & (c.kind[rows] == CONSUMER))
        drop = ~asyn & ((cs >= pe) | ((cs < ps) & (ce <= ps)))
        ok = ~(asyn | drop)
        sync[rows] = ok
        eff_s[rows] = np.where(ok, np.minimum(np.maximum(cs, ps), pe), cs)
        eff_e[rows] = np.where(ok, np.minimum(np.maximum(ce, ps), pe), ce)
        ckind[rows] = np.where(asyn, ASYNC, np.where(drop, DROPPED, ckind[p]))
        base[rows] = base[p]
    return eff_s, eff_e, shifted, sync, ckind, base


def _groups(par: np.ndarray, rows: np.ndarray, eff_s: np.ndarray, eff_e: np.ndarray) -> tuple[np.ndarray, ...]:
    """`rows` (sorted by parent) grouped: first index of each group, its parent, and per row the
    offset that makes `offset + time` increase from group to group (a group spans its parent's
    clamped interval, the width of which is added for each group before)."""
    p = par[rows]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]]) if rows.size else np.zeros(0, np.intp)
    gp = p[starts]
    width = eff_e[gp] - eff_s[gp] + 1
    if width.size and float(width.sum()) >= 2.0**62:
        raise Unfit
    offset = np.cumsum(width) - width - eff_s[gp]
    return starts, gp, np.repeat(offset, np.diff(np.r_[starts, rows.size]))


def _cover(par: np.ndarray, sync: np.ndarray, eff_s: np.ndarray, eff_e: np.ndarray) -> np.ndarray:
    """Per row the length of the union of its synchronous children's intervals."""
    rows = np.flatnonzero(sync)
    key = group_key(par[rows], eff_s[rows])  # ties in any order: the union of intervals is the same
    rows = rows[np.lexsort((eff_s[rows], par[rows])) if key is None else np.argsort(key)]
    starts, gp, off = _groups(par, rows, eff_s, eff_e)
    cover = np.zeros(len(par), np.int64)
    if rows.size:
        ks, ke = off + eff_s[rows], off + eff_e[rows]
        before = np.r_[np.iinfo(np.int64).min, np.maximum.accumulate(ke)[:-1]]  # the union so far ends there
        cover[gp] = np.add.reduceat(np.maximum(ke - np.maximum(ks, before), 0), starts)
    return cover


def group_key(groups: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """One int64 key that orders by group, then value (as np.lexsort((values, groups)) does, up to
    ties), or None when the two ranges do not fit in 63 bits: sorting one key takes a fifth of the
    time lexsort takes over two."""
    if not values.size or int(groups.min()) < 0:
        return None
    lo = int(values.min())
    width = int(values.max()) - lo + 1
    if width * (int(groups.max()) + 1) >= 2**63:
        return None
    return groups.astype(np.int64) * width + (values - lo)


def _chains(c: _Cols, sync: np.ndarray, eff_s: np.ndarray, eff_e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows on their parent's critical chain, and per parent the chain's total duration: from the
    parent's end, the last-finishing child (then earliest start, then lowest id) ending at or
    before the cursor, the cursor then moving to its start."""
    rows = np.flatnonzero(sync & (eff_s < eff_e))
    key = group_key(c.par[rows], -eff_e[rows])
    rows = rows[np.lexsort((c.sid[rows], eff_s[rows], -eff_e[rows], c.par[rows]) if key is None else (c.sid[rows], eff_s[rows], key))]
    starts, gp, off = _groups(c.par, rows, eff_s, eff_e)
    key = off + (eff_e[c.par[rows]] - eff_e[rows]) + eff_s[c.par[rows]]  # from the parent's end: increasing
    on, total = np.zeros(len(c.sid), bool), np.zeros(len(c.sid), np.int64)
    ends, base = np.r_[starts[1:], rows.size], off[starts] + eff_s[gp]
    cursor = eff_e[gp]
    while gp.size:
        pos = np.searchsorted(key, base + (eff_e[gp] - cursor))
        ok = pos < ends
        gp, ends, base, pos = gp[ok], ends[ok], base[ok], pos[ok]
        child = rows[pos]
        on[child] = True
        total[gp] += eff_e[child] - eff_s[child]
        cursor = eff_s[child]
    return on, total


def _critical(c: _Cols, levels: list[np.ndarray], sync: np.ndarray, eff_s: np.ndarray, eff_e: np.ndarray) -> np.ndarray:
    """Critical time of the rows a synchronous root reaches through chains: duration minus the chain's."""
    on, total = _chains(c, sync, eff_s, eff_e)
    reached = np.zeros(len(c.sid), bool)
    if levels:
        reached[levels[0]] = ~c.follows[levels[0]]
    for rows in levels[1:]:
        reached[rows] = on[rows] & reached[c.par[rows]]
    return np.where(reached, eff_e - eff_s - total, 0)


def _counts(c: _Cols, keep: np.ndarray, istop: np.ndarray, shifted: np.ndarray, ckind: np.ndarray, globbed: bool,
            n_traces: int) -> dict[str, int]:
    roots = keep & istop & (ckind == SYNC)
    durations = (c.en - c.st)[roots]
    total = sum(durations.tolist()) if durations.size > 64 and int(durations.max()) > 2**62 // durations.size else int(durations.sum())
    return {"traces": int(np.unique(c.tr[roots]).size) if globbed else n_traces, "spans": int(np.count_nonzero(keep)),
            "orphans": int(np.count_nonzero(keep & istop & (c.pid != 0))), "skew": int(np.count_nonzero(keep & shifted)),
            "async": int(np.count_nonzero(keep & (ckind == ASYNC))), "dropped": int(np.count_nonzero(keep & (ckind == DROPPED))),
            "total_us": total}
