"""An observability backend lost in the middle of a run, on a stack of its own (port
base + 1400) so that the session stack is not disturbed: the run goes on to the end of
its phases, reverts, judges what it still can, fails the rest naming the backend,
writes every report and exits 3.

The module's stack is brought up once for both tests (each restarts what it killed and
leaves the stack clean: assert_clean); one `up` and `down` less than a stack per test."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _run_live import DATA, assert_clean, start_chaosctl, wait_serving
from conftest import PORT_BASE, module_stack, skip_unless_binaries, stack_settings

from chaosctl.stack.local import LocalBackend

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OWN_OFFSET = 1400
REPORTS = ("report.json", "junit.xml", "report.html", "report.md")


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory):
    settings = stack_settings(tmp_path_factory.mktemp("backend-lost-stack"), PORT_BASE + OWN_OFFSET)
    skip_unless_binaries(settings)
    with module_stack(settings) as backend:  # what a test restarts is the stack's, not the test's leak
        yield backend


def _wait_log(log: Path, text: str, proc, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"run exited {proc.returncode} before {text!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in time:\n{log.read_text()}"
        time.sleep(0.1)


def _run_losing(backend: LocalBackend, component: str, tmp_path: Path) -> tuple[int, str, dict]:
    wait_serving(backend.settings, backend.topology)
    log, out = tmp_path / f"lose-{component}.log", tmp_path / f"report-{component}"
    proc = start_chaosctl(backend.settings, "run", str(DATA / "run-backend-lost.yaml"), "--report-dir", str(out), log=log)
    try:
        _wait_log(log, "phase fault", proc)
        backend.kill(component)
        code = proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORTS), text
    return code, text, json.loads((out / "report.json").read_text())


def test_jaeger_killed_mid_run_slos_judged_traces_fail_naming_jaeger_exit_3(own_stack, tmp_path):
    port = own_stack.topology.url("jaeger").rsplit(":", 1)[1]
    try:
        code, text, report = _run_losing(own_stack, "jaeger", tmp_path)
        assert code == 3, text
        assert f"chaosctl: Jaeger at 127.0.0.1:{port} unreachable" in text
        assert "Traceback" not in text and "%2" not in text
        assert [p["name"] for p in report["phases"]] == ["baseline", "fault", "recovery"]
        slos = [c for c in report["checks"] if c["kind"] == "slo"]
        assert len(slos) == 4 and all("unreachable" not in c["reason"] for c in slos)
        assert all(c["observed"] not in ("", "no data", "not measured") for c in slos), slos
        traces = [c for c in report["checks"] if c["kind"] == "trace"]
        assert [c["status"] for c in traces] == ["fail"]
        assert traces[0]["reason"].startswith(f"Jaeger at 127.0.0.1:{port} unreachable")
        assert report["verdict"] == "fail" and report["interrupted"] is False
    finally:
        own_stack.start("jaeger")
    assert_clean(own_stack.settings, own_stack, own_stack.topology)


def test_prometheus_killed_mid_run_reaches_the_end_fails_slos_naming_prometheus_exit_3(own_stack, tmp_path):
    port = own_stack.topology.url("prometheus").rsplit(":", 1)[1]
    try:
        code, text, report = _run_losing(own_stack, "prometheus", tmp_path)
        assert code == 3, text
        assert f"chaosctl: Prometheus at 127.0.0.1:{port} unreachable" in text
        assert "Traceback" not in text and "%2" not in text and "query=" not in text
        assert [p["name"] for p in report["phases"]] == ["baseline", "fault", "recovery"]
        slos = [c for c in report["checks"] if c["kind"] == "slo"]
        assert len(slos) == 4 and all(c["status"] == "fail" and f"127.0.0.1:{port}" in c["reason"] for c in slos)
        traces = [c for c in report["checks"] if c["kind"] == "trace"]
        assert [c["status"] for c in traces] == ["pass"], traces  # Jaeger still judged
        assert report["verdict"] == "fail"
    finally:
        own_stack.start("prometheus")
    assert_clean(own_stack.settings, own_stack, own_stack.topology)
