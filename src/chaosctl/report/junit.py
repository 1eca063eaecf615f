"""junit.xml: one <testsuite> per run, one <testcase> per check (SLO, trace, steady state, abort).

The layout is the de-facto JUnit XML that Jenkins, GitLab, GitHub test-report actions and
pytest produce/read: testsuites > testsuite(name, tests, failures, errors, skipped, time,
timestamp) > testcase(name, classname, time) > failure(message, type) with a text body.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from chaosctl.report.model import RunReport, fault_lines, run_error
from chaosctl.verdict.model import Check

FILENAME = "junit.xml"


def failure_message(check: Check) -> str:
    parts = [f"observed {check.observed or 'nothing'}", f"objective {check.objective or '-'}"]
    if check.reason:
        parts.append(check.reason)
    return "; ".join(parts)


def to_xml(report: RunReport) -> bytes:
    failures = sum(1 for c in report.checks if not c.passed)
    duration = max(0.0, report.ended - report.started)
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
        timestamp=datetime.fromtimestamp(report.started, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="verdict", value=report.verdict)
    if report.interrupted:
        ET.SubElement(props, "property", name="interrupted", value="true")
    for phase in report.phases:
        ET.SubElement(props, "property", name=f"phase.{phase.name}", value="; ".join(fault_lines(phase)) or "no faults")
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
    if report.findings or report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join((*report.findings, *report.notes))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write(report: RunReport, directory: Path) -> Path:
    path = Path(directory) / FILENAME
    path.write_bytes(to_xml(report))
    return path
