"""How a report says the run did not complete: `interrupted` and `error` in report.json
(older reports without them still load), one JUnit <error> (still valid JUnit XML), a line
in Markdown, HTML and the terminal."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from report_sample import sample_report
from rich.console import Console

from chaosctl.report import console, html, junit, md, write_reports, write_reports_safely
from chaosctl.report import json as report_json

XSD = Path(__file__).resolve().parents[1] / "data" / "junit.xsd"
ENDS = {
    "interrupted": dict(interrupted=True, verdict="aborted"),
    "error": dict(error="RuntimeError: boom <&> (at phase.py:80 in run_phase)", verdict="error"),
}


@pytest.mark.parametrize("end", ENDS)
def test_junit_has_one_error_testcase_and_stays_valid(end: str) -> None:
    report = replace(sample_report(), **ENDS[end])
    doc = etree.fromstring(junit.to_xml(report))
    etree.XMLSchema(etree.parse(str(XSD))).assertValid(doc)
    suite = doc.find("testsuite")
    assert suite.get("errors") == "1" and int(suite.get("tests")) == len(report.checks) + 1
    errors = doc.findall(".//error")
    assert len(errors) == 1 and errors[0].get("type") == ("interrupted" if end == "interrupted" else "run-error")
    if end == "error":
        assert "boom <&>" in errors[0].get("message")


def test_a_complete_run_has_no_error_testcase() -> None:
    doc = etree.fromstring(junit.to_xml(sample_report()))
    assert doc.find("testsuite").get("errors") == "0" and not doc.findall(".//error")


@pytest.mark.parametrize("end", ENDS)
def test_markdown_html_and_terminal_say_it(end: str) -> None:
    report = replace(sample_report(), **ENDS[end])
    word = "interrupted" if end == "interrupted" else "the run failed: RuntimeError"
    assert word in md.render(report)
    assert word in html.render(report) and "boom <&>" not in html.render(report)  # escaped
    con = Console(record=True, width=200)
    console.render(report, con)
    assert word in con.export_text()


def test_report_json_round_trips_the_new_fields_and_loads_an_older_report(tmp_path: Path) -> None:
    report = replace(sample_report(), interrupted=True, verdict="aborted")
    write_reports(report, tmp_path)
    raw = json.loads((tmp_path / "report.json").read_text())
    assert raw["interrupted"] is True and raw["error"] == "" and raw["schema_version"] == 2
    assert report_json.load(tmp_path).interrupted is True
    del raw["interrupted"], raw["error"]  # as written before these fields existed
    (tmp_path / "report.json").write_text(json.dumps(raw))
    old = report_json.load(tmp_path)
    assert old.interrupted is False and old.error == ""


def test_one_writer_failing_does_not_cost_the_others(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").mkdir()  # junit cannot be written there
    written, failed = write_reports_safely(sample_report(), tmp_path)
    assert sorted(written) == ["html", "json", "md"]
    assert len(failed) == 1 and "junit.xml" in failed[0]
