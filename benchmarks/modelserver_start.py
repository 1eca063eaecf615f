"""A model server's start to ready (/healthz 200): trained at start vs loaded from the model
cache (services/modelserver/modelcache.py), side by side in one run, rounds interleaved.

    .venv/bin/python benchmarks/modelserver_start.py --port-base 29000 --rounds 5 [--server model-cpu-1]

"trained": CHAOSCTL_MODEL_CACHE is a new empty folder each round (a miss: train, then write);
"cached": a folder filled by a first start. The server needs no other component to become
ready (it keeps retrying its registration). Prints the medians, their ratio and the load average.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from chaosctl.stack.topology import Topology
from chaosctl.waiting import wait_until


def start_to_ready(server: str, port_base: int, cache: Path, state_dir: Path) -> float:
    env = {**os.environ, "CHAOSCTL_MODEL_CACHE": str(cache), "CHAOSCTL_STATE_DIR": str(state_dir)}
    url = f"{Topology(port_base).url(server)}/healthz"
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "chaosctl.services", server, "--port-base", str(port_base)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def ready() -> bool:
            try:
                return httpx.get(url, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(ready, 120.0, interval=0.05):
            sys.exit(f"{server} not ready within 120 s")
        return time.monotonic() - began
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-base", type=int, default=21000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", default="model-cpu-1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chaosctl-msbench-") as tmp:
        root = Path(tmp)
        warm = root / "warm"
        start_to_ready(args.server, args.port_base, warm, root / "state")  # fills the cache
        times: dict[str, list[float]] = {"trained": [], "cached": []}
        loads = [os.getloadavg()[0]]
        for i in range(args.rounds):
            times["trained"].append(start_to_ready(args.server, args.port_base, root / f"cold-{i}", root / "state"))
            times["cached"].append(start_to_ready(args.server, args.port_base, warm, root / "state"))
            loads.append(os.getloadavg()[0])
    print(f"{args.server} start to /healthz 200, {args.rounds} rounds; load average (1 min) {min(loads):.2f}..{max(loads):.2f}"
          f" on {os.cpu_count()} cpus")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"  {k:<8} median {med[k]:6.2f} s  min {min(v):6.2f} s  max {max(v):6.2f} s")
    print(f"  ratio cached/trained: {med['cached'] / med['trained']:.2f}x")


if __name__ == "__main__":
    main()
