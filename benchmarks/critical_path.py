"""`chaosctl bottlenecks --file` against a naive implementation, on generated traces (issue 14).

    .venv/bin/python benchmarks/critical_path.py                      # 120,000 spans (~30 MB of OTLP JSON)
    .venv/bin/python benchmarks/critical_path.py --before /tmp/old/src  # also an older tree, in the same run

The traces look like the stack's: a gateway root, a registry lookup, 1-3 upstream tries (the last
one succeeding) each with a model-server span and its inference children, a few parallel children,
some clock skew and some orphans. Each implementation runs as its own process (end to end: start,
read, parse, analyse, print JSON), `--repeat` times interleaved; printed are the medians of wall
and CPU time (on a shared machine CPU time is the fairer figure), the naive/chaosctl ratio, the
analysis alone in spans/s (parse excluded, best of the repeats) and each process's peak RSS
against the file's size. With --before, the older tree is measured the same way and its JSON
output must equal this tree's (results unchanged).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
CLI = "from chaosctl.__main__ import main; main()"  # what the `chaosctl` command runs (pyproject [project.scripts])


def gen_trace(rng: random.Random, i: int) -> list[tuple]:
    """(trace, span, parent, service, operation, start_us, end_us, error) rows of one trace."""
    tid = f"{i:032x}"
    ids = iter(range(1, 1000))
    sid = lambda: f"{i:08x}{next(ids):08x}"  # noqa: E731
    spans: list[tuple] = []
    t0 = 1_790_000_000_000_000 + i * 1000
    root = sid()
    cursor = t0 + rng.randint(50, 300)
    lookup = sid()
    spans.append((tid, lookup, root, "gateway", "registry lookup", cursor, cursor + rng.randint(100, 2000), False))
    spans.append((tid, sid(), lookup, "registry", "GET /v1/services", cursor + 50, cursor + rng.randint(60, 1900), False))
    cursor = spans[-2][6] + rng.randint(10, 100)
    for attempt in range(rng.choice((1, 1, 1, 2, 3))):
        up = sid()
        dur = rng.randint(2_000, 60_000)
        server = f"model-gpu-{rng.randint(1, 2)}"
        spans.append((tid, up, root, "gateway", f"upstream {server}", cursor, cursor + dur, attempt > 0))
        skew = rng.choice((0, 0, 0, 0, -rng.randint(1_000, 20_000)))
        srv, s0 = sid(), cursor + 200 + skew
        spans.append((tid, srv, up, server, "POST /v1/models/{model}/predict", s0, s0 + dur - 400, False))
        for k, op in enumerate(("queue", "batch", "inference", "postprocess")):
            a = s0 + 100 + k * (dur // 5)
            spans.append((tid, sid(), srv, server, op, a, a + rng.randint(100, dur // 4), False))
        cursor += dur + rng.randint(1_000, 5_000)
    for _ in range(rng.randint(0, 3)):  # parallel side work
        a = t0 + rng.randint(0, cursor - t0)
        spans.append((tid, sid(), root, "gateway", "cache refresh", a, a + rng.randint(10, 5_000), False))
    if rng.random() < 0.02:
        spans.append((tid, sid(), "ffffffffffffffff", "registry", "late heartbeat", t0 + 10, t0 + 500, False))
    spans.append((tid, root, None, "gateway", "POST /v1/models/{model}/predict", t0, cursor + rng.randint(100, 500), False))
    return spans


def to_otlp(spans: list[tuple]) -> str:
    by_service: dict[str, list[dict]] = {}
    for tid, sid, parent, service, op, start, end, error in spans:
        raw = {"traceId": tid, "spanId": sid, "name": op, "kind": 2, "startTimeUnixNano": str(start * 1000),
               "endTimeUnixNano": str(end * 1000), "status": {"code": 2} if error else {}}
        if parent:
            raw["parentSpanId"] = parent
        by_service.setdefault(service, []).append(raw)
    doc = {"result": {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]}, "scopeSpans": [{"spans": sp}]}
        for svc, sp in by_service.items()
    ]}}
    return json.dumps(doc)


def generate(n_spans: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    spans: list[tuple] = []
    i = 0
    while len(spans) < n_spans:
        spans.extend(gen_trace(rng, i))
        i += 1
    return spans


def run(cmd: list[str], pythonpath: Path | None) -> dict:
    """One process: wall and CPU seconds, peak RSS (bytes), its stdout."""
    env = dict(os.environ, PYTHONPATH=str(pythonpath)) if pythonpath else dict(os.environ)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}): {err[-2000:]}")
        out.seek(0)
        stdout = out.read().decode()
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * 1024, "out": stdout}


def analysis_only(path: str, repeat: int) -> None:
    """(child mode) The analysis alone on this interpreter's chaosctl: seconds, best of `repeat`."""
    try:
        from chaosctl.observe.span_table import read_table
        from chaosctl.verdict.table_analysis import aggregate_table

        data, n = read_table(Path(path).read_bytes(), path), None
        step = lambda: aggregate_table(data)  # noqa: E731
        n = len(data)
    except ImportError:  # an older tree: Span records, then analyze + aggregate
        from chaosctl.observe.spans import parse_otlp_text
        from chaosctl.verdict.bottleneck import aggregate
        from chaosctl.verdict.critical_path import analyze

        spans = parse_otlp_text(Path(path).read_text(), path)
        step = lambda: aggregate(analyze(spans))  # noqa: E731
        n = len(spans)
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    print(json.dumps({"spans": n, "wall": best_wall, "cpu": best_cpu}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=120_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", type=Path, help="src/ of an older tree (e.g. a git archive of an earlier commit)")
    ap.add_argument("--analysis-only", help=argparse.SUPPRESS)
    ap.add_argument("--generate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.analysis_only:
        return analysis_only(args.analysis_only, args.repeat)
    if args.generate:
        spans = generate(args.spans, args.seed)
        Path(args.generate).write_text(to_otlp(spans))
        return print(json.dumps({"traces": len({s[0] for s in spans}), "spans": len(spans)}))

    with tempfile.TemporaryDirectory(prefix="chaosctl-bench-") as tmp:
        path = Path(tmp) / "traces.json"
        # Generated in a child: a child's peak RSS on Linux starts at its parent's RSS at fork, so
        # this process stays small for the measured ones to show their own peak.
        made = json.loads(run([sys.executable, __file__, "--generate", str(path), "--spans", str(args.spans),
                               "--seed", str(args.seed)], SRC)["out"])
        size = path.stat().st_size
        print(f"generated: {made['traces']} traces, {made['spans']} spans, {size / 1e6:.1f} MB of OTLP JSON")
        impls = {"naive": ([sys.executable, str(HERE / "naive_bottlenecks.py"), str(path)], None),
                 "chaosctl": ([sys.executable, "-c", CLI, "bottlenecks", "--file", str(path), "--json"], SRC)}
        if args.before:
            impls["before"] = ([sys.executable, "-c", CLI, "bottlenecks", "--file", str(path), "--json"], args.before)
        runs: dict[str, list[dict]] = {name: [] for name in impls}
        for _ in range(args.repeat):  # interleaved: a busy moment hits every implementation alike
            for name, (cmd, pp) in impls.items():
                runs[name].append(run(cmd, pp))
        report(runs, size, made["spans"])
        for name, pp in (("chaosctl", SRC), ("before", args.before)):
            if pp is not None:
                got = json.loads(run([sys.executable, __file__, "--analysis-only", str(path), "--repeat", str(args.repeat)], pp)["out"])
                print(f"analysis alone ({name}): {got['spans'] / got['wall']:,.0f} spans/s wall, "
                      f"{got['spans'] / got['cpu']:,.0f} spans/s CPU (best of {args.repeat})")
        if args.before:
            same = json.loads(runs["chaosctl"][0]["out"]) == json.loads(runs["before"][0]["out"])
            print(f"results identical to --before: {'yes' if same else 'NO'}")


def report(runs: dict[str, list[dict]], size: int, n: int) -> None:
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "rss")} for name, rs in runs.items()}
    for name, m in med.items():
        print(f"{name:>8} end to end: {m['wall']:.2f} s wall, {m['cpu']:.2f} s CPU ({n / m['cpu']:,.0f} spans/s); "
              f"peak RSS {m['rss'] / 2**20:.0f} MiB = {m['rss'] / size:.2f}x the file")
    for name in ("chaosctl", "before"):
        if name in med:
            print(f"naive / {name}: {med['naive']['wall'] / med[name]['wall']:.2f}x wall, "
                  f"{med['naive']['cpu'] / med[name]['cpu']:.2f}x CPU (above 1: {name} is faster)")


if __name__ == "__main__":
    main()
