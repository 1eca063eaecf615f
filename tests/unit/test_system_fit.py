"""`chaosctl validate` by kind, and scenarios checked against their System (targets, links, kinds)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from chaosctl.errors import ScenarioInvalid, SystemInvalid
from chaosctl.scenario.schema import json_schema as scenario_schema
from chaosctl.system.fit import load_scenario_for_system
from chaosctl.system.validate import validate_file

ROOT = Path(__file__).resolve().parents[2]
CHAOSCTL = ROOT / ".venv" / "bin" / "chaosctl"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

SYSTEM = """\
apiVersion: chaosctl/v1
kind: System
metadata: {name: shop}
observability:
  prometheus: {url: http://127.0.0.1:9090}
  jaeger: {url: http://127.0.0.1:16686}
slis: {preset: otel-http}
traces: {services: [checkout, payments]}
components:
  - {name: checkout, kind: process, match: 'uvicorn checkout', start: 'uvicorn checkout:app', url: 'http://127.0.0.1:8001'}
  - {name: worker, kind: process, pidfile: /run/worker.pid}
  - {name: db, kind: pod, namespace: shop, selector: {app: db}}
links:
  - {name: checkout->payments, listen: 127.0.0.1:18002, upstream: 127.0.0.1:8002}
"""

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: shop-chaos}
system: ./shop.system.yaml
load:
  users: 2
  spawn_rate: 2
  requests: [{model: fraud-detector}]
phases:
  - {name: baseline, duration: 10s}
  - name: fault
    duration: 10s
    faults:
      - {type: process-kill, target: checkout}
      - {type: latency, target: link:checkout->payments, latency: 100ms}
steady_state:
  - {name: up, probe: http, target: checkout}
traces:
  - {phase: fault, min_traces: 1, expect_bottleneck: {service: payments}}
"""


def _files(tmp_path: Path, scenario: str = SCENARIO, system: str = SYSTEM) -> Path:
    (tmp_path / "shop.system.yaml").write_text(system)
    path = tmp_path / "shop.yaml"
    path.write_text(scenario)
    return path


def _errors(path: Path, system: Path | None = None) -> list[str]:
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario_for_system(path, system)
    return info.value.messages


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_validate_against_the_default_reference_system(path: Path) -> None:
    assert validate_file(path) == "Scenario"
    scenario, system = load_scenario_for_system(path, port_base=36000)
    assert system.name == "reference" and system.observability.prometheus.url == "http://127.0.0.1:36050"
    assert scenario.system is None


def test_the_shipped_system_file_validates_by_kind() -> None:
    assert validate_file(ROOT / "systems" / "reference.system.yaml") == "System"


def test_a_scenario_on_its_own_system(tmp_path: Path) -> None:
    scenario, system = load_scenario_for_system(_files(tmp_path))
    assert scenario.system == "./shop.system.yaml" and system.name == "shop"
    assert [f.target for f in scenario.phases[1].faults] == ["checkout", "link:checkout->payments"]


@pytest.mark.parametrize(
    "old, new, where, words",
    [
        ("target: checkout}", "target: checkot}", ":14:38:", ["unknown target 'checkot'", "did you mean 'checkout'"]),
        ("target: link:checkout->payments", "target: link:checkout->payment", ":15:33:", ["did you mean 'link:checkout->payments'"]),
        ("target: checkout}", "target: worker}", ":14:38:", ["needs a way back", "`start`"]),
        ("{type: process-kill, target: checkout}", "{type: process-pause, target: db}", ":14:39:",
         ["process-pause cannot reach 'db': it is a pod component"]),
        ("probe: http, target: checkout}", "probe: http, target: worker}", ":17:37:", ["has no `url`"]),
        ("service: payments}", "service: paymnts}", ":19:", ["unknown service 'paymnts'"]),
        ("target: checkout}", "target: gateway}", ":14:38:", ["unknown target 'gateway'"]),  # not in this System
    ],
)
def test_targets_are_checked_against_the_system(tmp_path: Path, old: str, new: str, where: str, words: list[str]) -> None:
    assert old in SCENARIO
    messages = _errors(_files(tmp_path, SCENARIO.replace(old, new, 1)))
    hit = [m for m in messages if f"shop.yaml{where}" in m]
    assert hit, messages
    for word in words:
        assert word in hit[0], hit[0]


def test_a_missing_system_file_is_reported_at_the_field(tmp_path: Path) -> None:
    messages = _errors(_files(tmp_path, SCENARIO.replace("./shop.system.yaml", "./nope.system.yaml")))
    assert messages[0].startswith(f"{tmp_path / 'shop.yaml'}:4:9: system: no System file at")


def test_an_invalid_system_is_reported_in_its_own_file(tmp_path: Path) -> None:
    with pytest.raises(SystemInvalid) as info:
        load_scenario_for_system(_files(tmp_path, system=SYSTEM.replace("kind: pod", "kind: podd")))
    assert info.value.messages[0].startswith(f"{tmp_path / 'shop.system.yaml'}:12:")


def test_system_option_overrides_the_field(tmp_path: Path) -> None:
    path = _files(tmp_path)
    other = tmp_path / "other.system.yaml"
    other.write_text(SYSTEM.replace("name: checkout,", "name: front,").replace("name: shop}", "name: other}"))
    messages = _errors(path, other)
    assert any("unknown target 'checkout'" in m for m in messages), messages


def test_the_reference_system_refuses_a_target_it_lacks(tmp_path: Path) -> None:
    text = SCENARIO.replace("system: ./shop.system.yaml\n", "")
    messages = _errors(_files(tmp_path, text))
    assert any("unknown target 'checkout'" in m for m in messages), messages


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOSCTL), *args], capture_output=True, text=True, timeout=60)


