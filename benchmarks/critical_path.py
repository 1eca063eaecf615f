"""Critical-path analysis throughput (spans/s) and peak memory, on a generated set of traces.

    .venv/bin/python benchmarks/critical_path.py                 # 10,000 traces, ~130k spans
    .venv/bin/python benchmarks/critical_path.py --traces 20000
    .venv/bin/python benchmarks/critical_path.py --jaeger http://127.0.0.1:PORT --service gateway --since 15m

The generated traces look like the stack's: a gateway root, a registry lookup, 1-3 upstream
tries (the last one succeeding) each with a model-server span and its inference children, a few
parallel children, some clock skew and some orphans. Printed: spans/s of the analysis alone
(critical paths + self times + aggregation), of OTLP JSON parsing, their peak memory (tracemalloc),
and with --jaeger the analysis time as a fraction of the fetch time of the same real traces.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc

from chaosctl.verdict.bottleneck import aggregate
from chaosctl.verdict.critical_path import analyze
from chaosctl.observe.spans import Span, parse_otlp_text


def gen_trace(rng: random.Random, i: int) -> list[Span]:
    tid = f"{i:032x}"
    ids = iter(range(1, 1000))
    sid = lambda: f"{i:08x}{next(ids):08x}"  # noqa: E731
    spans: list[Span] = []
    t0 = 1_790_000_000_000_000 + i * 1000
    root = sid()
    cursor = t0 + rng.randint(50, 300)
    lookup = sid()
    spans.append(Span(tid, lookup, root, "gateway", "registry lookup", cursor, cursor + rng.randint(100, 2000)))
    spans.append(Span(tid, sid(), lookup, "registry", "GET /v1/services", cursor + 50, cursor + rng.randint(60, 1900)))
    cursor = spans[-2].end_us + rng.randint(10, 100)
    for attempt in range(rng.choice((1, 1, 1, 2, 3))):
        up = sid()
        dur = rng.randint(2_000, 60_000)
        server = f"model-gpu-{rng.randint(1, 2)}"
        spans.append(Span(tid, up, root, "gateway", f"upstream {server}", cursor, cursor + dur, error=attempt > 0))
        skew = rng.choice((0, 0, 0, 0, -rng.randint(1_000, 20_000)))
        srv, s0 = sid(), cursor + 200 + skew
        spans.append(Span(tid, srv, up, server, "POST /v1/models/{model}/predict", s0, s0 + dur - 400))
        for k, op in enumerate(("queue", "batch", "inference", "postprocess")):
            a = s0 + 100 + k * (dur // 5)
            spans.append(Span(tid, sid(), srv, server, op, a, a + rng.randint(100, dur // 4)))
        cursor += dur + rng.randint(1_000, 5_000)
    for _ in range(rng.randint(0, 3)):  # parallel side work
        a = t0 + rng.randint(0, cursor - t0)
        spans.append(Span(tid, sid(), root, "gateway", "cache refresh", a, a + rng.randint(10, 5_000)))
    if rng.random() < 0.02:
        spans.append(Span(tid, sid(), "ffffffffffffffff", "registry", "late heartbeat", t0 + 10, t0 + 500))
    spans.append(Span(tid, root, None, "gateway", "POST /v1/models/{model}/predict", t0, cursor + rng.randint(100, 500)))
    return spans


def to_otlp(spans: list[Span]) -> str:
    by_service: dict[str, list[dict]] = {}
    for s in spans:
        raw = {"traceId": s.trace_id, "spanId": s.span_id, "name": s.operation, "kind": 2,
               "startTimeUnixNano": str(s.start_us * 1000), "endTimeUnixNano": str(s.end_us * 1000),
               "status": {"code": 2} if s.error else {}}
        if s.parent_id:
            raw["parentSpanId"] = s.parent_id
        by_service.setdefault(s.service, []).append(raw)
    doc = {"result": {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]}, "scopeSpans": [{"spans": sp}]}
        for svc, sp in by_service.items()
    ]}}
    return json.dumps(doc)


def timed(fn, *args):
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak


def analyse_all(spans: list[Span]):
    return aggregate(analyze(spans))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jaeger")
    ap.add_argument("--service", default="gateway")
    ap.add_argument("--since", type=float, default=900.0, help="seconds back from now (with --jaeger)")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    spans = [s for i in range(args.traces) for s in gen_trace(rng, i)]
    n = len(spans)
    text = to_otlp(spans)
    print(f"generated: {args.traces} traces, {n} spans, {len(text) / 1e6:.1f} MB of OTLP JSON")
    # Warm-up pass (imports, allocator), then the measured ones without and with tracemalloc.
    analyse_all(spans[:5000])
    # Wall and CPU time: on a shared machine the CPU time is the fairer figure.
    t0, c0 = time.perf_counter(), time.process_time()
    agg = analyse_all(spans)
    plain, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, _, peak = timed(analyse_all, spans)
    print(f"analysis (critical paths + self times + aggregation): {plain:.2f} s wall, {cpu:.2f} s CPU; "
          f"{n / plain:,.0f} spans/s wall, {n / cpu:,.0f} spans/s CPU; peak memory {peak / 1e6:.1f} MB (tracemalloc)")
    t0, c0 = time.perf_counter(), time.process_time()
    parse_otlp_text(text, "generated")
    parse_s, parse_cpu = time.perf_counter() - t0, time.process_time() - c0
    _, _, parse_peak = timed(parse_otlp_text, text, "generated")
    print(f"OTLP JSON parsing: {parse_s:.2f} s wall, {parse_cpu:.2f} s CPU; {n / parse_cpu:,.0f} spans/s CPU; "
          f"peak memory {parse_peak / 1e6:.1f} MB (tracemalloc)")
    print(f"result: {agg.traces} traces, {agg.orphans} orphans re-homed, {agg.skew_adjusted} skew-adjusted; top row "
          f"{agg.rows[0].service} `{agg.rows[0].operation}` {agg.rows[0].critical_path_share:.0%}")
    if args.jaeger:
        from chaosctl.observe.jaeger import Jaeger

        client = Jaeger(args.jaeger)
        now = time.time()
        fetched = client.fetch(args.service, now - args.since, now)
        client.close()
        t0 = time.perf_counter()
        real = analyse_all(list(fetched.spans))
        a_s = time.perf_counter() - t0
        print(f"jaeger: fetched {len(fetched.spans)} spans of {real.traces} traces in {fetched.seconds:.2f} s "
              f"({fetched.requests} requests); analysis {a_s * 1000:.1f} ms = {a_s / max(fetched.seconds, 1e-9):.1%} of the fetch time")


if __name__ == "__main__":
    main()
