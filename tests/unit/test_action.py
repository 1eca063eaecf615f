"""The reusable Action (action.yml) and the workflows that use it.

Checked with actionlint, built from its Go module at a pinned version by `chaosctl setup --dev`
(`make setup`), with ShellCheck for the scripts. actionlint lints workflows, not action
metadata, so the composite action's steps are also linted as the steps of a workflow_call
workflow with the same inputs: their expressions, contexts and shell scripts get the same
checks. The structure of the gate (publish and upload always, fail last) is asserted here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from absent import component_missing
from ruamel.yaml import YAML

from chaosctl.settings import load_settings
from chaosctl.setup import pins
from chaosctl.stack.tools import find_tool

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
EXAMPLE = ROOT / "examples" / "github-actions" / "chaos-gate.yml"
SELF_WORKFLOW = ROOT / ".github" / "workflows" / "chaos-gate.yml"


def _load(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text())


def _steps() -> list[dict]:
    return _load(ACTION)["runs"]["steps"]


def _step(name_part: str) -> dict:
    return next(s for s in _steps() if name_part in s.get("name", ""))


@pytest.fixture(scope="module")
def actionlint() -> Path:
    settings = load_settings(create_secrets=False)
    path = find_tool("actionlint", settings)
    if path is None:
        component_missing(["actionlint"], "not built (chaosctl setup --dev; `make setup` runs it)", settings)
    version = subprocess.run([str(path), "-version"], capture_output=True, text=True).stdout.split()[0]
    assert version == pins.ACTIONLINT_VERSION, f"{path} is {version}, pinned {pins.ACTIONLINT_VERSION}"
    return path


def _lint(actionlint: Path, repo: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(actionlint), "-no-color", *map(str, files)], cwd=repo, capture_output=True, text=True, timeout=120)


def _repo_with(tmp_path: Path, workflow: dict | str) -> Path:
    """A git repository holding action.yml (so `uses: ./` resolves) and one workflow."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    wf = tmp_path / ".github" / "workflows" / "wf.yml"
    wf.parent.mkdir(parents=True)
    if isinstance(workflow, str):
        wf.write_text(workflow)
    else:
        with wf.open("w") as fh:
            YAML().dump(workflow, fh)
    return wf


def _action_as_workflow() -> dict:
    action = _load(ACTION)
    inputs = {name: {"type": "string", "required": bool(spec.get("required")),
                     **({"default": spec["default"]} if "default" in spec else {})}
              for name, spec in action["inputs"].items()}
    return {"name": "action-steps", "on": {"workflow_call": {"inputs": inputs}},
            "jobs": {"action": {"runs-on": "ubuntu-24.04", "steps": action["runs"]["steps"]}}}


def test_actionlint_passes_the_workflows(actionlint: Path) -> None:
    result = _lint(actionlint, ROOT, EXAMPLE, SELF_WORKFLOW)  # in this repository: `uses: ./` is action.yml
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_passes_the_action_steps_and_scripts(actionlint: Path, tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:  # without it actionlint skips the scripts
        component_missing(["shellcheck"], "not installed (chaosctl setup --dev: Debian package shellcheck)")
    wf = _repo_with(tmp_path, _action_as_workflow())
    result = _lint(actionlint, tmp_path, wf)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_wrong_input_and_a_wrong_step_id(actionlint: Path, tmp_path: Path) -> None:
    text = SELF_WORKFLOW.read_text().replace("artifact-name: chaos-reports-smoke", "artifact-name: x\n          scenarios: smoke")
    wf = _repo_with(tmp_path / "a", text)
    result = _lint(actionlint, tmp_path / "a", wf)
    assert result.returncode == 1 and 'input "scenarios" is not defined in action' in result.stdout, result.stdout
    broken = _action_as_workflow()
    broken["jobs"]["action"]["steps"][-1]["env"]["CODE"] = "${{ steps.runn.outputs.exit_code }}"
    wf = _repo_with(tmp_path / "b", broken)
    result = _lint(actionlint, tmp_path / "b", wf)
    assert result.returncode == 1 and "runn" in result.stdout, result.stdout


def test_the_action_takes_the_documented_inputs() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["scenario"]["required"] is True
    assert {"scenario", "system", "report-dir", "chaosctl-version"} <= set(action["inputs"])
    assert {"exit-code", "verdict"} <= set(action["outputs"])
    for step in _steps():
        assert "run" not in step or step.get("shell") == "bash", step.get("name")  # composite steps need a shell
        if "run" in step:
            assert "${{ inputs." not in step["run"], f"{step.get('name')}: inputs reach scripts through env only"


def test_the_action_installs_the_pinned_wheel_and_caches_the_tools() -> None:
    install = _step("Install chaosctl")["run"]
    assert 'chaosctl==$CHAOSCTL_VERSION' in install and "--require-hashes" in install and "pip wheel" in install
    cache = _step("Restore the built components")
    assert cache["uses"].startswith("actions/cache@v") and "CHAOSCTL_TOOLS_DIR" in cache["with"]["path"]
    go_cache = _step("Go's module and build caches")
    assert "gomodcache" in go_cache["with"]["path"] and "gocache" in go_cache["with"]["path"]
    assert "chaosctl setup" in _step("chaosctl setup")["run"]


def test_the_action_publishes_always_and_gates_last() -> None:
    steps = _steps()
    names = [s.get("name", "") for s in steps]
    junit = _step("JUnit")
    assert junit["uses"].startswith("mikepenz/action-junit-report@v") and junit["if"] == "always()"
    assert junit["with"]["report_paths"].endswith("/junit.xml")
    upload = _step("Upload the reports")
    assert upload["uses"].startswith("actions/upload-artifact@v") and upload["if"] == "always()"
    assert _step("Stop the reference stack")["if"].startswith("always()")
    assert "exit 0" in _step("Run the scenario")["run"]  # the run never fails the job before the publishing
    gate = steps[-1]
    assert names[-1] == "Gate on the verdict" and "exit 1" in gate["run"] and "steps.run.outputs.exit_code" in gate["env"]["CODE"]
    assert names.index("Upload the reports") < names.index("Gate on the verdict")


def test_every_action_used_is_pinned_to_a_version() -> None:
    used = [s["uses"] for s in _steps() if "uses" in s]
    for path in (EXAMPLE, SELF_WORKFLOW):
        for job in _load(path)["jobs"].values():
            used += [s["uses"] for s in job["steps"] if "uses" in s]
    for ref in used:
        assert ref == "./" or "@v" in ref, ref


def test_the_example_workflow_uses_the_action_at_a_pinned_version() -> None:
    (job,) = _load(EXAMPLE)["jobs"].values()
    gate = next(s for s in job["steps"] if s.get("uses", "").split("@")[0].endswith("/chaosctl"))
    assert gate["uses"].split("@")[1].startswith("v") and gate["with"]["scenario"]
    assert "report-dir" in gate["with"]
    (self_job,) = _load(SELF_WORKFLOW)["jobs"].values()
    assert any(s.get("uses") == "./" and s["with"]["scenario"] == "smoke" for s in self_job["steps"])
