"""CHAOSCTL_REQUIRE: CI cannot pass by skipping.

A missing component (a fake: PATH and the tool dirs point at an empty folder, nothing is
uninstalled) skips a test without CHAOSCTL_REQUIRE and fails it with; a platform skip stays
a skip either way; the summary groups skips by reason; `chaosctl doctor` requires what
CHAOSCTL_REQUIRE names and lists an absent platform as "cannot run here".
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from absent import component_missing
from rich.console import Console

from chaosctl.cli import exit_code_for
from chaosctl.errors import StackUnavailable, UsageError
from chaosctl.settings import REQUIRABLE, Settings, parse_require

TESTS = Path(__file__).resolve().parents[1]

INNER_TEST = '''
import importlib.util
import sys
import pytest
from chaosctl.settings import load_settings

# The real tests/integration/conftest.py, under another name (this folder has its own conftest).
spec = importlib.util.spec_from_file_location("integration_conftest", {integration!r})
integration = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(integration)


def test_needs_the_stack_binaries(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("CHAOSCTL_TOOL_DIRS", str(empty))
    settings = load_settings(state_dir=tmp_path / "state")  # as the `stack` fixture builds them
    settings = type(settings)(**{{**settings.__dict__, "tool_dirs": (empty,)}})  # not the checkout's .tools/bin
    integration.skip_unless_binaries(settings)


def test_needs_a_docker_engine():
    pytest.skip("docker backend e2e needs a Docker engine: none answers here")
'''


def _inner_run(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    """A real pytest run of two tests: a missing-binaries one and a platform one."""
    work = tmp_path / ("require-" + (require or "unset"))
    work.mkdir()
    (work / "conftest.py").write_text((TESTS / "conftest.py").read_text())  # the real summary hook
    (work / "test_inner.py").write_text(INNER_TEST.format(integration=str(TESTS / "integration" / "conftest.py")))
    # the outer run's pytest options (e.g. --basetemp) must not reach the inner run
    env = {k: v for k, v in os.environ.items() if k not in ("CHAOSCTL_REQUIRE", "PYTEST_ADDOPTS")}
    if require is not None:
        env["CHAOSCTL_REQUIRE"] = require
    # the integration conftest imports its helper modules (_gateway_live) from its own folder
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS / "integration"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-ra", "-p", "no:cacheprovider", "--rootdir", str(work), str(work)],
        capture_output=True, text=True, cwd=work, env=env, timeout=120,
    )  # fmt: skip


def _counts(out: str) -> dict[str, int]:
    last = out.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", last)}


def test_with_require_a_missing_binary_fails_instead_of_skipping(tmp_path: Path) -> None:
    done = _inner_run(tmp_path, "all")
    out = done.stdout
    assert done.returncode == 1, out
    assert _counts(out) == {"failed": 1, "skipped": 1}, out
    assert re.search(r"FAILED \S*test_needs_the_stack_binaries - Failed: component missi", out)  # -ra cuts it
    assert "component missing: etcd, etcdctl, prometheus" in out
    assert "CHAOSCTL_REQUIRE requires etcd, etcdctl, prometheus" in out
    # the platform skip stays a skip, listed with its reason under its own heading
    section = out.split("skipped because the platform is absent", 1)[1]
    assert "1 test(s): docker backend e2e needs a Docker engine: none answers here" in section
    assert "test_inner.py::test_needs_a_docker_engine" in section
    assert "skipped because a component is missing" not in out


def test_without_require_a_missing_binary_skips_and_is_listed(tmp_path: Path) -> None:
    done = _inner_run(tmp_path, None)
    out = done.stdout
    assert done.returncode == 0, out
    assert _counts(out) == {"skipped": 2}, out
    component = out.split("skipped because a component is missing", 1)[1]
    assert re.search(r"1 test\(s\): component missing: etcd, etcdctl, prometheus\S*.* binaries not found", component)
    assert "test_inner.py::test_needs_the_stack_binaries" in component
    platform = out.split("skipped because the platform is absent", 1)[1].split("skipped because a component", 1)[0]
    assert "test_needs_a_docker_engine" in platform and "test_needs_the_stack_binaries" not in platform


def test_component_missing_fails_only_for_what_require_names() -> None:
    with pytest.raises(pytest.fail.Exception, match="component missing: chromium: not here; CHAOSCTL_REQUIRE"):
        component_missing(["chromium"], "not here", Settings(require=frozenset({"chromium"})))
    with pytest.raises(pytest.skip.Exception, match="component missing: chromium: not here$"):
        component_missing(["chromium"], "not here", Settings(require=frozenset({"etcd"})))
    # binary names map to components: toxiproxy-server is "toxiproxy"
    with pytest.raises(pytest.fail.Exception, match="requires toxiproxy-server"):
        component_missing(["jaeger", "toxiproxy-server"], "x", Settings(require=frozenset({"toxiproxy"})))


def test_require_values() -> None:
    assert parse_require("") == frozenset() and parse_require(" , ") == frozenset()
    assert parse_require("all") == parse_require("ALL, etcd") == frozenset(REQUIRABLE)
    assert parse_require("etcd, toxiproxy-server,chromium") == {"etcd", "toxiproxy", "chromium"}
    with pytest.raises(UsageError, match=r"CHAOSCTL_REQUIRE='etcd,docker': unknown component docker \(expected") as err:
        parse_require("etcd,docker")  # a platform is not requirable: nothing installs it
    assert exit_code_for(err.value) == 2


def test_doctor_requires_what_require_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosctl.stack.doctor import BINARIES, check_binary

    monkeypatch.setenv("PATH", str(tmp_path))  # empty: chromium is not found
    chromium = next(t for t in BINARIES if t.name == "chromium")
    assert check_binary(chromium, Settings(tool_dirs=(tmp_path,))).required is False
    finding = check_binary(chromium, Settings(tool_dirs=(tmp_path,), require=frozenset({"chromium"})))
    assert (finding.found, finding.required) == (False, True)


def test_doctor_lists_an_absent_platform_as_cannot_run_here(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosctl.stack import doctor

    findings = [
        doctor.Finding("docker engine", False, False, "no Docker engine answers at unix:///x [x]", "-", "h", True),
        doctor.Finding("CUDA device", False, False, "libcudart not found", "-", "h", platform=True),
        doctor.Finding("grafana-server", False, False, "not found", "-", "apt-get install grafana"),
    ]
    out = io.StringIO()
    doctor.render(findings, Console(file=out, width=250, color_system=None))
    text = out.getvalue()
    assert "cannot run here: no Docker engine answers at unix:///x [x]" in text  # markup in a reason is text
    assert "cannot run here: libcudart not found" in text
    assert "missing (optional)" in text and "cannot run here: not found" not in text


def test_doctor_checks_the_platform_for_real() -> None:
    """Whatever this machine has, the docker and CUDA rows are platform rows with a reason."""
    from chaosctl.stack import doctor

    for finding in (doctor.check_docker(), doctor.check_cuda()):
        assert finding.platform and not finding.required
        assert finding.found or finding.where  # absent always says why


def test_doctor_still_exits_3_naming_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosctl.stack.doctor import run_doctor

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackUnavailable, match=r"required components missing: .*jaeger, chromium") as err:
        run_doctor(Settings(tool_dirs=(tmp_path,), require=frozenset({"chromium"})))
    assert exit_code_for(err.value) == 3


def test_a_bad_require_value_is_exit_2_naming_it(tmp_path: Path) -> None:
    chaosctl = Path(sys.executable).with_name("chaosctl")
    env = {**os.environ, "CHAOSCTL_REQUIRE": "etcd,gpu", "CHAOSCTL_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([str(chaosctl), "doctor"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "CHAOSCTL_REQUIRE='etcd,gpu': unknown component gpu" in done.stderr
    assert "Traceback" not in done.stderr
