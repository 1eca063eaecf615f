"""Local stack lifecycle timings: `up` to all-ready, a second (idempotent) `up`,
an etcd member (a follower) killed and restarted to ready, and `down` to no process / no port.

    .venv/bin/python benchmarks/stack_lifecycle.py --port-base 21000 --state-dir /tmp/chaosctl-bench --rounds 2
    # before/after side by side, rounds interleaved: BEFORE is another tree's src/ (e.g. a `git archive` of HEAD)
    .venv/bin/python benchmarks/stack_lifecycle.py --port-base 21000 --rounds 3 --compare /tmp/before/src
    # ... --components registry-store[0],registry-store[1],registry-store[2],toxiproxy,jaeger,prometheus: a part
    # ... --timings: per component, when it was ready in the cold `up` and the CPU seconds it
    # (with its children) had used by then (the critical path, and who eats the 2 cores); also
    # "(fork server)": when it could first fork, and its CPU by then (not in the stack's CPU sum);
    # "(prometheus: every target up)" and the other stack-wide checks: when each passed

With --compare each round runs once per tree in its own process (PYTHONPATH=<tree>; the
services it starts inherit it), on the components both trees know, so the two stacks are
the same size; it prints each tree's medians and the ratio after/before. "up" is cold
(nothing running; the model cache, if the tree has one, kept from earlier rounds), "up
(again)" is `up` on the healthy stack. Uses the real binaries (`make setup`). Stops
everything it started, also on error. The load average is printed: 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROUND = r"""
import json, sys, time
from pathlib import Path
import psutil
from chaosctl.settings import load_settings
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.topology import Topology
state_dir, port_base, wanted = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if wanted == "-":
    print(json.dumps(list(Topology(port_base).components)))
    raise SystemExit(0)
names = json.loads(wanted) or None
began, ready, cpu, pids = time.monotonic(), {}, {}, {}
def report(name, event, detail):
    if event == "starting" and detail.startswith("pid "):
        pids[name] = int(detail.split()[1])
    if event == "ready" and name in pids and name not in ready:  # the first: later ones are stack-wide checks
        ready[name] = time.monotonic() - began
        cpu[name] = cpu_of(pids[name])
    elif event == "ready" and name in ready:  # a stack-wide check under its name: "(prometheus: every target up)"
        ready[f"({name}: {detail})"], cpu[f"({name}: {detail})"] = time.monotonic() - began, 0.0
def cpu_of(pid):
    try:
        proc = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in (proc, *proc.children(recursive=True)))
    except psutil.Error:
        return 0.0
from chaosctl.stack import forkserver
FORK = "(fork server)"  # when it could fork: the services wait for it
_pending = forkserver.ForkServer.pending
def pending(self):
    busy = _pending(self)
    if not busy and self.ready and FORK not in ready:
        ready[FORK], cpu[FORK] = time.monotonic() - began, cpu_of(self.proc.pid)
    return busy
forkserver.ForkServer.pending = pending
backend = LocalBackend(load_settings(state_dir=state_dir, port_base=port_base, backend="local"), components=names,
                       reporter=report)
def timed(fn):
    t0 = time.monotonic(); fn(); return time.monotonic() - t0
def follower():
    # An etcd member that is not the leader: killing the leader adds an election (ETCD_ELECTION_MS,
    # 2 s) to the restart, and which member leads is chance: the figure would be bimodal (0.3 or 2.5 s).
    import httpx
    topo = Topology(port_base)
    for name in topo.etcd_members:
        status = httpx.post(f"{topo.url(name)}/v3/maintenance/status", json={}, timeout=5.0).json()
        if status["leader"] != status["header"]["member_id"]:
            return name
    raise SystemExit("no etcd follower")
try:
    began = time.monotonic()
    out = {"up": timed(backend.up)}
    timings = {n: [ready[n], cpu[n]] for n in ready}
    out["CPU s of the stack at ready"] = sum(c for n, (_, c) in timings.items() if not n.startswith("("))
    out["up (again)"] = timed(backend.up)
    member = follower()
    backend.kill(member)
    out["etcd member restart"] = timed(lambda: backend.start(member))
    out["down"] = timed(backend.down)
finally:
    backend.down()
