"""Report writers: report.json round trip, junit.xml against a JUnit XML schema, Markdown, console."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from report_sample import sample_report
from rich.console import Console

from chaosctl.cli import exit_code_for
from chaosctl.errors import ScenarioInvalid
from chaosctl.report import console, rerender, write_reports
from chaosctl.report import json as report_json
from chaosctl.report import junit, md

XSD = Path(__file__).resolve().parents[1] / "data" / "junit.xsd"


def test_write_reports_writes_the_four_files(tmp_path: Path) -> None:
    paths = write_reports(sample_report(), tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["junit.xml", "report.html", "report.json", "report.md"]
    assert all(p.stat().st_size > 200 for p in paths.values())


def test_report_json_has_the_design_shape_and_round_trips(tmp_path: Path) -> None:
    report = sample_report()
    path = report_json.write(report, tmp_path)
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 2 and raw["scenario"] == "latency-injection" and raw["verdict"] == "fail"
    assert raw["phases"][1] == {"name": "fault", "start": report.phases[1].start, "end": report.phases[1].end,
                                "faults": [{"label": "latency link:gateway->model-gpu-1"}]}
    assert set(raw["checks"][0]) >= {"kind", "name", "phase", "status", "observed", "objective", "reason"}
    row = raw["bottlenecks"]["fault"][0]
    assert set(row) >= {"service", "operation", "critical_path_share", "self_ms_p50", "p99_ms", "delta_share_vs_baseline"}
    loaded = report_json.load(tmp_path)
    # the NaN point of the error-ratio series is dropped (JSON has no NaN); everything else is equal
    expected_series = tuple(replace(s, points=tuple(p for p in s.points if not math.isnan(p[1]))) for s in report.series)
    assert loaded == replace(report, series=expected_series)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"schema_version": 1, "scenario": "x"', "report.json:1:"),
        ('{"schema_version": 7}', "schema_version 7 is not supported"),
        ('{"schema_version": 1, "scenario": "x", "verdict": "meh", "started": 0, "ended": 1, "phases": [], "checks": []}', "verdict"),
        ('{"schema_version": 1, "scenario": "x", "verdict": "pass", "started": 0, "ended": 1, "phases": [{"name": "a"}], "checks": []}', "phases.0"),
    ],
)
def test_bad_report_json_is_a_clear_error(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "report.json").write_text(content)
    with pytest.raises(ScenarioInvalid) as exc:
        report_json.load(tmp_path)
    assert expected in str(exc.value) and exit_code_for(exc.value) == 2


def test_junit_validates_against_the_schema_with_one_testcase_per_check(tmp_path: Path) -> None:
    report = sample_report()
    path = junit.write(report, tmp_path)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.parse(str(path))
    schema.assertValid(doc)
    suites = doc.getroot()
    assert suites.tag == "testsuites" and len(suites.findall("testsuite")) == 1
    cases = suites.findall("testsuite/testcase")
    assert len(cases) == len(report.checks)
    failures = [c.find("failure") for c in cases if c.find("failure") is not None]
    assert len(failures) == sum(1 for c in report.checks if not c.passed) == 2
    assert failures[0].get("message") == "observed 612 ms; objective < 300ms; 612 ms is not < 300 ms"
    assert suites.find("testsuite").get("failures") == "2"


def test_schema_rejects_a_broken_junit() -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert not schema.validate(etree.fromstring(b'<testsuites><testsuite name="x"><testcase/></testsuite></testsuites>'))


def test_markdown_has_verdict_tables_and_text_charts() -> None:
    text = md.render(sample_report())
    assert "**Verdict: FAIL**" in text
    assert "| **FAIL** | slo | fault | fault p99 | 612 ms | &lt; 300ms |" in text  # `<` as an entity: never a tag
    assert "went from 12% to 71%" in text and "▁" in text and "█" in text


def test_console_render_shows_checks_bottlenecks_and_verdict() -> None:
    con = Console(width=200, record=True)
    console.render(sample_report(), con)
    out = con.export_text()
    assert "verdict: FAIL" in out and "upstream model-gpu-1" in out and "+59.0 pts" in out
    assert "[fault] " not in out  # names are data, not rich markup


def test_rerender_rebuilds_from_report_json(tmp_path: Path, capsys) -> None:
    report_json.write(sample_report(), tmp_path)
    rerender(tmp_path)
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "report.html").exists() and (tmp_path / "report.md").exists()
    assert "verdict: FAIL" in capsys.readouterr().out


def _main(args: list[str], monkeypatch) -> int:
    import sys

    from chaosctl import cli

    monkeypatch.setattr(sys, "argv", ["chaosctl", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return int(exc.value.code or 0)


def test_report_command_rerenders_and_refuses_a_broken_json(tmp_path: Path, monkeypatch, capsys) -> None:
    report_json.write(sample_report(), tmp_path)
    assert _main(["report", str(tmp_path)], monkeypatch) == 0
    assert (tmp_path / "report.html").exists() and "verdict: FAIL" in capsys.readouterr().out
    (tmp_path / "report.json").write_text('{"schema_version": 1, "scenario": ')
    assert _main(["report", str(tmp_path)], monkeypatch) == 2
    err = capsys.readouterr().err
    assert "report.json:1:" in err and "Traceback" not in err
