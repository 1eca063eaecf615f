"""`chaosctl validate` by __main__'s short path: the same output and exit codes as the typer
command in cli.py, without importing typer (issue 14 part 5: validate at most 1.0x `chaos validate`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaosctl.__main__ import ValidateArgs, parse_validate

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
BAD = """apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: bad}
load: {users: nope}
phases: []
"""
NOT_A_KIND = "apiVersion: chaosctl/v1\nkind: Scenaro\n"


def _run(module: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "CHAOSCTL_PORT_BASE": "17000"}
    env = {k: v for k, v in env.items() if not k.endswith("_COMPLETE")}
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("fast-validate")
    (folder / "bad.yaml").write_text(BAD)
    (folder / "kind.yaml").write_text(NOT_A_KIND)
    return {"smoke": str(SMOKE), "bad": str(folder / "bad.yaml"), "kind": str(folder / "kind.yaml"),
            "missing": str(folder / "missing.yaml")}


@pytest.mark.parametrize(("args", "code"), [
    (["validate", "{smoke}"], 0),
    (["validate", "smoke"], 0),  # a shipped scenario's name
    (["validate", "{smoke}", "--port-base", "30000"], 0),
    (["validate", "{bad}", "{smoke}"], 2),  # every error at FILE:LINE:COL, then the summary
    (["validate", "{kind}"], 2),
    (["validate", "{missing}"], 2),
    (["validate", "--system={missing}", "{smoke}"], 2),
    (["validate", "--port-base", "80", "{smoke}"], 2),  # a bad setting: `chaosctl: ...`, exit 2
])  # fmt: skip
def test_the_short_path_says_what_the_typer_command_says(files: dict[str, str], args: list[str], code: int) -> None:
    args = [a.format(**files) for a in args]
    assert parse_validate(args) is not None  # these do take the short path
    fast, typer_path = _run("chaosctl", *args), _run("chaosctl.cli", *args)
    assert fast == typer_path
    assert fast[0] == code
    if code == 2:
        assert "Traceback" not in fast[2] and "chaosctl: " in fast[2]


def test_an_invalid_file_is_named_at_its_line_and_column(files: dict[str, str]) -> None:
    code, out, err = _run("chaosctl", "validate", files["bad"])
    assert code == 2 and out == ""
    assert f"{files['bad']}:4:15: load.users:" in err


@pytest.mark.parametrize("args", [
    [], ["--help"], ["validate"], ["validate", "--help"], ["validate", "-h"], ["validate", "a.yaml", "--port-base"],
    ["validate", "a.yaml", "--port-base", "0x10"], ["validate", "a.yaml", "--port-base", "+17000"], ["validate", "--", "a.yaml"],
    ["validate", "a.yaml", "--system", "x", "--system", "y"], ["validate", "a.yaml", "--bogus"], ["validate", ""],
    ["run", "a.yaml"], ["validate", "-"],
])  # fmt: skip
def test_anything_but_a_plain_validate_goes_to_typer(args: list[str]) -> None:
    assert parse_validate(args) is None


def test_the_parsed_arguments() -> None:
    got = parse_validate(["validate", "a.yaml", "--system=s.yaml", "b.yaml", "--port-base", "20000"])
    assert got == ValidateArgs([Path("a.yaml"), Path("b.yaml")], Path("s.yaml"), 20000)


def test_usage_errors_still_come_from_typer() -> None:
    fast, typer_path = _run("chaosctl", "validate", "--bogus"), _run("chaosctl.cli", "validate", "--bogus")
    assert fast[2] == typer_path[2].replace("chaosctl.cli", "chaosctl")  # typer names the program as it was started
    assert fast[0] == typer_path[0] == 2 and "No such option: --bogus" in fast[2]


def test_validate_imports_neither_typer_nor_the_heavy_modules() -> None:
    probe = (
        "import atexit, os, runpy, sys, threading\n"
        "def _exit(code):\n    raise SystemExit(code)\n"
        "os._exit = _exit  # the short path leaves by os._exit (no teardown): seen here as SystemExit\n"
        f"sys.argv = ['chaosctl', 'validate', {str(SMOKE)!r}]\n"
        "try:\n    runpy.run_module('chaosctl', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "# os._exit skips atexit work and does not wait for threads: the path must have neither\n"
        "assert atexit._ncallbacks() == 0 and threading.active_count() == 1, (atexit._ncallbacks(), threading.enumerate())\n"
        "heavy = ('typer', 'click', 'rich', 'httpx', 'importlib.metadata', 'chaosctl.cli', 'chaosctl.stack.display', 'locust', 'docker',\n"
        "         'nodesemver', 'importlib.resources', 'chaosctl.stack.factory', 'chaosctl.stack.backend',\n"
        "         'chaosctl.system.model',  # the reference System is checked on its facts (system/facts.py)\n"
        "         'chaosctl.services.telemetry', 'logging')  # the latency buckets: services/buckets.py\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "CHAOSCTL_PORT_BASE": "17000"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
