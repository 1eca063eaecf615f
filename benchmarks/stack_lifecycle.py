"""Local stack lifecycle timings: `up` to all-ready, a second (idempotent) `up`,
an etcd member killed and restarted to ready, and `down` to no process / no port.

    .venv/bin/python benchmarks/stack_lifecycle.py --port-base 21000 --state-dir /tmp/chaosctl-bench --rounds 2

Uses the real binaries (`make setup`). Stops everything it started, also on error.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from chaosctl.settings import load_settings
from chaosctl.stack.local import LocalBackend


def _timed(fn) -> float:  # noqa: ANN001
    began = time.monotonic()
    fn()
    return time.monotonic() - began


def one_round(backend: LocalBackend) -> dict[str, float]:
    member = "registry-store[0]"
    try:
        out = {"up": _timed(backend.up), "up (again)": _timed(backend.up)}
        backend.kill(member)
        out["etcd member restart"] = _timed(lambda: backend.start(member))
        out["down"] = _timed(backend.down)
        return out
    finally:
        backend.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-base", type=int, default=21000)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/chaosctl-bench"))
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    backend = LocalBackend(load_settings(state_dir=args.state_dir, port_base=args.port_base, backend="local"))
    rounds = [one_round(backend) for _ in range(args.rounds)]
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"{key:<22} median {statistics.median(values):6.2f} s   max {max(values):6.2f} s   (n={len(values)})")


if __name__ == "__main__":
    main()