print("ROUND " + json.dumps({**out, "timings": timings}))
"""


def run_round(src: Path | None, state_dir: Path, port_base: int, wanted: str) -> str | None:
    """The round's JSON line; None when it failed (said on stderr: a stack that cannot come up
    in time on a loaded machine is a result too, and the other rounds still run)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
        tools = Path(__file__).resolve().parents[1] / ".tools"  # a tree elsewhere finds no checkout's tools
        if tools.is_dir():
            env.setdefault("CHAOSCTL_TOOLS_DIR", str(tools))
    proc = subprocess.run([sys.executable, "-c", ROUND, str(state_dir), str(port_base), wanted],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        print(f"round failed ({src or 'this tree'}, load {os.getloadavg()[0]:.1f}): "
              f"{proc.stderr.strip().splitlines()[-1][:300] if proc.stderr.strip() else proc.returncode}", file=sys.stderr)
        return None
    return proc.stdout.strip().splitlines()[-1]


def common_components(trees: list[Path | None], port_base: int, state_dir: Path) -> list[str]:
    lists = [json.loads(run_round(t, state_dir, port_base, "-") or "[]") for t in trees]
    return [n for n in lists[0] if all(n in other for other in lists[1:])]


def print_timings(timings: dict[str, list[dict[str, list[float]]]]) -> None:
    """Median over rounds of each component's ready time in the cold `up` and its CPU s by then."""
    trees = list(timings)
    names = sorted({n for rounds in timings.values() for r in rounds for n in r},
                   key=lambda n: statistics.median([r[n][0] for rounds in timings.values() for r in rounds if n in r]))
    print("cold up, per component (median): ready at s / CPU s by then" + ("   [" + " | ".join(trees) + "]"))
    for name in names:
        cells = []
        for tree in trees:
            got = [r[name] for r in timings[tree] if name in r]
            cells.append(f"{statistics.median(g[0] for g in got):6.2f} / {statistics.median(g[1] for g in got):5.2f}"
                         if got else "     -")
        print(f"  {name:<22} " + "   |   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-base", type=int, default=21000)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/chaosctl-bench"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--compare", type=Path, default=None, help="the BEFORE tree's src/ folder")
    parser.add_argument("--timings", action="store_true", help="per component: ready at, CPU s by then")
    parser.add_argument("--components", default=None,
                        help="only these, comma-separated (keep the etcd members: the restart figure needs one)")
    args = parser.parse_args()
    trees: list[Path | None] = [args.compare, None] if args.compare else [None]
    names = common_components(trees, args.port_base, args.state_dir) if args.compare or args.components else []
    if args.components:  # e.g. no Python service: what is left of `up` is the binaries' and Prometheus's first scrapes
        names = [n for n in names if n in args.components.split(",")]
    wanted = json.dumps(names)
    results: dict[str, list[dict[str, float]]] = {str(t or "this tree"): [] for t in trees}
    timings: dict[str, list[dict[str, list[float]]]] = {k: [] for k in results}
    failed = dict.fromkeys(results, 0)
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for tree in trees:
            line = run_round(tree, args.state_dir, args.port_base, wanted)
            if line is None:
                failed[str(tree or "this tree")] += 1
                continue
            print(f"{tree or 'this tree'}: {line}", file=sys.stderr, flush=True)
            results[str(tree or "this tree")].append(json.loads(line.removeprefix("ROUND ")))
            timings[str(tree or "this tree")].append(results[str(tree or "this tree")][-1].pop("timings"))
            load.append(os.getloadavg()[0])
    print(f"load average (1 min) during the run: {min(load):.2f}..{max(load):.2f} on {os.cpu_count()} cpus")
    if args.compare or args.components:
        print(f"components ({len(names)}): {', '.join(names)}")
    medians = {}
    for tree, rounds in results.items():
        print(f"{tree}: {len(rounds)} rounds, {failed[tree]} failed")
        if not rounds:
            continue
        medians[tree] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        for key in rounds[0]:
            values = [r[key] for r in rounds]
            print(f"  {key:<22} median {medians[tree][key]:6.2f} s   max {max(values):6.2f} s   (n={len(values)})")
    if args.timings:
        print_timings(timings)
    if args.compare and len(medians) == 2:
        before, after = (medians[str(t or "this tree")] for t in trees)
        for key in before:
            print(f"ratio after/before  {key:<22} {after[key] / before[key]:5.2f}x")


if __name__ == "__main__":
    main()
