"""Run-engine figures against a running stack (`chaosctl up` first):

  1. fault inject/revert latency per fault type: decision -> verified in place,
     and revert -> verified gone (a kill's revert includes restart + ready);
  2. abort detection latency: every gateway->model link resets its peers under
     load; time from the injection to the abort watcher tripping on
     `error_ratio > 0.5` (for: 0s), with a 1 s scrape and a 3 s rate window;
  3. run overhead: wall time of `chaosctl run tests/data/run-pass.yaml` minus
     the sum of its phase durations.

    CHAOSCTL_PORT_BASE=24000 CHAOSCTL_STATE_DIR=/tmp/chaos-run-24000 \\
      .venv/bin/python benchmarks/run_overhead.py [--reps 5] [--abort-reps 3] [--runs 2] [--scenario F] [--only-runs]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import TypeAdapter

from chaosctl.faults.base import FaultContext
from chaosctl.faults.catalogue import build_fault
from chaosctl.faults.journal import Journal
from chaosctl.runner.abort import AbortRule, AbortWatcher, sli_expr
from chaosctl.runner.active import ActiveFaults
from chaosctl.runner.signals import SignalGuard
from chaosctl.scenario.model import FaultSpec
from chaosctl.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
FAULTS = {
    "latency": {"type": "latency", "target": "link:gateway->model-gpu-1", "latency": "100ms"},
    "reset-peer": {"type": "reset-peer", "target": "link:gateway->model-cpu-1"},
    "process-pause": {"type": "process-pause", "target": "registry-store[2]"},
    "process-kill (etcd member)": {"type": "process-kill", "target": "registry-store[1]"},
    "process-kill (registry API)": {"type": "process-kill", "target": "registry"},
    "gpu-exhaustion": {"type": "gpu-exhaustion", "target": "model-gpu-2", "memory": "90%", "compute": "100%"},
}
LINKS = ("link:gateway->model-gpu-1", "link:gateway->model-gpu-2", "link:gateway->model-cpu-1")


def ms(xs: list[float]) -> str:
    xs = sorted(x * 1000 for x in xs)
    return f"median {statistics.median(xs):7.1f} ms  min {xs[0]:7.1f}  max {xs[-1]:7.1f}  (n={len(xs)})"


def fault_latency(ctx: FaultContext, journal: Journal, reps: int) -> None:
    print("1. fault inject -> verified, revert -> verified gone")
    adapter = TypeAdapter(FaultSpec)
    for name, raw in FAULTS.items():
        ins, outs = [], []
        for _ in range(reps):
            fault = build_fault(adapter.validate_python(raw, context={"topology": ctx.topology}), ctx)
            active = ActiveFaults(journal, SignalGuard())
            done = active.inject(fault)
            ins.append(done.verified_at - done.decided_at)
            t0 = time.monotonic()
            assert active.revert_all() == []
            _wait_gone(fault)
            outs.append(time.monotonic() - t0)
        print(f"   {name:28s} inject {ms(ins)}\n   {'':28s} revert {ms(outs)}")


def _wait_gone(fault) -> None:
    """Poll verify() until it fails: the fault is provably out."""
    from chaosctl.errors import ChaosctlError

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            fault.verify()
        except ChaosctlError:
            return
        time.sleep(0.01)
    raise RuntimeError(f"{fault.record.label} still in place after revert")


def abort_latency(ctx: FaultContext, journal: Journal, settings, reps: int) -> None:
    from chaosctl.load.locust_run import LocustRun
    from chaosctl.load.plan import LoadPlan, PlannedRequest
    from chaosctl.observe.prometheus import Prometheus

    print("2. abort detection: reset-peer on every gateway->model link, error_ratio > 0.5 (for 0s)")
    prom = Prometheus(ctx.topology.url("prometheus"))
    cond = AbortRule("error_ratio > 0.5", sli_expr("error_ratio"), ">", 0.5, 0.0)
    plan = LoadPlan(users=4, spawn_rate=4, requests=(PlannedRequest("fraud-detector"),))
    load = LocustRun(plan, ctx.topology.url("gateway"), 60.0 * reps + 60, settings.run_dir / "bench-load", settings.jwt_secret)
    load.start()
    adapter = TypeAdapter(FaultSpec)
    lat = []
    try:
        for _ in range(reps):
            _wait_ratio_below(prom, cond, 0.05)
            watcher = AbortWatcher([cond], lambda e: prom.query(e, time.time()))
            active = ActiveFaults(journal, SignalGuard())
            t0 = time.monotonic()
            for link in LINKS:
                active.inject(build_fault(adapter.validate_python({"type": "reset-peer", "target": link},
                                                                 context={"topology": ctx.topology}), ctx))
            trip = watcher.watch(time.monotonic() + 30)
            lat.append((trip.tripped_at if trip else float("inf")) - t0)
            active.revert_all()
    finally:
        load.stop()
    print(f"   injection -> abort tripped   {ms(lat)}   (target: <= 2 scrapes + 1 s = 3000 ms)")


def _wait_ratio_below(prom, cond: AbortRule, level: float, timeout: float = 90.0) -> None:
    """Let the error ratio of the previous repetition drain out of the rate window."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = prom.query(cond.promql, time.time())
        if v is not None and v < level:
            return
        time.sleep(0.5)


