"""junit.xml: one <testsuite> per run, one <testcase> per check (SLO, trace, steady state, abort).

The layout is the de-facto JUnit XML that Jenkins, GitLab, GitHub test-report actions and
pytest produce/read: testsuites > testsuite(name, tests, failures, errors, skipped, time,
timestamp) > testcase(name, classname, time) > failure(message, type) with a text body.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from chaosctl.console import plain
from chaosctl.report.model import RunReport, fault_lines, run_error
from chaosctl.verdict.model import Check

FILENAME = "junit.xml"
# What XML 1.0 forbids even as a character reference (lone surrogates, U+FFFE/U+FFFF); the
# C0 controls are removed by `plain` with the rest of the terminal-hostile characters.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def failure_message(check: Check) -> str:
    parts = [f"observed {check.observed or 'nothing'}", f"objective {check.objective or '-'}"]
    if check.reason:
        parts.append(check.reason)
    return "; ".join(parts)


def to_xml(report: RunReport) -> bytes:
    failures = sum(1 for c in report.checks if not c.passed)
    duration = report.ended - report.started
    duration = duration if math.isfinite(duration) and duration > 0 else 0.0
    run_problem = run_error(report)  # an error or an interrupt is a JUnit <error>, one extra testcase
    tests, errors = str(len(report.checks) + bool(run_problem)), str(int(bool(run_problem)))
    suites = ET.Element("testsuites", name="chaosctl", tests=tests, failures=str(failures),
                        errors=errors, time=f"{duration:.3f}")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=report.scenario,
        tests=tests,
        failures=str(failures),
        errors=errors,
        skipped="0",
        time=f"{duration:.3f}",
        timestamp=_timestamp(report.started),
    )
    _properties(suite, report)
    _testcases(suite, report, run_problem)
    if report.findings or report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join((*report.findings, *report.notes))
    _clean(suites)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def _properties(suite: ET.Element, report: RunReport) -> None:
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="verdict", value=report.verdict)
    if report.interrupted:
        ET.SubElement(props, "property", name="interrupted", value="true")
    for phase in report.phases:
        ET.SubElement(props, "property", name=f"phase.{phase.name}", value="; ".join(fault_lines(phase)) or "no faults")


def _testcases(suite: ET.Element, report: RunReport, run_problem: str) -> None:
    """One per check (a failed one with its <failure>), and the run's own error or interrupt."""
    for check in report.checks:
        case = ET.SubElement(
            suite, "testcase", name=f"[{check.phase}] {check.name}", classname=f"chaosctl.{report.scenario}.{check.kind}",
            time="0",
        )
        if not check.passed:
            fail = ET.SubElement(case, "failure", message=failure_message(check), type=f"{check.kind}-failed")
            fail.text = "\n".join(
                f"{k}: {v}" for k, v in (("phase", check.phase), ("observed", check.observed),
                                         ("objective", check.objective), ("reason", check.reason)) if v
            )
    if run_problem:
        case = ET.SubElement(suite, "testcase", name="[run] completed", classname=f"chaosctl.{report.scenario}.run", time="0")
        ET.SubElement(case, "error", message=run_problem, type="interrupted" if report.interrupted else "run-error").text = run_problem


def _timestamp(started: float) -> str:
    try:
        return datetime.fromtimestamp(started, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    except (ValueError, OverflowError, OSError):  # NaN or out of datetime's range (a hand-edited report.json)
        return "1970-01-01T00:00:00"


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", plain(text, multiline=True))


def _clean(root: ET.Element) -> None:
    """Every text and attribute made of characters XML 1.0 allows: a name from a scenario or a
    span can hold anything, and one control character would make the whole file unreadable."""
    for el in root.iter():
        el.text = _xml_text(el.text) if el.text else el.text
        el.tail = _xml_text(el.tail) if el.tail else el.tail
        for key, value in el.attrib.items():
            el.attrib[key] = _xml_text(value)


def write(report: RunReport, directory: Path) -> Path:
    path = Path(directory) / FILENAME
    path.write_bytes(to_xml(report))
    return path
