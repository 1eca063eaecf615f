"""`chaosctl bottlenecks --file` on hand-built OTLP JSON: hand-computed results to the microsecond,
and exit 2 naming what is wrong and where for malformed or truncated files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from otlp_build import MISSING_PARENT, OUTLIVES, PARALLEL, SEQUENTIAL, SKEWED, T0_US, S, resource_spans, trace_id

from chaosctl import cli


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["chaosctl", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture
def traces_file(tmp_path: Path) -> Path:
    """Two documents in one file: a Jaeger `{"result": ...}` answer, then a bare resourceSpans document."""
    first = {"result": {"resourceSpans": resource_spans("seq", SEQUENTIAL) + resource_spans("par", PARALLEL) + resource_spans("out", OUTLIVES)}}
    second = {"resourceSpans": resource_spans("skew", SKEWED) + resource_spans("miss", MISSING_PARENT)}
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(first, indent=1) + "\n" + json.dumps(second) + "\n")
    return path


def test_per_trace_critical_paths_to_the_microsecond(traces_file, capsys, monkeypatch) -> None:
    code, out, err = run_cli(["bottlenecks", "--file", str(traces_file), "--json", "--per-trace"], capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out)
    # one entry per root: (trace id, root operation) -> path
    paths = {(t["trace_id"], t["root"]["operation"]): [(s["operation"], s["start_us"] - T0_US, s["end_us"] - T0_US) for s in t["critical_path"]]
             for t in result["per_trace"]}
    paths.update({tid: p for (tid, op), p in paths.items() if op == "POST /predict"})
    assert paths[trace_id("seq")] == [
        ("POST /predict", 0, 100), ("registry lookup", 100, 300), ("POST /predict", 300, 350),
        ("upstream model-gpu-1", 350, 400), ("predict", 400, 850), ("upstream model-gpu-1", 850, 900), ("POST /predict", 900, 1000),
    ]
    assert paths[trace_id("par")] == [("POST /predict", 0, 50), ("c3", 50, 250), ("POST /predict", 250, 300), ("c2", 300, 900), ("POST /predict", 900, 1000)]
    assert paths[trace_id("out")] == [("POST /predict", 0, 200), ("upstream model-gpu-1", 200, 300), ("predict", 300, 800), ("POST /predict", 800, 1000)]
    assert paths[trace_id("skew")] == [
        ("POST /predict", 1000, 1100), ("upstream model-gpu-1", 1100, 1200), ("predict", 1200, 1300), ("infer", 1300, 1700),
        ("predict", 1700, 1800), ("upstream model-gpu-1", 1800, 1900), ("POST /predict", 1900, 2000),
    ]
    # issue 10: the registry span whose parent is missing is its own root, not part of the gateway's path
    assert paths[trace_id("miss")] == [("POST /predict", 0, 500), ("y", 500, 700), ("POST /predict", 700, 1000)]
    assert paths[(trace_id("miss"), "GET /v1/services")] == [("GET /v1/services", 100, 400)]
    kinds = {(t["trace_id"], t["root"]["operation"]): (t["kind"], t["orphans"]) for t in result["per_trace"]}
    assert kinds[(trace_id("miss"), "GET /v1/services")] == ("orphan", 1) and len(kinds) == 6
    skew = next(t for t in result["per_trace"] if t["trace_id"] == trace_id("skew"))
    assert skew["critical_path"][0]["offset_us"] == 0 and skew["duration_us"] == 1000


def test_aggregate_over_the_five_traces(traces_file, capsys, monkeypatch) -> None:
    code, out, _ = run_cli(["bottlenecks", "--file", str(traces_file), "--json"], capsys, monkeypatch)
    result = json.loads(out)
    assert (result["traces"], result["spans"], result["orphans"], result["skew_adjusted"]) == (5, 18, 1, 1)
    assert (result["asynchronous"], result["dropped"]) == (0, 0)
    ops = {(r["service"], r["operation"]): r for r in result["operations"]}
    root = ops[("gateway", "POST /predict")]
    # Since issue 10 the orphan registry span is its own root (300 µs): the denominator is
    # 5 x 1000 + 300 = 5300 µs. Root critical µs per trace: 250 + 200 + 400 + 200 + 800 = 1850.
    assert root["critical_path_share"] == pytest.approx(1850 / 5300, abs=1e-12)
    assert root["critical_path_ms"] == pytest.approx(0.37, abs=1e-12)  # 1850 µs / 5 traces
    # self times sorted 150, 200, 250, 400, 800: p50 = 250, p99 = 400 + 0.96 * 400 = 784 µs
    assert (root["self_ms_p50"], root["self_ms_p99"]) == (pytest.approx(0.25), pytest.approx(0.784))
    assert root["count"] == 5 and root["errors"] == 0
    up = ops[("gateway", "upstream model-gpu-1")]
    # critical 100 + 100 + 200 = 400 µs; durations 550, 600, 800 -> p99 = 600 + 0.98 * 200 = 796 µs
    assert up["critical_path_share"] == pytest.approx(400 / 5300, abs=1e-12)
    assert up["p99_ms"] == pytest.approx(0.796, abs=1e-12)
    assert (up["count"], up["errors"]) == (3, 1)
    assert ops[("registry", "GET /v1/services")]["critical_path_ms"] == pytest.approx(0.06)  # 300 µs / 5 traces
    assert sum(r["critical_path_share"] for r in result["operations"]) == pytest.approx(1.0)


def test_baseline_file_gives_deltas_and_findings(tmp_path, capsys, monkeypatch) -> None:
    base, cur = tmp_path / "base.json", tmp_path / "cur.json"
    base.write_text(json.dumps({"resourceSpans": resource_spans("b", SEQUENTIAL)}))
    cur.write_text(json.dumps({"resourceSpans": resource_spans("c", OUTLIVES)}))
    code, out, _ = run_cli(["bottlenecks", "--file", str(cur), "--baseline-file", str(base), "--json"], capsys, monkeypatch)
    result = json.loads(out)
    ops = {r["operation"]: r for r in result["operations"]}
    # predict: 450 of 1000 on the baseline path, 500 of 1000 now
    assert ops["predict"]["delta_share_vs_baseline"] == pytest.approx(0.05)
    assert ops["predict"]["delta_p99_ms_vs_baseline"] == pytest.approx(1.2 - 0.45)
    assert any("registry lookup` went from 20% to 0%" in f for f in result["findings"])


def test_table_output_names_orphans(traces_file, capsys, monkeypatch) -> None:
    code, out, _ = run_cli(["bottlenecks", "--file", str(traces_file), "--per-trace"], capsys, monkeypatch)
    assert code == 0
    assert "orphan spans (parent missing, analysed as their own roots): 1" in out
    assert "(orphan)" in out  # the per-trace line of the orphan root says what it is
    assert "upstream model-gpu-1" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [', "bad.json:1:"),  # truncated
        ("", "no JSON document"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "0102030405060708"}]}]}]}', "spans[0]: missing or non-string 'traceId'"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", '
         '"startTimeUnixNano": "soon", "endTimeUnixNano": "1"}]}]}]}', "'startTimeUnixNano' is not an integer"),
        ('{"resourceSpans": {}}', "missing list 'resourceSpans'"),
        ("[1, 2]", "expected a JSON object"),
        ('{"result": {"resourceSpans": []}}\n{"resourceSpans": [}', "bad.json:2:"),
    ],
)
def test_malformed_files_exit_2_with_what_and_where(tmp_path, capsys, monkeypatch, content: str, expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, out, err = run_cli(["bottlenecks", "--file", str(bad)], capsys, monkeypatch)
    assert code == 2
    assert expected in err and "Traceback" not in err


def test_usage_errors_exit_2(capsys, monkeypatch) -> None:
    assert run_cli(["bottlenecks"], capsys, monkeypatch)[0] == 2
    assert run_cli(["bottlenecks", "--jaeger", "http://127.0.0.1:9", "--window", "5..3", "--service", "g"], capsys, monkeypatch)[0] == 2
    code, _, err = run_cli(["bottlenecks", "--file", "/nonexistent/traces.json"], capsys, monkeypatch)
    assert code == 2 and "/nonexistent/traces.json" in err


def test_unreachable_jaeger_exits_3(capsys, monkeypatch) -> None:
    code, _, err = run_cli(["bottlenecks", "--jaeger", "http://127.0.0.1:9", "--service", "gateway", "--since", "5m"], capsys, monkeypatch)
    assert code == 3 and "unreachable" in err


def test_root_operation_keeps_matching_roots_and_what_detached_from_them(tmp_path, capsys, monkeypatch) -> None:
    # "miss": the orphan GET /v1/services is a root of its own and does not match "POST *";
    # "async": the consumer detached from the matching root is kept (its spans count in the rows).
    with_consumer = [
        S("root", None, "gateway", "POST /predict", 0, 1000),
        S("pub", "root", "gateway", "publish", 100, 200, kind=4),
        S("con", "pub", "worker", "consume", 300, 2000, kind=5),
    ]
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"resourceSpans": resource_spans("miss", MISSING_PARENT) + resource_spans("async", with_consumer)}))
    code, out, _ = run_cli(["bottlenecks", "--file", str(f), "--json", "--per-trace", "--root-operation", "POST *"], capsys, monkeypatch)
    result = json.loads(out)
    kept = sorted((t["root"]["operation"], t["kind"]) for t in result["per_trace"])
    assert code == 0 and kept == [("POST /predict", "root"), ("POST /predict", "root"), ("consume", "async")]
    assert (result["traces"], result["orphans"], result["asynchronous"]) == (2, 0, 1)
    ops = {r["operation"]: r for r in result["operations"]}
    # shares over the two roots' 2000 µs: the consumer's 1700 µs are not on the synchronous path
    assert ops["consume"]["critical_path_share"] == 0.0 and ops["consume"]["count"] == 1
    assert ops["publish"]["critical_path_share"] == pytest.approx(100 / 2000)
