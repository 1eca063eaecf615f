"""Report writers over generated reports (hypothesis): any name, reason or number a run can
carry gives a well-formed junit.xml, an inert report.md, a report.html without a live tag,
and a report.json that loads back; never a traceback. 10,000 reports (issue 10) under `make fuzz`;
`make test` runs a random share of them (tests/fuzzing.py)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from fuzzing import examples, full_strength

from chaosctl.report import html, junit, md
from chaosctl.report import json as report_json
from chaosctl.report.model import RunReport
from chaosctl.verdict.model import BottleneckRow, Check, PhaseWindow, Series

FUZZ_EXAMPLES = 10_000
NASTY = ["[bold]", "[/]", "[link=https://evil.example]x[/link]", "\x1b[2J", "\x00", "\x07", "\u202e", "\ud800",
         "\ufffe", "]]>", "<script>alert(1)</script>", "<!--", "`", "|", "**", "# h", "- x", "1. y", "> q",
         "&amp;", "\\", "\r\n", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "\u2028"]  # fmt: skip
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _strategies():
    from hypothesis import strategies as st

    text = st.one_of(
        st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
        st.lists(st.sampled_from(NASTY), max_size=4).map("".join),
    )
    num = st.floats(allow_nan=True, allow_infinity=True)
    opt = st.one_of(st.none(), num)
    check = st.builds(Check, st.sampled_from(["slo", "trace", "steady_state", "abort", "fault"]), text, text,
                      st.sampled_from(["pass", "fail"]), text, text, text)
    row = st.builds(BottleneckRow, text, text, num, num, num, num, num, st.integers(-5, 10**6), st.integers(-5, 10**6), opt, opt)
    phase = st.builds(PhaseWindow, text, num, num, st.lists(text, max_size=3).map(tuple))
    series = st.builds(Series, st.sampled_from(["latency_p50", "latency_p99", "error_ratio", "x"]),
                       st.lists(st.tuples(num, num), max_size=6).map(tuple))
    return st.builds(
        RunReport,
        scenario=text, verdict=st.sampled_from(["pass", "fail", "aborted", "error"]), started=num, ended=num,
        phases=st.lists(phase, max_size=3).map(tuple), checks=st.lists(check, max_size=4).map(tuple),
        bottlenecks=st.dictionaries(text, st.lists(row, max_size=3).map(tuple), max_size=2),
        findings=st.lists(text, max_size=2).map(tuple), series=st.lists(series, max_size=2).map(tuple),
        notes=st.lists(text, max_size=2).map(tuple), interrupted=st.booleans(), error=text,
    )


def _check_junit(report: RunReport) -> None:
    raw = junit.to_xml(report)
    root = ET.fromstring(raw)  # well-formed, or this raises
    assert not _XML_FORBIDDEN.search(raw.decode("utf-8"))
    names = [case.get("name") for case in root.iter("testcase")]
    assert len(names) >= len(report.checks)
    for name in names:
        assert "\x1b" not in name


def _check_md(report: RunReport) -> None:
    text = md.render(report)
    assert "\x1b" not in text and "\x00" not in text
    assert "<script" not in text and "<img" not in text and "<!--" not in text  # no raw HTML from a name
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            # every table row keeps its columns: a name's `|` is escaped
            assert len(re.findall(r"(?<!\\)\|", line)) in (5, 8, 11), line


def _check_html(report: RunReport) -> None:
    page = html.render(report)
    assert "<script" not in page and "<img" not in page and "\x1b" not in page


@pytest.mark.parametrize("part", [0, 1])
def test_report_writers_over_generated_reports(part: int) -> None:
    """10,000 reports in two seeded halves (each well under a minute of CPU) at full strength."""
    from hypothesis import HealthCheck, given, seed, settings

    @settings(max_examples=examples(FUZZ_EXAMPLES // 2), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_strategies())
    def check(report: RunReport) -> None:
        _check_junit(report)
        _check_md(report)
        _check_html(report)
        json.loads(report_json.dumps(report))  # strict JSON: no NaN, no lone surrogate escapes that break it

    (seed(20261201 + part)(check) if full_strength() else check)()


def test_junit_strips_what_xml_forbids_and_keeps_the_rest() -> None:
    report = RunReport("s\x00[/]", "fail", 0.0, 1.0, (), (Check("slo", "a\x1bb<c>&\ud800", "p\x07", "fail", "x\x0b", "", "r\ufffe"),))
    root = ET.fromstring(junit.to_xml(report))
    case = next(root.iter("testcase"))
    assert case.get("name") == "[p] ab<c>&"
    assert root.find("testsuite").get("name") == "s[/]"
    assert "\ufffe" not in ET.tostring(root, encoding="unicode")


def test_markdown_shows_names_as_written() -> None:
    report = RunReport("x", "pass", 0.0, 1.0, (), (Check("slo", "<b>*hi*</b> | [l](u)", "p", "pass"),))
    row = [ln for ln in md.render(report).splitlines() if ln.startswith("| PASS")][0]
    assert r"&lt;b&gt;\*hi\*&lt;/b&gt; \| \[l\]\(u\)" in row


def test_terminal_report_over_generated_reports() -> None:
    """The verdict tables through rich: markup in names never parsed, control characters never printed."""
    from hypothesis import HealthCheck, given, settings
    from rich.console import Console

    from chaosctl.report import console

    @settings(max_examples=examples(1_000), deadline=None, database=None, derandomize=full_strength(),
              suppress_health_check=list(HealthCheck))
    @given(_strategies())
    def check(report: RunReport) -> None:
        con = Console(width=160, record=True, force_terminal=False, color_system=None)
        console.render(report, con)
        out = con.export_text()
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out

    check()
