"""A naive single-file bottleneck analyser: the yardstick `benchmarks/critical_path.py` times
`chaosctl bottlenecks --file` against (issue 14: "at least 2x a naive implementation").

What a developer writes in an afternoon with the standard library: `json.load`, a dict per span,
group by trace, a recursive jaeger-ui-style critical path with children clamped to their parent,
self time as duration minus the union of children, per-(service, operation) sums and sorted
percentiles. No clock-skew adjustment, no async/dropped subtrees, no input checks.

    python benchmarks/naive_bottlenecks.py traces.json
"""

import json
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        doc = json.load(f)
    doc = doc.get("result", doc)
    spans = []
    for rs in doc["resourceSpans"]:
        attrs = (rs.get("resource") or {}).get("attributes") or []
        service = next((a["value"].get("stringValue") for a in attrs if a["key"] == "service.name"), "unknown")
        for scope in rs.get("scopeSpans", []):
            for s in scope.get("spans", []):
                spans.append({
                    "trace": s["traceId"], "id": s["spanId"], "parent": s.get("parentSpanId") or None,
                    "key": (service, s["name"]),
                    "start": int(s["startTimeUnixNano"]) // 1000, "end": int(s["endTimeUnixNano"]) // 1000,
                    "error": (s.get("status") or {}).get("code") == 2,
                })
    return spans


def walk(span, start, end, cursor, children, crit):
    kids = sorted(children[span["id"]], key=lambda c: min(c["end"], end), reverse=True)
    for c in kids:
        cs, ce = max(c["start"], start), min(c["end"], end)
        if cs < ce <= cursor:
            crit[span["key"]] += cursor - ce
            walk(c, cs, ce, ce, children, crit)
            cursor = cs
    if cursor > start:
        crit[span["key"]] += cursor - start


def self_time(span, children):
    covered, cur = 0, None
    for s, e in sorted((max(c["start"], span["start"]), min(c["end"], span["end"])) for c in children[span["id"]]):
        if cur is None or s > cur[1]:
            covered += cur[1] - cur[0] if cur else 0
            cur = [s, e]
        else:
            cur[1] = max(cur[1], e)
    covered += cur[1] - cur[0] if cur else 0
    return span["end"] - span["start"] - covered


def percentile(values, q):
    pos = (len(values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def main(path):
    traces = defaultdict(list)
    for s in load(path):
        traces[s["trace"]].append(s)
    crit, selfs, durs, errors, total = defaultdict(int), defaultdict(list), defaultdict(list), defaultdict(int), 0
    for spans in traces.values():
        by_id = {s["id"]: s for s in spans}
        children = defaultdict(list)
        for s in spans:
            if s["parent"] in by_id:
                children[s["parent"]].append(s)
        for s in spans:
            if s["parent"] not in by_id:
                total += s["end"] - s["start"]
                walk(s, s["start"], s["end"], s["end"], children, crit)
            selfs[s["key"]].append(self_time(s, children))
            durs[s["key"]].append(s["end"] - s["start"])
            errors[s["key"]] += s["error"]
    rows = [{"service": k[0], "operation": k[1], "share": crit[k] / total, "p50_self_ms": percentile(sorted(selfs[k]), 50) / 1000,
             "p99_ms": percentile(sorted(durs[k]), 99) / 1000, "count": len(durs[k]), "errors": errors[k]} for k in durs]
    rows.sort(key=lambda r: -r["share"])
    print(json.dumps({"traces": len(traces), "operations": rows}))


if __name__ == "__main__":
    main(sys.argv[1])
