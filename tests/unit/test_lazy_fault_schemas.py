"""validate's lazy fault schemas (scenario/fault_base.py: lazy_fault_schemas): each fault kind's
validator built on its first use gives the same scenarios, dumps and error lines as the full
union, and builds only the kinds a file uses. The mode is process-wide, so it runs in a child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
SMOKE = (ROOT / "scenarios" / "smoke.yaml").read_text()
FAULT = "        direction: downstream\n"
# Broken faults of several kinds: an unknown and a missing type, unknown fields, bad values, a bad target.
BROKEN = {
    "unknown-type": SMOKE.replace("type: latency", "type: latenzy"),
    "not-offered": SMOKE.replace("type: latency", "type: packet-loss"),
    "no-type": SMOKE.replace("type: latency\n        ", ""),
    "not-a-mapping": SMOKE.replace("      - type: latency", "      - 5\n      - type: latency"),
    "many": SMOKE.replace(FAULT, FAULT + "      - {type: process-kill, target: gatewayx}\n"
                          "      - {type: gpu-exhaustion, target: model-gpu-1, memory: 195%}\n"
                          "      - {type: region-partition, region: mars}\n      - {type: request-abort, target: gateway, ratio: 2}\n"
                          "      - {type: canary-rollout}\n      - {type: jitter, target: link:gateway->model-gpu-1, jitter: soon}\n"),
    "schedule": SMOKE.replace("    faults:\n", "    schedule:\n      seed: 3\n      every: 5s\n      candidates:\n"
                              "        - {type: process-kill, targets: [gateway], duration: 2s}\n"
                              "        - {type: latncy, targets: [gateway], duration: 2s}\n    faults:\n"),
}  # fmt: skip

CHILD = r"""
import json, sys
from pathlib import Path
if sys.argv[1] == "lazy":
    from chaosctl.scenario.fault_base import lazy_fault_schemas
    lazy_fault_schemas()
from chaosctl.errors import ScenarioInvalid
from chaosctl.scenario.parse import load_scenario
out = {}
for path in sys.argv[2:]:
    try:
        s = load_scenario(path)
        out[Path(path).name] = [repr(s), s.model_dump(), s.model_dump(mode="json")]
    except ScenarioInvalid as exc:
        out[Path(path).name] = exc.messages
print(json.dumps(out, default=repr))
"""


def _child(mode: str, files: list[str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("lazy-faults")
    for name, text in BROKEN.items():
        (folder / f"{name}.yaml").write_text(text)
    return SCENARIOS + sorted(str(p) for p in folder.iterdir())


def test_lazy_kinds_give_the_same_scenarios_dumps_and_errors(files: list[str]) -> None:
    full, lazy = _child("full", files), _child("lazy", files)
    assert lazy == full
    assert sum(isinstance(v, list) and isinstance(v[0], str) and v[0].startswith("Scenario(") for v in full.values()) == len(SCENARIOS)
    assert any("unknown type 'latenzy'" in line for line in full["unknown-type.yaml"])  # the union's own message


PROBE = r"""
from chaosctl.scenario.fault_base import lazy_fault_schemas, FaultBase
lazy_fault_schemas()
from chaosctl.scenario.parse import load_scenario
from chaosctl.scenario.faults import FaultSpec
import typing
load_scenario("scenarios/smoke.yaml")
kinds = typing.get_args(typing.get_args(FaultSpec)[0])
print(sorted(k.__name__ for k in kinds if k.__pydantic_complete__))
"""


def test_only_the_kinds_a_file_uses_are_built() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "['Latency']"  # smoke.yaml has one latency fault


DIRECT = r"""
import warnings
warnings.simplefilter("error")
from chaosctl.scenario.fault_base import lazy_fault_schemas
lazy_fault_schemas()
from chaosctl.scenario.faults import Latency, ProcessKill
kw = {"type": "latency", "target": "link:gateway->model-gpu-1", "latency": "300ms"}
built, validated = Latency(**kw), Latency.model_validate(kw)
assert built == validated and built.target == kw["target"], (built, validated)
print(repr(ProcessKill(type="process-kill", target="gateway")))
"""


def test_a_kind_built_directly_in_lazy_mode_is_whole() -> None:
    # Code on the validate path may construct a fault itself; the lazy stub must not leave it empty.
    out = subprocess.run([sys.executable, "-c", DIRECT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "target='gateway'" in out.stdout


def test_a_scenario_with_its_own_system_is_checked_against_that_system_in_lazy_mode() -> None:
    # validate's short path runs in lazy mode; the faults' targets (lb->replica-1, replica-2) exist
    # only in the example's System, passed down as validation context, never the reference one.
    example = ROOT / "examples" / "third-party-mlserver" / "replica-chaos.yaml"
    out = subprocess.run([sys.executable, "-m", "chaosctl", "validate", str(example)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr) == (0, ""), out.stderr
