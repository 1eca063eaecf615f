"""Does the trace analysis' cost grow with the run's length? `chaosctl bottlenecks --jaeger` over
two window lengths of synthetic traces, extrapolated linearly to a one-hour soak (issue 14).

    .venv/bin/python benchmarks/soak_analysis.py                             # 4 and 12 minutes at the demo's rate
    .venv/bin/python benchmarks/soak_analysis.py --before /tmp/old/src       # also an older tree, same run

A tiny fake Jaeger (`/api/v3/traces` on loopback, this process) serves traces shaped like the
stack's (benchmarks/critical_path.gen_trace) at `--rate` spans/s (default: the demo's ~1.1 M
spans an hour), each slice's answer built on request like Jaeger's: the traces whose root
started in [start_time_min, start_time_max], at most num_traces of them (the client halves a full
slice). Each measured run is the CLI in its own process; printed: wall and CPU time and peak RSS
per length, and the line through the two points evaluated at --target spans (the server's own
work, the traces made as JSON before the runs and joined per answer, is in this process, not in
the figures; on a busy machine the wall time still includes waiting for it). With --before the older tree's CLI reads the
same windows; both must print the same aggregate.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from critical_path import CLI, SRC, gen_trace, run, to_otlp  # noqa: E402

T0 = 1_790_000_000.0  # the synthetic run's start (unix seconds)
SPANS_PER_TRACE = 14.1  # gen_trace's mean, measured on 10,000 traces


class FakeJaeger(BaseHTTPRequestHandler):
    rate_traces: float = 1.0
    fragments: dict[int, dict[str, str]] = {}  # trace -> service -> its spans' JSON, made before the runs

    def do_GET(self) -> None:  # noqa: N802
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        lo, hi = (datetime.strptime(q[k], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
                  for k in ("query.start_time_min", "query.start_time_max"))
        first = max(0, int((lo - T0) * self.rate_traces + 0.999999))
        last = int((hi - T0) * self.rate_traces)
        ids = list(range(first, last + 1))[-int(q.get("query.num_traces", "20")):]
        if not ids:
            self.send_response(404)
            self.end_headers()
            return
        body = answer([self.fragments.get(i) or fragments(i, self.rate_traces) for i in ids]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def shifted(i: int, rate_traces: float) -> list[tuple]:
    """Trace i of gen_trace, moved to start at T0 + i / rate."""
    spans = gen_trace(random.Random(i), i)
    shift = int((T0 + i / rate_traces) * 1e6) - (1_790_000_000_000_000 + i * 1000)
    return [(*s[:5], s[5] + shift, s[6] + shift, s[7]) for s in spans]


def fragments(i: int, rate_traces: float) -> dict[str, str]:
    """Trace i's spans as JSON text per service (the server only joins them: its own time stays
    small next to the client's, which is what is measured)."""
    doc = json.loads(to_otlp(shifted(i, rate_traces)))
    out = {}
    for rs in doc["result"]["resourceSpans"]:
        service = rs["resource"]["attributes"][0]["value"]["stringValue"]
        out[service] = json.dumps(rs["scopeSpans"][0]["spans"])[1:-1]
    return out


def answer(traces: list[dict[str, str]]) -> str:
    by_service: dict[str, list[str]] = {}
    for t in traces:
        for service, spans in t.items():
            by_service.setdefault(service, []).append(spans)
    resources = ",".join(
        '{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": %s}}]}, "scopeSpans": [{"spans": [%s]}]}'
        % (json.dumps(service), ",".join(spans)) for service, spans in by_service.items())
    return '{"result": {"resourceSpans": [%s]}}' % resources


def measure(url: str, minutes: float, pythonpath: Path) -> dict:
    window = f"{T0:.0f}..{T0 + minutes * 60:.0f}"
    got = run([sys.executable, "-c", CLI, "bottlenecks", "--jaeger", url, "--service", "gateway", "--window", window,
               "--json"], pythonpath)
    got["result"] = json.loads(got["out"])
    return got


def best(runs: list[dict]) -> dict:
    """The least wall and CPU time of the runs (the least disturbed by other work on the machine)
    and their largest peak RSS."""
    return runs[0] | {"wall": min(r["wall"] for r in runs), "cpu": min(r["cpu"] for r in runs),
                      "rss": max(r["rss"] for r in runs)}


def line(x1: float, y1: float, x2: float, y2: float, x: float) -> float:
    return y1 + (y2 - y1) * (x - x1) / (x2 - x1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1_100_000 / 3600, help="spans per second of the synthetic run")
    ap.add_argument("--minutes", type=float, nargs=2, default=(4.0, 12.0))
    ap.add_argument("--target", type=float, default=1_100_000, help="spans to extrapolate to (a one-hour soak)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per length; the least wall and CPU time is kept")
    ap.add_argument("--before", type=Path, help="src/ of an older tree, measured the same way")
    args = ap.parse_args()
    FakeJaeger.rate_traces = args.rate / SPANS_PER_TRACE
    last = int(max(args.minutes) * 60 * FakeJaeger.rate_traces) + 1
    FakeJaeger.fragments = {i: fragments(i, FakeJaeger.rate_traces) for i in range(last + 1)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJaeger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    trees = {"chaosctl": SRC} | ({"before": args.before} if args.before else {})
    try:
        for name, tree in trees.items():
            points = [best([measure(url, m, tree) for _ in range(args.repeat)]) for m in args.minutes]
            report(name, args.minutes, points, args.target)
            trees[name] = points  # type: ignore[assignment]
    finally:
        server.shutdown()
    if args.before:
        same = all(a["result"] == b["result"] for a, b in zip(trees["chaosctl"], trees["before"]))  # type: ignore[index]
        print(f"results identical to --before: {'yes' if same else 'NO'}")


def report(name: str, minutes: tuple[float, float], points: list[dict], target: float) -> None:
    (m1, m2), (p1, p2) = minutes, points
    n1, n2 = p1["result"]["spans"], p2["result"]["spans"]
    for m, p in zip(minutes, points):
        r = p["result"]
        print(f"{name:>8} {m:g} min: {r['traces']} traces, {r['spans']} spans: {p['wall']:.2f} s wall, "
              f"{p['cpu']:.2f} s CPU, peak RSS {p['rss'] / 2**20:.0f} MiB")
    est = {k: line(n1, p1[k], n2, p2[k], target) for k in ("wall", "cpu", "rss")}
    per = (p2["rss"] - p1["rss"]) / max(n2 - n1, 1)
    print(f"{name:>8} extrapolated to {target:,.0f} spans: {est['wall']:.1f} s wall, {est['cpu']:.1f} s CPU, "
          f"peak RSS {est['rss'] / 2**20:.0f} MiB ({per:.0f} bytes per extra span)")


if __name__ == "__main__":
    main()