def test_cli_validate_dispatches_on_kind(tmp_path: Path) -> None:
    path = _files(tmp_path)
    proc = _cli("validate", str(path), str(tmp_path / "shop.system.yaml"), str(SCENARIOS[0]))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{path}: ok", f"{tmp_path / 'shop.system.yaml'}: ok", f"{SCENARIOS[0]}: ok"]
    bad = _files(tmp_path, SCENARIO.replace("target: checkout}", "target: checkot}"))
    proc = _cli("validate", str(bad))
    assert proc.returncode == 2 and f"{bad}:14:38:" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_run_on_a_system_beyond_this_machine_needs_its_name_confirmed(tmp_path: Path) -> None:
    path = _files(tmp_path)
    proc = _cli("run", str(path), "--dry-run", "--state-dir", str(tmp_path / "state"))
    assert proc.returncode == 2, proc.stderr
    assert "System 'shop' reaches beyond this machine (component db: pods in namespace shop (a cluster))" in proc.stderr
    assert "--confirm shop" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "state" / "journal.jsonl").exists()
    wrong = _cli("run", str(path), "--dry-run", "--confirm", "shop2", "--state-dir", str(tmp_path / "state"))
    assert wrong.returncode == 2, wrong.stderr
    ok = _cli("run", str(path), "--dry-run", "--confirm", "shop", "--state-dir", str(tmp_path / "state"))
    assert ok.returncode == 0, ok.stderr


def test_cli_schema_kinds() -> None:
    default = _cli("schema")
    assert default.returncode == 0 and json.loads(default.stdout) == scenario_schema()  # unchanged default
    system = _cli("schema", "--kind", "system")
    assert system.returncode == 0 and json.loads(system.stdout)["$id"] == "urn:chaosctl:system:v1"
    assert json.loads(system.stdout) == json.loads((ROOT / "schemas" / "system-v1.json").read_text())
    assert _cli("schema", "--kind", "nope").returncode == 2


def test_run_takes_the_shipped_reference_system_at_its_own_port_base() -> None:
    from chaosctl.errors import UsageError
    from chaosctl.system.fit import runnable_system

    shipped = ROOT / "systems" / "reference.system.yaml"
    assert runnable_system(SCENARIOS[0], shipped, 17000).name == "reference"
    assert runnable_system(SCENARIOS[0], None, 36000).observability.prometheus.url == "http://127.0.0.1:36050"
    with pytest.raises(UsageError, match="its Prometheus is http://127.0.0.1:17050, the stack's is http://127.0.0.1:36050"):
        runnable_system(SCENARIOS[0], shipped, 36000)


def test_an_unknown_kind_is_named_with_a_guess(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(SYSTEM.replace("kind: System", "kind: Sytem"))
    with pytest.raises(ScenarioInvalid) as info:
        validate_file(path)
    assert info.value.messages == [f"{path}:2:7: kind: unknown kind 'Sytem' (did you mean 'System'?); chaosctl reads Scenario or System"]
