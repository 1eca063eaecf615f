"""The per-trace kernel of `table_analysis`: critical_path's rules over a table's rows.

Everything is a list indexed by the row's position in the whole table (one `tolist()` per column,
no per-trace copies). Per trace: the forest (children by row, roots in analysis order), then per
root one top-down pass doing critical_path._skew, ._synchronous_subtree and the children's part of
._self_time and ._walk at once. The critical path needs no walk with a stack: a parent's children
on its path are the greedy chain over its synchronous children sorted by end (latest first) with
the cursor starting at its own end, independent of anything above it; a span's critical time is
its duration minus its chain's, for the spans reached from a synchronous root through chains.
"""

from __future__ import annotations

from chaosctl.observe.span_table import FOLLOWS, KIND_CODE

PRODUCER, CONSUMER = KIND_CODE["producer"], KIND_CODE["consumer"]
ROOT, ORPHAN, ASYNC, DROPPED = "root", "orphan", "async", "dropped"


class Rare(Exception):
    """A trace for the reference analysis (duplicate span ids, a parent cycle)."""


class Rows:
    """A table's columns as lists, and what the kernel writes per row."""

    def __init__(self, sid: list[int], pid: list[int], st: list[int], en: list[int], nm: list[int], ck: list[int],
                 fl: list[int]) -> None:
        self.sid, self.pid, self.st, self.en, self.nm, self.ck, self.fl = sid, pid, st, en, nm, ck, fl
        self.eff_s, self.eff_e = st[:], en[:]  # skew-adjusted, then clamped to the parent
        self.cover = [0] * len(sid)  # union of the synchronous children's intervals
        self.crit = [0] * len(sid)
        self.delta: dict[int, int] = {}  # skew shift of a row (absent: 0)

    def reset(self, a: int, z: int) -> None:
        """Undo what a trace handed to the reference wrote."""
        self.eff_s[a:z], self.eff_e[a:z] = self.st[a:z], self.en[a:z]
        self.cover[a:z] = self.crit[a:z] = [0] * (z - a)


def forest(rows: Rows, a: int, z: int) -> tuple[dict[int, list[int]], list[int]]:
    """Children by row, and the roots (no parent, parent missing, own parent) in analysis order."""
    sid, pid = rows.sid, rows.pid
    pos = dict(zip(sid[a:z], range(a, z)))
    if len(pos) != z - a:
        raise Rare  # duplicate span ids: the first is kept (the reference does it)
    children: dict[int, list[int]] = {}
    roots = []
    for i in range(a, z):
        p = pid[i]
        j = pos.get(p) if p else None
        if j is None or j == i:
            roots.append(i)
        elif j in children:
            children[j].append(i)
        else:
            children[j] = [i]
    if len(roots) > 1:
        st, en = rows.st, rows.en
        roots.sort(key=lambda r: (pid[r] != 0, st[r], -en[r], sid[r]))
    return children, roots


def trace(rows: Rows, a: int, z: int, glob_ops: list[bool] | None, counts: dict[str, int]) -> bytes | None:
    """Analyse rows a..z-1 (one trace) into `rows`; add its counts; the rows kept by the root glob
    (None: all of them). Raises Rare before touching `counts`."""
    children, roots = forest(rows, a, z)
    pid, fl, nm, eff_s, eff_e = rows.pid, rows.fl, rows.nm, rows.eff_s, rows.eff_e
    todo = [(r, ASYNC if fl[r] & FOLLOWS else (ORPHAN if pid[r] else ROOT), -1) for r in roots]
    shifted: set[int] = set()
    kept: set[int] = set()
    keep = None if glob_ops is None else bytearray(z - a)
    local = dict.fromkeys(counts, 0)
    visited = 0
    for r, kind, origin in todo:  # grows while iterating: detached subtrees are analysed after
        sync = kind is ROOT or kind is ORPHAN
        order = subtree(rows, children, r, origin if origin >= 0 else r, sync, todo, shifted)
        visited += len(order)
        if keep is not None:
            if sync and glob_ops[nm[r]]:  # type: ignore[index]
                kept.add(r)
            if (r if sync else origin) not in kept:
                continue
            for i in order:
                keep[i - a] = 1
        if sync:
            local["total_us"] += eff_e[r] - eff_s[r]
        else:
            local[kind] += len(order)
        local["orphans"] += origin < 0 and pid[r] != 0
        local["skew"] += sum([i in shifted for i in order]) if shifted else 0
        local["spans"] += len(order)
    if visited != z - a:
        raise Rare  # a parent cycle: the reference cuts it
    local["traces"] = int(keep is None or bool(kept))
    for name, v in local.items():
        counts[name] += v
    return None if keep is None else bytes(keep)


