"""The whole local stack's footprint: `up` to all-ready, then at idle (no traffic) the resident
memory of every stack process (with its children: RSS, and PSS and USS, which count pages shared
copy-on-write with the fork server's other children once) and the CPU they burn over a window.

    .venv/bin/python benchmarks/stack_footprint.py --port-base 21000 --state-dir /tmp/chaosctl-fp --idle 20

Run it before and after a change to the stack (the closing note of issue 13 compares them).
Uses the real binaries (`make setup`). Stops everything it started, also on error.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psutil

from chaosctl.settings import load_settings
from chaosctl.stack import state as stack_state
from chaosctl.stack.local import LocalBackend


FORK_SERVER = "chaosctl.services.forkserver"
Row = tuple[float, float | None, float | None, float]  # RSS, PSS, USS (MiB; None: not permitted), CPU s


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _fork_servers() -> list[psutil.Process]:
    """A fork server still running after `up` (it is this process's child): measured as a component
    of its own. The current one lives only while `up` runs, so at idle there is none, and the
    pages the services still share with it after their fork are in the services' PSS."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if FORK_SERVER in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _memory(proc: psutil.Process) -> tuple[float, float | None, float | None]:
    """RSS, PSS, USS in MiB; PSS and USS are None when /proc/PID/smaps cannot be read."""
    rss = proc.memory_info().rss / 2**20
    try:
        full = proc.memory_full_info()
    except psutil.AccessDenied:
        return rss, None, None
    return rss, getattr(full, "pss", 0) / 2**20, full.uss / 2**20


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _sample_tree(tree: list[psutil.Process]) -> Row:
    rss, pss, uss, cpu = 0.0, 0.0, 0.0, 0.0
    for proc in tree:
        try:
            r, p, u = _memory(proc)
            times = proc.cpu_times()
        except psutil.Error:
            continue  # exited meanwhile
        rss, pss, uss, cpu = rss + r, _add(pss, p), _add(uss, u), cpu + times.user + times.system
    return rss, pss, uss, cpu


def _sample(procs: dict[str, list[psutil.Process]]) -> dict[str, Row]:
    """component -> its process tree's summed RSS, PSS, USS and CPU seconds so far."""
    return {name: _sample_tree(tree) for name, tree in procs.items()}


def _mib(value: float | None) -> str:
    return f"{value:9.1f}" if value is not None else f"{'n/a':>9}"


def _total(rows: dict[str, Row]) -> Row:
    rss, pss, uss, cpu = 0.0, 0.0, 0.0, 0.0
    for r, p, u, c in rows.values():
        rss, pss, uss, cpu = rss + r, _add(pss, p), _add(uss, u), cpu + c
    return rss, pss, uss, cpu


def _line(name: str, row: Row, cpu_s: float, idle_s: float) -> str:
    return f"{name:<24} {row[0]:9.1f} {_mib(row[1])} {_mib(row[2])} {100 * cpu_s / idle_s:11.2f}"


def _report(first: dict[str, Row], last: dict[str, Row], idle_s: float) -> None:
    print(f"{'component':<24} {'RSS MiB':>9} {'PSS MiB':>9} {'USS MiB':>9} {'idle CPU %':>11}")
    for name in sorted(last):
        print(_line(name, last[name], last[name][3] - first[name][3], idle_s))
    total = _total(last)
    print(_line("TOTAL", total, total[3] - _total(first)[3], idle_s))
    print(f"(CPU % of one core over {idle_s:.0f} s idle. RSS counts a page shared by N processes N times; PSS "
          "splits it among them (the stack's real share of RAM); USS is what only that process holds.)")
    if total[1] is None:
        print("PSS/USS n/a: /proc/PID/smaps of some process not readable (another user's, or ptrace limits)")


def _reaped_cpu() -> float:
    """CPU seconds of this process's children that have exited (the fork server of `up`, setup helpers)."""
    times = psutil.Process().cpu_times()
    return times.children_user + times.children_system


def measure(backend: LocalBackend, state_dir: Path, port_base: int, idle_s: float) -> None:
    began = time.monotonic()
    backend.up()
    up_s = time.monotonic() - began
    procs = {name: _tree(rec.pid) for name, rec in stack_state.load(state_dir, port_base).procs.items()}
    servers = _fork_servers()
    if servers:
        procs["(fork server)"] = [p for s in servers for p in _tree(s.pid)]
    time.sleep(3.0)  # let start-up work (first scrapes, JIT warm-up) pass before the idle window
    first = _sample(procs)
    time.sleep(idle_s)
    last = _sample(procs)
    print(f"up to all-ready: {up_s:.2f} s; {len(procs)} components, "
          f"{sum(len(t) for t in procs.values())} processes")
    print("fork server: " + (f"still running (pids {[s.pid for s in servers]}), its own row below" if servers
                             else "none running after `up` (today's lives only during `up`: nothing of it at idle)")
          + f"; CPU of `up`'s exited child processes (a fork server's among them): {_reaped_cpu():.2f} s")
    _report(first, last, idle_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-base", type=int, default=21000)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/chaosctl-fp"))
    parser.add_argument("--idle", type=float, default=20.0, help="idle window in seconds")
    args = parser.parse_args()
    backend = LocalBackend(load_settings(state_dir=args.state_dir, port_base=args.port_base, backend="local"))
    try:
        measure(backend, args.state_dir, args.port_base, args.idle)
    finally:
        backend.down()


if __name__ == "__main__":
    main()
