"""The GitHub Actions example gates on the verdict and always publishes the reports."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "github-actions" / "chaos-gate.yml"


def _steps() -> list[dict]:
    data = YAML(typ="safe", pure=True).load(WORKFLOW.read_text())
    (job,) = data["jobs"].values()
    return job["steps"]


def _step(name_part: str) -> dict:
    return next(s for s in _steps() if name_part in s.get("name", ""))


def test_installs_with_make_setup_and_brings_the_stack_up():
    assert "make setup" in _step("Install")["run"]
    assert "chaosctl up" in _step("Bring the stack up")["run"]


def test_runs_a_shipped_scenario_into_a_report_dir():
    data = YAML(typ="safe", pure=True).load(WORKFLOW.read_text())
    (job,) = data["jobs"].values()
    scenario = job["env"]["SCENARIO"].split("'")[1]
    assert (ROOT / scenario).name == "registry-node-loss.yaml"
    assert 'chaosctl run "$SCENARIO" --report-dir "$REPORT_DIR"' in _step("Run the scenario")["run"]


def test_uploads_junit_and_html_even_on_failure():
    upload = _step("Upload the reports")
    assert upload["if"] == "always()" and upload["uses"].startswith("actions/upload-artifact@v")
    assert "junit.xml" in upload["with"]["path"] and "report.html" in upload["with"]["path"]
    assert _step("Stop the stack")["if"] == "always()"


def test_the_last_step_fails_the_job_on_a_failed_verdict():
    steps = _steps()
    gate = steps[-1]
    assert "steps.run.outputs.exit_code" in gate["run"] and "exit 1" in gate["run"]
    names = [s.get("name", "") for s in steps]
    assert names.index("Upload the reports") < names.index("Gate on the verdict")


def test_every_action_is_pinned_to_a_major_version():
    for step in _steps():
        if "uses" in step:
            assert "@v" in step["uses"], step["uses"]
