"""Trace files and OTLP fields as the edge sees them: size and depth caps, malformed input (exit 2
naming FILE and the reason, no traceback, no hang), control characters stripped from names at parse
time, and the fields the critical path needs (span kind, follows-from links, host)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from otlp_build import SEQUENTIAL, S, resource_spans, span_id, trace_id

from chaosctl import cli
from chaosctl.errors import UsageError
from chaosctl.report.bottlenecks import read_file
from chaosctl.observe.spans import TraceFormatError, clean_name, parse_otlp_document, parse_otlp_text


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["chaosctl", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def one_span(**fields: object) -> str:
    raw = {"traceId": trace_id("t"), "spanId": span_id("s"), "name": "op", "startTimeUnixNano": "1000", "endTimeUnixNano": "2000"}
    raw.update(fields)
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [raw]}]}]})


# --- caps ----------------------------------------------------------------------------------------

def test_file_over_the_size_cap_exits_2_naming_it(tmp_path: Path, capsys, monkeypatch) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2**20 + 1))  # one byte over 1 MiB
    code, _, err = run_cli(["bottlenecks", "--file", str(big), "--max-file-mb", "1"], capsys, monkeypatch)
    assert code == 2 and f"{big}: larger than the 1 MiB cap" in err and "Traceback" not in err


def test_endless_input_is_cut_at_the_cap_not_read_forever() -> None:
    with pytest.raises(UsageError, match="/dev/zero: larger than the 4096 bytes cap"):
        read_file(Path("/dev/zero"), max_bytes=4096)


def test_deep_nesting_exits_2_with_file_line_col(tmp_path: Path, capsys, monkeypatch) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"resourceSpans": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, _, err = run_cli(["bottlenecks", "--file", str(deep)], capsys, monkeypatch)
    # '{"resourceSpans": ' is 18 characters and its '{' is level 1: the first '[' (column 19) is
    # level 2, so level 65 is the 64th '[', column 19 + 63 = 82
    assert code == 2 and f"{deep}:1:82: JSON nested deeper than 64 levels" in err and "Traceback" not in err


def test_deep_attribute_value_is_refused_without_recursion() -> None:
    value = "[" * 500 + "]" * 500  # shallow enough for the JSON decoder, too deep to print
    text = ('{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"arrayValue": %s}}]}}]}' % value)
    with pytest.raises(TraceFormatError, match="f.json:1:1 resourceSpans\\[0\\]: a value nested deeper than 64 levels"):
        parse_otlp_text(text, "f.json")


# --- malformed files -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe{}", "not UTF-8 text (byte 0"),
        (b'{"resourceSpans": [' + b"1" * 5000 + b"]}", "bad.json:1:1: invalid JSON document"),  # beyond int digit limit
        (one_span(startTimeUnixNano="-5").encode(), "'startTimeUnixNano' is outside 0..2^64 ns"),
        (one_span(endTimeUnixNano=str(2**64)).encode(), "'endTimeUnixNano' is outside 0..2^64 ns"),
        (one_span(startTimeUnixNano=1.5).encode(), "'startTimeUnixNano' is not an integer: 1.5"),
        (one_span(startTimeUnixNano=[[[1]]]).encode(), "'startTimeUnixNano' is not an integer: list"),
        (one_span(name={"a": 1}).encode(), "spans[0]: 'name' must be a string"),
        (one_span(links={}).encode(), "spans[0]: 'links' must be a list"),
        (one_span(links=[{"traceId": trace_id("t"), "spanId": "xyz"}]).encode(), "spans[0] links[0]: 'spanId' is neither"),
        (one_span(spanId="0x01020304050607").encode(), "'spanId' is neither 16 hex digits"),
        (b'{"error": {"message": "\\u001b[2Jno traces"}}', "an error document, not traces"),
    ],
)
def test_malformed_files_exit_2_with_file_and_reason(tmp_path: Path, capsys, monkeypatch, content: bytes, expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code, _, err = run_cli(["bottlenecks", "--file", str(bad)], capsys, monkeypatch)
    assert code == 2 and str(bad) in err and expected in err and "Traceback" not in err
    assert "\x1b" not in err


def test_a_directory_or_a_missing_file_exits_2(tmp_path: Path, capsys, monkeypatch) -> None:
    code, _, err = run_cli(["bottlenecks", "--file", str(tmp_path)], capsys, monkeypatch)
    assert code == 2 and f"{tmp_path}: cannot read: Is a directory" in err
    code, _, err = run_cli(["bottlenecks", "--file", str(tmp_path / "none.json")], capsys, monkeypatch)
    assert code == 2 and "cannot read: No such file or directory" in err


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "bom.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps({"resourceSpans": resource_spans("b", SEQUENTIAL)}).encode())
    assert len(read_file(f)) == 4


# --- control characters --------------------------------------------------------------------------

def test_clean_name_strips_escapes_controls_and_bidi() -> None:
    assert clean_name("\x1b[31mred\x1b[0m op") == "red op"
    assert clean_name("a\x1b]0;pwned\x07b\x9b2Jc\u202ed\x00e\nf\ud800") == "abcdef"
    assert clean_name("POST /v1/models/{model}/predict é [b]") == "POST /v1/models/{model}/predict é [b]"


def test_names_reach_the_terminal_and_json_clean(tmp_path: Path, capsys, monkeypatch) -> None:
    defs = [S("root", None, "gw\x1b[2J\x9b1m", "\x1b[31mPOST\x1b[0m /x\x07\u202e", 0, 100)]
    f = tmp_path / "ctl.json"
    f.write_text(json.dumps({"resourceSpans": resource_spans("c", defs)}))
    code, out, _ = run_cli(["bottlenecks", "--file", str(f), "--per-trace"], capsys, monkeypatch)
    assert code == 0 and "POST /x" in out and "gw" in out
    assert not any(c in out for c in "\x1b\x07\x9b\u202e")
    code, out, _ = run_cli(["bottlenecks", "--file", str(f), "--json"], capsys, monkeypatch)
    row = json.loads(out)["operations"][0]
    assert (row["service"], row["operation"]) == ("gw", "POST /x")


# --- the fields the critical path needs ----------------------------------------------------------

def test_kind_host_and_follows_from_are_parsed() -> None:
    doc = {"resourceSpans": resource_spans("k", [
        S("root", None, "gw", "root", 0, 100),
        S("pub", "root", "gw", "publish", 10, 20, kind=4),
        S("a", "root", "gw", "audit", 50, 300, follows=True),
    ], hosts={"gw": "h1"})}
    spans = {s.operation: s for s in parse_otlp_document(doc)}
    assert (spans["publish"].kind, spans["root"].kind, spans["root"].host) == ("producer", "server", "h1")
    audit = spans["audit"]  # Jaeger's form: no parentSpanId, a follows_from link to the parent
    assert (audit.parent_id, audit.follows_from) == (span_id("root"), True)
    assert not spans["publish"].follows_from


@pytest.mark.parametrize(
    ("fields", "parent", "follows"),
    [
        ({"parentSpanId": span_id("p"), "links": [{"traceId": trace_id("t"), "spanId": span_id("p")}]}, "p", True),
        ({"parentSpanId": span_id("p"), "links": [{"traceId": trace_id("t"), "spanId": span_id("p"),
          "attributes": [{"key": "opentracing.ref_type", "value": {"stringValue": "child_of"}}]}]}, "p", False),
        ({"parentSpanId": span_id("p"), "links": [{"traceId": trace_id("t"), "spanId": span_id("q")}]}, "p", False),
        ({"links": [{"traceId": trace_id("other"), "spanId": span_id("q")}]}, None, False),  # another trace
        ({"kind": "SPAN_KIND_CONSUMER"}, None, False),
    ],
)
def test_links_make_a_parent_relation_follows_from(fields: dict, parent: str | None, follows: bool) -> None:
    (s,) = parse_otlp_text(one_span(**fields))
    assert s.parent_id == (span_id(parent) if parent else None) and s.follows_from is follows
    if "kind" in fields:
        assert s.kind == "consumer"


def test_a_named_pipe_without_writer_does_not_hang(tmp_path: Path, capsys, monkeypatch) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    code, _, err = run_cli(["bottlenecks", "--file", str(fifo)], capsys, monkeypatch)
    assert code == 2 and f"{fifo}: no JSON document found" in err
