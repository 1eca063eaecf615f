"""The whole local stack's footprint: `up` to all-ready, then at idle (no traffic) the resident
memory of every stack process (with its children) and the CPU they burn over a window.

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


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _sample(procs: dict[str, list[psutil.Process]]) -> dict[str, tuple[float, float]]:
    """component -> (RSS in MiB, CPU seconds so far), summed over its process tree."""
    out: dict[str, tuple[float, float]] = {}
    for name, tree in procs.items():
        rss = cpu = 0.0
        for proc in tree:
            try:
                rss += proc.memory_info().rss / 2**20
                times = proc.cpu_times()
                cpu += times.user + times.system
            except psutil.Error:
                continue
        out[name] = (rss, cpu)
    return out


def measure(backend: LocalBackend, state_dir: Path, port_base: int, idle_s: float) -> None:
    began = time.monotonic()
    backend.up()
    up_s = time.monotonic() - began
    procs = {name: _tree(rec.pid) for name, rec in stack_state.load(state_dir, port_base).procs.items()}
    time.sleep(3.0)  # let start-up work (first scrapes, JIT warm-up) pass before the idle window
    first = _sample(procs)
    time.sleep(idle_s)
    last = _sample(procs)
    print(f"up to all-ready: {up_s:.2f} s; {len(procs)} components, "
          f"{sum(len(t) for t in procs.values())} processes")
    print(f"{'component':<24} {'RSS MiB':>9} {'idle CPU %':>11}")
    for name in sorted(last):
        rss, cpu = last[name]
        print(f"{name:<24} {rss:9.1f} {100 * (cpu - first[name][1]) / idle_s:11.2f}")
    total_rss = sum(v[0] for v in last.values())
    total_cpu = sum(last[n][1] - first[n][1] for n in last)
    print(f"{'TOTAL':<24} {total_rss:9.1f} {100 * total_cpu / idle_s:11.2f}   (CPU % of one core, {idle_s:.0f} s idle)")


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
