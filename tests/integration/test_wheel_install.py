"""The wheel, not the checkout: built, installed into a fresh virtualenv in a temporary folder,
then used from a folder outside the repository with PYTHONPATH unset: `chaosctl setup` (quick:
the tools are already in the settable tools folder), `--version`, `scenarios`, `validate` of
every shipped scenario by name, `init`, and the short shipped scenario `smoke` run by name
against the reference stack that this install brings up: PASS.

Python packages are those `make setup` installed from the hash-locked requirements into the
checkout's venv, hard-linked into the new venv's site-packages (chaosctl's editable install left
out: nothing leads back to src/), and the wheel is installed with pip --no-deps on top; `pip check`
then says that the wheel's declared requirements are met. The test is about the wheel's content:
re-installing the same 127 locked packages took 77 s of its time on an idle machine (351 s at
load 35-40, against 3.2 s to link them at load 28-32) and tested pip, not chaosctl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from chaosctl.stack.tools import find_tool
from wheel_build import ROOT, build_wheel

pytestmark = pytest.mark.integration

OWN_OFFSET = 1600  # docs/contracts.md lists the offsets in use


def _is_chaosctl(name: str) -> bool:
    """The checkout's own editable install: its .pth points at src/, its dist-info names it."""
    return name.startswith("__editable__") or name.lower().startswith("chaosctl-")


def _link_locked_packages(venv: Path) -> None:
    """Hard-link (copy across file systems) this venv's installed packages into `venv`, chaosctl's left out."""
    here = Path(sysconfig.get_paths()["purelib"])
    there = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip())
    for entry in sorted(here.iterdir()):
        if _is_chaosctl(entry.name) or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            shutil.copytree(entry, there / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, there / entry.name)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def _venv_with_wheel(work: Path) -> Path:
    wheel = build_wheel(work / "build")
    venv = work / "venv"
    # No pip inside the new venv: this venv's pinned pip installs the wheel into it with --python.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    _link_locked_packages(venv)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-compile", str(wheel)], check=True, timeout=300)
    checked = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, f"the wheel's requirements are not met: {checked.stdout}{checked.stderr}"
    return venv


def _env(venv: Path, tools_dir: Path, settings) -> dict[str, str]:
    """The user's environment, less anything that could lead back to the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(ROOT))]
    env.update(PATH=os.pathsep.join([str(venv / "bin"), *path]), CHAOSCTL_TOOLS_DIR=str(tools_dir),
               CHAOSCTL_STATE_DIR=str(settings.state_dir), CHAOSCTL_PORT_BASE=str(settings.port_base))
    env.pop("CHAOSCTL_TOOL_DIRS", None)
    return env


def test_the_installed_wheel_runs_a_shipped_scenario_from_outside_the_checkout(tmp_path: Path, own_stack_settings) -> None:
    settings = own_stack_settings(OWN_OFFSET)  # skips (or fails under CHAOSCTL_REQUIRE) without the binaries
    tools_dir = find_tool("jaeger", settings).parent.parent  # where setup put them: .tools or CHAOSCTL_TOOLS_DIR
    venv = _venv_with_wheel(tmp_path)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = _env(venv, tools_dir, settings)

    def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "chaosctl"), *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import chaosctl; print(chaosctl.__file__)"],
                           cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), f"chaosctl imported from {where!r}, not from the installed wheel"

    started = time.monotonic()
    setup = cli("setup")
    took = time.monotonic() - started
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "toxiproxy-server: ok" in setup.stdout and "jaeger: ok" in setup.stdout, setup.stdout
    print(f"chaosctl setup (already done) took {took:.2f}s")

    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("chaosctl "), version.stderr
    assert "v2.13.0" in version.stdout and str(tools_dir) in version.stdout

    listed = cli("scenarios")
    names = [line.split()[0] for line in listed.stdout.splitlines() if line and not line.startswith(" ")]
    assert "smoke" in names and listed.returncode == 0, listed.stdout + listed.stderr
    checked = cli("validate", *names)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": ok") == len(names) and str(venv) in checked.stdout

    init = cli("init")
    assert init.returncode == 0 and cli("validate", "scenario.yaml", "system.yaml").returncode == 0, init.stderr

    try:
        up = cli("up", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        run = cli("run", "smoke", "--report-dir", "reports", timeout=600)
        report = json.loads((cwd / "reports" / "report.json").read_text())
        assert run.returncode == 0 and report["verdict"] == "pass", run.stdout[-3000:] + run.stderr[-3000:]
        assert {c["status"] for c in report["checks"]} == {"pass"} and (cwd / "reports" / "junit.xml").is_file()
    finally:
        down = cli("down", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