def subtree(rows: Rows, children: dict[int, list[int]], r: int, base: int, sync_root: bool, todo: list,
            shifted: set[int]) -> list[int]:
    """Top-down from `r`: each parent's children placed (`_place`), then the parent's cover and
    critical chain."""
    eff_s, eff_e = rows.eff_s, rows.eff_e
    order = [r]
    chains: dict[int, list[int]] = {}
    for p in order:  # grows while iterating
        kids = children.get(p)
        if kids is None:
            continue
        sync = _place(rows, p, kids, base, todo, shifted)
        if len(sync) == 1:  # the common case, inline: cover and chain are the one child
            c = sync[0]
            order.append(c)
            rows.cover[p] = eff_e[c] - eff_s[c]
            if sync_root and eff_s[c] < eff_e[c]:
                chains[p] = sync
        elif sync:
            order += sync
            _cover_and_chain(rows, p, sync, chains if sync_root else None)
    if sync_root:
        _critical(rows, r, chains)
    return order


def _place(rows: Rows, p: int, kids: list[int], base: int, todo: list, shifted: set[int]) -> list[int]:
    """`p`'s children shifted for clock skew against its adjusted interval (Jaeger's adjuster),
    then detached (queued on `todo` with the synchronous root they came from) or clamped to its
    effective interval: the synchronous ones."""
    st, en, ck, fl, eff_s, eff_e, delta = rows.st, rows.en, rows.ck, rows.fl, rows.eff_s, rows.eff_e, rows.delta
    ps, pe, d0 = eff_s[p], eff_e[p], delta.get(p, 0)
    aps, ape = st[p] + d0, en[p] + d0  # adjusted, before clamping
    pc, producer = ck[p], fl[p] >> 2 == PRODUCER
    sync = []
    for c in kids:
        cs, ce = st[c], en[c]
        d = d0
        if ck[c] != pc:
            d = 0 if cs >= aps else (aps - cs if ce - cs > ape - aps else aps + ((ape - aps) - (ce - cs)) // 2 - cs)
            if d:
                shifted.add(c)
        if d:
            delta[c] = d
            cs += d
            ce += d
            eff_s[c], eff_e[c] = cs, ce
        f = fl[c]
        if f & FOLLOWS or (producer and f >> 2 == CONSUMER):
            todo.append((c, ASYNC, base))
        elif cs >= pe or (cs < ps and ce <= ps):
            todo.append((c, DROPPED, base))
        else:
            eff_s[c] = ps if cs < ps else (pe if cs > pe else cs)
            eff_e[c] = ps if ce < ps else (pe if ce > pe else ce)
            sync.append(c)
    return sync


def _cover_and_chain(rows: Rows, p: int, sync: list[int], chains: dict[int, list[int]] | None) -> None:
    """The union of `sync`'s intervals (self time is the duration minus it) and, on a synchronous
    root's tree, the children critical_path._walk would step into: the last-finishing child that
    ends at or before the cursor, then the cursor moves to its start."""
    eff_s, eff_e = rows.eff_s, rows.eff_e
    ivs = sorted([(eff_s[c], eff_e[c]) for c in sync])
    covered = 0
    cur_s, cur_e = ivs[0]
    for s, e in ivs:
        if s > cur_e:
            covered += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    rows.cover[p] = covered + cur_e - cur_s
    if chains is None:
        return
    sid = rows.sid
    chain, cursor = [], eff_e[p]
    for c in sorted(sync, key=lambda c: (-eff_e[c], eff_s[c], sid[c])):  # hex ids of one length sort as integers
        cs, ce = eff_s[c], eff_e[c]
        if cs < ce <= cursor:
            chain.append(c)
            cursor = cs
    if chain:
        chains[p] = chain


def _critical(rows: Rows, r: int, chains: dict[int, list[int]]) -> None:
    """Critical time of the spans on `r`'s path: duration minus the chain's (the gaps are its own)."""
    eff_s, eff_e, crit = rows.eff_s, rows.eff_e, rows.crit
    todo = [r]
    for p in todo:  # grows while iterating
        chain = chains.get(p)
        if chain is None:
            crit[p] = eff_e[p] - eff_s[p]
            continue
        crit[p] = eff_e[p] - eff_s[p] - sum([eff_e[c] - eff_s[c] for c in chain])
        todo += chain