def _wait_serving(settings, timeout: float = 90.0) -> None:
    """Until the gateway answers 5 predictions in a row (breakers closed after the abort test)."""
    from chaosctl.services.gateway.auth import mint_token
    from chaosctl.stack.topology import Topology

    token = mint_token(settings.jwt_secret, "bench", 600, rate_per_s=1000.0, burst=1000.0)
    url = Topology(settings.port_base).url("gateway") + "/v1/models/fraud-detector/predict"
    ok, deadline = 0, time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while ok < 5 and time.monotonic() < deadline:
            try:
                code = client.post(url, json={"inputs": [[0.1] * 20]}, headers={"Authorization": f"Bearer {token}"}).status_code
            except httpx.HTTPError:
                code = 0
            ok = ok + 1 if code == 200 else 0
            time.sleep(0.2 if ok else 1.0)


def run_overhead(settings, runs: int, scenario: str, compare: Path | None = None) -> None:
    """`runs` runs per tree; with `compare` (a BEFORE tree's src/) the trees alternate run by run
    (PYTHONPATH=<tree>) against the same stack, and the medians and their ratio are printed."""
    import json
    import os
    import statistics
    import tempfile

    print(f"3. run overhead: chaosctl run {scenario} (load average {os.getloadavg()[0]:.1f})")
    env = {**os.environ, "CHAOSCTL_PORT_BASE": str(settings.port_base), "CHAOSCTL_STATE_DIR": str(settings.state_dir)}
    trees = [compare, None] if compare else [None]
    overhead: dict[str, list[float]] = {str(t or "this tree"): [] for t in trees}
    for i in range(runs):
        for tree in trees:
            _wait_serving(settings)
            tree_env = {**env, "PYTHONPATH": str(tree)} if tree else env
            with tempfile.TemporaryDirectory() as out:
                t0, launched = time.monotonic(), time.time()
                res = subprocess.run([sys.executable, "-m", "chaosctl.cli", "run", str(ROOT / scenario),
                                      "--report-dir", out], env=tree_env, capture_output=True, text=True)
                wall, exited = time.monotonic() - t0, time.time()
                report = json.loads((Path(out) / "report.json").read_text())
            phases = sum(p["end"] - p["start"] for p in report["phases"])
            overhead[str(tree or "this tree")].append(wall - phases)
            print(f"   run {i + 1} [{tree or 'this tree'}]: exit {res.returncode}, wall {wall:5.1f} s, phases {phases:5.1f} s,"
                  f" overhead {wall - phases:5.1f} s  ({report['verdict']}; load average {os.getloadavg()[0]:.1f})")
            stages = [n for n in report.get("notes", []) if n.startswith("run overhead:")]  # the run's own split
            started = [ln for ln in res.stdout.splitlines() if ln.startswith("load: running after")]
            print(f"          {(stages or ['(no overhead note)'])[0]}; {(started or ['(no load start line)'])[0]}")
            # beyond the run's own note: process start to the Run (imports, scenario, System), and from the
            # report's `ended` (after the steady state after, before the analysis) to the process' exit
            print(f"          process start -> run {report['started'] - launched:.1f}s;"
                  f" analysis start -> exit {exited - report['ended']:.1f}s (analysis, closing, reports, history, exit)")
    medians = {k: statistics.median(v) for k, v in overhead.items()}
    for tree, value in medians.items():
        print(f"   overhead median {value:5.2f} s  [{tree}] (n={len(overhead[tree])})")
    if compare:
        print(f"   ratio after/before: {medians['this tree'] / medians[str(compare)]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--abort-reps", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--scenario", default="tests/data/run-pass.yaml",
                        help="run-pass.yaml uses distributed Locust (2 workers); run-latency-fail.yaml one process")
    parser.add_argument("--only-runs", action="store_true", help="skip parts 1 and 2")
    parser.add_argument("--compare", type=Path, default=None, help="a BEFORE tree's src/: part 3 side by side")
    args = parser.parse_args()
    settings = load_settings()
    ctx = FaultContext.for_settings(settings)
    journal = Journal(settings.journal_path)
    with httpx.Client(timeout=3) as client:
        client.get(ctx.topology.url("gateway") + "/healthz").raise_for_status()
    try:
        if not args.only_runs:
            fault_latency(ctx, journal, args.reps)
            abort_latency(ctx, journal, settings, args.abort_reps)
    finally:
        ctx.close()
        journal.clear_if_done()
    run_overhead(settings, args.runs, args.scenario, args.compare)


if __name__ == "__main__":
    main()
